# CAIDA RouteViews prefix-to-AS: the creation log names the daily files; one job
# normalizes each; the episodes rule folds them into prefix_origin.


checkpoint prefix2as_manifest:
    input:
        raw_path(prefix2as_creation_log_url(config)),
        settings=checkpoint_settings("prefix2as_day", "prefix_origin"),
    output:
        "data/processed/manifests/prefix2as_files.csv",
        gaps="data/processed/qc/gaps_found/prefix2as.json",
    log:
        "logs/prefix2as/manifest.log",
    resources:
        **rule_resources("prefix2as_manifest"),
    params:
        cfg=job_config(
            "sources.caida_prefix2as",
            "period",
            "profile",
            "profiles",
            "windows",
            "events",
        ),
    run:
        jobs.prefix2as_manifest(
            creation_log=input[0],
            out=Path(output[0]),
            config=params.cfg,
            log=log[0],
            gaps_out=Path(output.gaps),
        )


rule prefix2as_day:
    input:
        raw=prefix2as_raw_for_day,
    output:
        table="data/processed/prefix2as/daily/{day}.parquet",
        qc="data/processed/qc/prefix2as/{day}.json",
    log:
        "logs/prefix2as/{day}.log",
    resources:
        **rule_resources("prefix2as_day"),
    params:
        cfg=settings_config("prefix2as_day"),
    run:
        jobs.normalize_prefix2as_day(
            raw=input.raw,
            out=output.table,
            qc_out=output.qc,
            config=params.cfg,
            log=log[0],
        )


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
    resources:
        **rule_resources("prefix_origin"),
    params:
        cfg=settings_config("prefix_origin"),
    run:
        jobs.prefix_origin_episodes(
            daily=input.daily,
            qc_paths=input.qc,
            manifest=input.manifest,
            out=output.episodes,
            snapshots_out=output.snapshots,
            config=params.cfg,
            log=log[0],
        )


# The selected days without a pfx2as table: past qc.max_missing_share the run stops with the
# list (a rule of its own, so that changing the threshold reruns only this check).
rule prefix2as_gaps:
    input:
        "data/processed/qc/gaps_found/prefix2as.json",
    output:
        "data/processed/qc/gaps/prefix2as.json",
    log:
        "logs/prefix2as/gaps.log",
    resources:
        **rule_resources("prefix2as_gaps"),
    params:
        cfg=job_config("qc.max_missing_share"),
    run:
        jobs.check_gaps(record=input[0], out=output[0], config=params.cfg, log=log[0])
