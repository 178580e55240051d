# The takedowns study: from public 2007-2009 archives to the comparative results.
# `snakemake --cores all` runs it; `rule all` lists every final output.
import os
import sys

from snakemake.utils import min_version

min_version("9.0")


# The study's config file, read first by the package so that a YAML error names its line.
from takedowns.config import ConfigError, read_yaml

if workflow.is_main_process:  # once per run, not again in each job a cluster spawns
    try:
        read_yaml(os.path.join(workflow.basedir, "config", "config.yaml"))
    except ConfigError as error:
        sys.exit(f"takedowns: {error}")


configfile: os.path.join(workflow.basedir, "config", "config.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/sources.smk"
include: "workflow/rules/prefix2as.smk"
include: "workflow/rules/asrel.smk"
include: "workflow/rules/routing.smk"
include: "workflow/rules/blocklists.smk"
include: "workflow/rules/spamtrap.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/figures.smk"


rule all:
    default_target: True
    input:
        study_outputs,
        "data/processed/datapackage.json",


rule datapackage:
    input:
        study_outputs,
    output:
        "data/processed/datapackage.json",
    log:
        "logs/package/datapackage.log",
    resources:
        **rule_resources("datapackage"),
    params:
        cfg=job_config("synthetic", "events"),
    run:
        jobs.datapackage(out=output[0], config=params.cfg, log=log[0])
