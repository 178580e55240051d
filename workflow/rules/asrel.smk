# CAIDA AS relationships (serial-1): one job per monthly file.


rule as_relationships:
    input:
        as_relationships_raw,
    output:
        table="data/processed/as_relationships/{month}.parquet",
        qc="data/processed/qc/as_relationships/{month}.json",
    log:
        "logs/as_relationships/{month}.log",
    resources:
        **rule_resources("as_relationships"),
    params:
        cfg=job_config(*QC_FILE, "synthetic"),
    run:
        jobs.normalize_as_relationships(
            raw=input[0],
            out=output.table,
            qc_out=output.qc,
            config=params.cfg,
            log=log[0],
        )
