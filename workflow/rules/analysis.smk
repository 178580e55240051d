# Analysis: study tables from the config, QC gathered, and DuckDB SQL over the Parquet.


rule watched_asns:
    output:
        "data/processed/watched_asns.parquet",
    log:
        "logs/analysis/watched_asns.log",
    run:
        jobs.watched_asns(output[0], config)


rule qc_files:
    input:
        prefix2as_daily_qc,
        as_relationships_qc,
    output:
        "data/processed/qc_files.parquet",
    log:
        "logs/analysis/qc_files.log",
    run:
        jobs.gather_qc(input, output[0], config)


rule address_space_daily:
    input:
        views=ANALYSIS / "views.sql",
        query=ANALYSIS / "address_space_daily.sql",
        tables=[
            "data/processed/watched_asns.parquet",
            "data/processed/prefix_origin.parquet",
            "data/processed/prefix2as_snapshots.parquet",
            "data/processed/qc_files.parquet",
        ],
        as_relationships=as_relationships_outputs,
    output:
        report(
            "results/tables/address_space_daily.csv",
            caption="../report/address_space_daily.rst",
            category="Routing",
        ),
    log:
        "logs/analysis/address_space_daily.log",
    run:
        jobs.sql_table(input.views, input.query, output[0], config)
