# Blocklists from the Wayback Machine: one CDX query per configured list URL (a checkpoint:
# its answer decides the snapshots), one download + parse job per snapshot, and one QC job
# per list that compares each snapshot's entry count with its neighbours'.


checkpoint blocklist_cdx:
    input:
        settings=checkpoint_settings("blocklist_snapshot", "blocklist_check"),
    output:
        manifest="data/processed/manifests/blocklists/{blist}/cdx{n}.csv",
        qc="data/processed/qc/blocklist_cdx/{blist}/{n}.json",
    log:
        "logs/blocklists/{blist}/cdx{n}.log",
    localrule: True
    resources:
        **rule_resources("blocklist_cdx"),
    params:
        cfg=job_config("blocklists.lists", "sources.wayback", "period", "synthetic"),
    run:
        jobs.blocklist_cdx(
            list_name=wildcards.blist,
            url_index=int(wildcards.n),
            manifest_out=output.manifest,
            qc_out=output.qc,
            config=transfer_config(params.cfg),
            log=log[0],
        )


rule blocklist_snapshot:
    input:
        manifests=blocklist_cdx_manifests,
    output:
        entries="data/processed/blocklists/{blist}/{snapshot}.parquet",
        qc="data/processed/qc/blocklists/{blist}/{snapshot}.json",
    log:
        "logs/blocklists/{blist}/{snapshot}.log",
    localrule: True
    resources:
        **rule_resources("blocklist_snapshot"),
    params:
        cfg=settings_config("blocklist_snapshot"),
    run:
        jobs.blocklist_snapshot(
            manifests=input.manifests,
            snapshot_id=wildcards.snapshot,
            entries_out=output.entries,
            qc_out=output.qc,
            config=transfer_config(params.cfg),
            log=log[0],
        )


rule blocklist_check:
    input:
        manifests=blocklist_cdx_manifests,
        entries=blocklist_snapshot_entries,
        qc=blocklist_snapshot_qc,
    output:
        snapshots="data/processed/blocklist_snapshots/{blist}.parquet",
        entries="data/processed/blocklist_entries/{blist}.parquet",
        qc="data/processed/qc/blocklist_snapshots/{blist}.json",
    log:
        "logs/blocklists/{blist}/check.log",
    resources:
        **rule_resources("blocklist_check"),
    params:
        cfg=settings_config("blocklist_check"),
    run:
        jobs.blocklist_check(
            list_name=wildcards.blist,
            manifests=input.manifests,
            entries=input.entries,
            qc_paths=input.qc,
            snapshots_out=output.snapshots,
            entries_out=output.entries,
            qc_out=output.qc,
            config=params.cfg,
            log=log[0],
        )
