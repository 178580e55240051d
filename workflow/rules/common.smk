# Shared set-up: the config is validated before any job runs, then helpers that map
# the study design (profile, windows) to file lists. Logic lives in the takedowns package.
import sys
from datetime import date
from pathlib import Path

from takedowns import jobs
from takedowns.config import ConfigError, validate_config
from takedowns.sources import (
    as_relationships_url,
    prefix2as_creation_log_url,
    raw_path,
    url_for_raw,
)
from takedowns.study import selected_months

try:
    validate_config(config)
except ConfigError as error:
    sys.exit(f"takedowns: {error}")

ANALYSIS = Path(workflow.basedir) / "analysis"


wildcard_constraints:
    day=r"\d{4}-\d{2}-\d{2}",
    month=r"\d{6}",


def download_url(wildcards):
    """The URL a raw file comes from (the mirror is applied by the download layer)."""
    return url_for_raw(wildcards.relpath, config)


def prefix2as_manifest_table(wildcards):
    """The manifest of selected daily pfx2as files (available after its checkpoint)."""
    return jobs.read_manifest(checkpoints.prefix2as_manifest.get().output[0])


def prefix2as_daily_outputs(wildcards):
    days = prefix2as_manifest_table(wildcards)["day"]
    return [f"data/processed/prefix2as/daily/{d}.parquet" for d in days]


def prefix2as_daily_qc(wildcards):
    days = prefix2as_manifest_table(wildcards)["day"]
    return [f"data/processed/qc/prefix2as/{d}.json" for d in days]


def prefix2as_raw_for_day(wildcards):
    table = prefix2as_manifest_table(wildcards)
    rows = table.filter(table["day"].cast(str) == wildcards.day)
    if rows.height != 1:
        raise ValueError(f"no pfx2as file selected for day {wildcards.day}")
    return rows["raw_path"][0]


def as_relationships_outputs(wildcards=None):
    return [
        f"data/processed/as_relationships/{m:%Y%m}.parquet"
        for m in selected_months(config)
    ]


def as_relationships_qc(wildcards=None):
    return [
        f"data/processed/qc/as_relationships/{m:%Y%m}.json"
        for m in selected_months(config)
    ]


def as_relationships_raw(wildcards):
    month = date(int(wildcards.month[:4]), int(wildcards.month[4:]), 1)
    return raw_path(as_relationships_url(config, month))
