# Routing tables: month listings name the dumps and update files (a checkpoint each); one
# normalize job per raw MRT file. The normalize job is a shell job: the MRT parser holds the
# Python lock while it parses, so a thread per job would leave a core idle.


checkpoint routing_listing:
    input:
        routing_listing_page,
    output:
        "data/processed/manifests/routing/{listing}.csv",
    log:
        "logs/routing/listing_{listing}.log",
    wildcard_constraints:
        listing=r"[A-Za-z0-9.-]+_(rib|updates|all)_\d{4}\.\d{2}",
    resources:
        **rule_resources("routing_listing"),
    params:
        cfg=job_config(
            "routing.rib_hour",
            "routing.rib_every_days",
            "routing.update_window_hours",
            "routing.allow_missing_files",
            "sources.routeviews",
            "sources.ripe_ris",
            "events",
            "windows",
            "period",
            "profile",
            "profiles",
        ),
    run:
        jobs.routing_listing(
            listing_id=wildcards.listing,
            page=input[0],
            out=Path(output[0]),
            config=params.cfg,
            log=log[0],
        )


# RIB days without a dump, over every listing: a QC gap record; past
# qc.max_missing_share the run stops with the list.
rule routing_gaps:
    input:
        manifests=[
            f"data/processed/manifests/routing/{x.id}.csv"
            for x in routing_sources.listings(config)
        ],
    output:
        "data/processed/qc/gaps/routing.json",
    log:
        "logs/routing/gaps.log",
    resources:
        **rule_resources("routing_gaps"),
    params:
        cfg=job_config(
            "qc.max_missing_share",
            "routing.rib_every_days",
            "sources.routeviews.collectors",
            "sources.ripe_ris",
            "events",
            "windows",
            "period",
            "profile",
            "profiles",
        ),
    run:
        jobs.routing_gaps(
            selections=input.manifests, out=output[0], config=params.cfg, log=log[0]
        )


rule routing_normalize:
    input:
        raw=routing_raw_for_file,
        prefix_origin="data/processed/prefix_origin.parquet",
    output:
        table="data/processed/routing/{collector}/{file}.parquet",
        peers="data/processed/routing_peers/{collector}/{file}.parquet",
        qc="data/processed/qc/routing/{collector}/{file}.json",
    log:
        "logs/routing/{collector}/{file}.log",
    wildcard_constraints:
        collector=r"[A-Za-z0-9.-]+",
        file=r"(rib|bview|updates)\.\d{8}\.\d{4}\.(bz2|gz)",
    conda:
        "../envs/takedowns.yaml"
    threads: JOB_COSTS["routing_normalize"].threads
    resources:
        **rule_resources("routing_normalize"),
    params:
        python=sys.executable,
        cfg=routing_job_config,
        source=routing_source_name,
    shell:
        "{params.python:q} -m takedowns.routing.mrt {input.raw:q} --out {output.table:q}"
        " --peers {output.peers:q} --qc {output.qc:q} --collector {wildcards.collector}"
        " --source-file {params.source:q} --prefix-origin {input.prefix_origin:q}"
        " --checksums data/raw/SHA256SUMS --config-json {params.cfg:q} --log {log:q}"
