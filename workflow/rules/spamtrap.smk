# The spam trap: one job per yearly archive, streamed; registry delegations per month;
# relays attributed to origin AS and country as of their day.


rule spam_messages:
    input:
        spam_raw,
    output:
        table="data/processed/spam_messages/{year}.parquet",
        qc="data/processed/qc/spamtrap/{year}.json",
    log:
        "logs/spamtrap/{year}.log",
    wildcard_constraints:
        year=r"\d{4}",
    resources:
        mem_mb=1500,
    run:
        jobs.normalize_spam_archive(input[0], output.table, output.qc, config, log[0])


rule delegated_file:
    input:
        delegated_raw,
    output:
        table="data/processed/delegations/{registry}/{month}.parquet",
        qc="data/processed/qc/delegations/{registry}/{month}.json",
    log:
        "logs/delegations/{registry}/{month}.log",
    wildcard_constraints:
        registry=r"[a-z]+",
    run:
        jobs.normalize_delegated(input[0], output.table, output.qc, config, log[0])


rule ip_country:
    input:
        tables=delegated_outputs,
        qc=delegated_qc,
    output:
        "data/processed/ip_country.parquet",
    log:
        "logs/delegations/ip_country.log",
    run:
        jobs.ip_country(input.tables, input.qc, output[0], config, log[0])


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
    run:
        jobs.attribute_spam(
            input.messages,
            input.qc,
            input.episodes,
            input.ip_country,
            output[0],
            config,
            log[0],
        )
