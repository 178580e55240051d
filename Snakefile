# The takedowns study: from public 2007-2009 archives to the comparative results.
# `snakemake --cores all` runs it; `rule all` lists every final output.
import os

from snakemake.utils import min_version

min_version("9.0")


configfile: os.path.join(workflow.basedir, "config", "config.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/sources.smk"
include: "workflow/rules/prefix2as.smk"
include: "workflow/rules/asrel.smk"
include: "workflow/rules/blocklists.smk"
include: "workflow/rules/spamtrap.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/figures.smk"


rule all:
    default_target: True
    input:
        "data/processed/prefix_origin.parquet",
        "data/processed/prefix2as_snapshots.parquet",
        as_relationships_outputs,
        "data/processed/qc_files.parquet",
        "results/tables/address_space_daily.csv",
        "results/figures/address_space_daily.png",
        "results/figures/spam_timeline.png",
        "results/figures/spam_effects_forest.png",
        "results/figures/concentration.png",
        blocklist_tables,
        "results/tables/blocklist_space.csv",
        "results/tables/blocklist_watched_share.csv",
        "results/tables/spam_daily.csv",
        "results/tables/spam_effects.csv",
        "results/tables/concentration_changes.csv",
        "results/tables/verdicts.csv",
        "results/tables/published_comparison.csv",
