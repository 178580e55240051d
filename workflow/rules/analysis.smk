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
        blocklist_cdx_qc,
        blocklist_all_snapshot_qc,
        blocklist_list_qc,
        spam_qc,
        delegated_qc,
    output:
        "data/processed/qc_files.parquet",
    log:
        "logs/analysis/qc_files.log",
    run:
        jobs.gather_qc(input, output[0], config)


rule blocklist_attribution:
    input:
        entries=blocklist_entries_tables,
        episodes="data/processed/prefix_origin.parquet",
    output:
        "data/processed/blocklist_attribution.parquet",
    log:
        "logs/blocklists/attribution.log",
    run:
        jobs.attribute_blocklists(
            input.entries, input.episodes, output[0], config, log[0]
        )


rule sql_result:
    input:
        views=ANALYSIS / "views.sql",
        query=ANALYSIS / "{name}.sql",
        tables=view_tables,
    output:
        "results/tables/{name}.csv",
    log:
        "logs/analysis/{name}.log",
    wildcard_constraints:
        name="|".join(SQL_RESULTS),
    run:
        jobs.sql_table(input.views, input.query, output[0], config)
