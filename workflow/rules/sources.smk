# Retrieval: every raw file is downloaded by this one rule, exactly as served, to
# data/raw/<host>/<path>; checksums are recorded in data/raw/SHA256SUMS. Its settings are
# read, not passed as params: how bytes are fetched is no reason to fetch them again.
# Retrieval rules (this one, blocklist_cdx, blocklist_snapshot, delegated_file) and the
# settings files are local rules: with a cluster executor they run on the submitting node,
# which can reach the archives (compute nodes often cannot), and take no scheduler slot.


rule download:
    output:
        "data/raw/{relpath}",
    log:
        "logs/download/{relpath}.log",
    wildcard_constraints:
        relpath=r"[^/]+\.[a-z]+/.+",
    localrule: True
    resources:
        **rule_resources("download"),
    params:
        url=download_url,
    run:
        jobs.download(
            url=params.url, out=output[0], config=download_job_config(), log=log[0]
        )


# The settings of a job whose inputs come from a checkpoint (see SETTINGS_KEYS in common.smk).
rule job_settings:
    output:
        "data/processed/settings/{name}.json",
    log:
        "logs/settings/{name}.log",
    wildcard_constraints:
        name="|".join(SETTINGS_KEYS),
    localrule: True
    resources:
        **rule_resources("job_settings"),
    params:
        cfg=lambda wildcards: settings_config(wildcards.name),
    run:
        jobs.write_settings(
            settings=params.cfg,
            out=output[0],
            log=log[0],
            made_by_rule=SETTINGS_OUTPUTS[wildcards.name],
        )
