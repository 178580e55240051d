# The spam trap: one job per yearly archive, streamed; registry delegations per month;
# relays attributed to origin AS and country as of their day.


rule spam_messages:
    input:
        spam_raw,
    output:
        table="data/processed/spam_messages/{year}.parquet",
        qc="data/processed/qc/spamtrap/{year}.json",
        exchangers="data/processed/spam_exchangers/{year}.parquet",
    log:
        "logs/spamtrap/{year}.log",
    wildcard_constraints:
        year=r"\d{4}",
    resources:
        **rule_resources("spam_messages"),
    params:
        cfg=job_config("spamtrap", *QC_FILE, "synthetic"),
    run:
        jobs.normalize_spam_archive(
            raw=input[0],
            out=output.table,
            qc_out=output.qc,
            config=params.cfg,
            log=log[0],
            exchangers_out=output.exchangers,
        )


# Finds its file in the registry's directory listings (the one nearest the 1st of the month)
# and downloads it: a registry month without one is QC 'missing' (an empty table), and
# ip_country lists such months as gaps.
rule delegated_file:
    output:
        table="data/processed/delegations/{registry}/{month}.parquet",
        qc="data/processed/qc/delegations/{registry}/{month}.json",
    log:
        "logs/delegations/{registry}/{month}.log",
    wildcard_constraints:
        registry=r"[a-z]+",
    localrule: True
    resources:
        **rule_resources("delegated_file"),
    params:
        cfg=job_config(
            *QC_FILE,
            "sources.rir_delegated.directories",
            "sources.rir_delegated.max_age_days",
            "synthetic",
        ),
    run:
        jobs.delegated_month(
            registry=wildcards.registry,
            month=wildcards.month,
            out=output.table,
            qc_out=output.qc,
            config=transfer_config(params.cfg),
            log=log[0],
        )


rule ip_country:
    input:
        tables=delegated_outputs,
        qc=delegated_qc,
    output:
        "data/processed/ip_country.parquet",
        gaps="data/processed/qc/gaps_found/delegations.json",
    log:
        "logs/delegations/ip_country.log",
    resources:
        **rule_resources("ip_country"),
    params:
        cfg=job_config(
            "qc.allow_partial_files",
            "sources.rir_delegated.max_age_days",
            "synthetic",
        ),
    run:
        jobs.ip_country(
            tables=input.tables,
            qc_paths=input.qc,
            out=output[0],
            config=params.cfg,
            log=log[0],
            gaps_out=Path(output.gaps),
        )


rule spam_attributed:
    input:
        messages="data/processed/spam_messages/{year}.parquet",
        qc="data/processed/qc/spamtrap/{year}.json",
        episodes="data/processed/prefix_origin.parquet",
        ip_country="data/processed/ip_country.parquet",
    output:
        "data/processed/spam_attributed/{year}.parquet",
    log:
        "logs/spamtrap/attributed_{year}.log",
    wildcard_constraints:
        year=r"\d{4}",
    resources:
        **rule_resources("spam_attributed"),
    params:
        cfg=job_config("qc.allow_partial_files", "synthetic"),
    run:
        jobs.attribute_spam(
            messages=input.messages,
            qc_path=input.qc,
            episodes=input.episodes,
            ip_country=input.ip_country,
            out=output[0],
            config=params.cfg,
            log=log[0],
        )


# Registry months without a delegation file: past qc.max_missing_share the run stops with the
# list (a rule of its own, so that changing the threshold reruns only this check).
rule delegations_gaps:
    input:
        "data/processed/qc/gaps_found/delegations.json",
    output:
        "data/processed/qc/gaps/delegations.json",
    log:
        "logs/delegations/gaps.log",
    resources:
        **rule_resources("delegations_gaps"),
    params:
        cfg=job_config("qc.max_missing_share"),
    run:
        jobs.check_gaps(record=input[0], out=output[0], config=params.cfg, log=log[0])
