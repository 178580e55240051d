# CAIDA RouteViews prefix-to-AS: the creation log names the daily files; one job
# normalizes each; the episodes rule folds them into prefix_origin.


checkpoint prefix2as_manifest:
    input:
        raw_path(prefix2as_creation_log_url(config)),
    output:
        "data/processed/manifests/prefix2as_files.csv",
    log:
        "logs/prefix2as/manifest.log",
    run:
        jobs.prefix2as_manifest(input[0], Path(output[0]), config, log[0])


rule prefix2as_day:
    input:
        prefix2as_raw_for_day,
    output:
        table="data/processed/prefix2as/daily/{day}.parquet",
        qc="data/processed/qc/prefix2as/{day}.json",
    log:
        "logs/prefix2as/{day}.log",
    run:
        jobs.normalize_prefix2as_day(input[0], output.table, output.qc, config, log[0])


rule prefix_origin:
    input:
        daily=prefix2as_daily_outputs,
        qc=prefix2as_daily_qc,
        manifest="data/processed/manifests/prefix2as_files.csv",
    output:
        episodes="data/processed/prefix_origin.parquet",
        snapshots="data/processed/prefix2as_snapshots.parquet",
    log:
        "logs/prefix2as/prefix_origin.log",
    run:
        jobs.prefix_origin_episodes(
            input.daily,
            input.qc,
            input.manifest,
            output.episodes,
            output.snapshots,
            config,
            log[0],
        )
