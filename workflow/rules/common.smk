# Shared set-up: the config is validated before any job runs, then helpers that map
# the study design (profile, windows) to file lists. Logic lives in the takedowns package.
import json
import os
import sys
from datetime import date
from pathlib import Path

from takedowns import jobs
from takedowns.routing import listings as routing_sources
from takedowns.config import (
    ConfigError,
    check_command_line,
    pruned_config,
    validate_config,
)
from takedowns.sources.registry import (
    as_relationships_url,
    prefix2as_creation_log_url,
    raw_path,
    spam_archive_url,
    url_for_raw,
)
from takedowns.spamtrap.delegations import registry_months
from takedowns.rates import load_costs
from takedowns.reference import check_config_events, table_path
from takedowns.study import selected_days, selected_months, selected_years

try:
    check_command_line(workflow.config_settings.overwrite_config)
    validate_config(config)  # fills the schema's defaults into config, in place
    if workflow.is_main_process:  # once per run, not again in each job a cluster spawns
        check_config_events(
            config
        )  # names and cut-offs as the cited events table has them
except ConfigError as error:
    sys.exit(f"takedowns: {error}")


def job_config(*keys):
    """The part of the config a job reads: the named keys (dotted for nested ones, e.g.
    "sources.rir_delegated.max_age_days"), as a pruned copy of the config with the same shape.

    Rules pass it as ``params: cfg=job_config(...)``: Snakemake's params rerun trigger then
    reruns exactly the jobs whose settings changed, and a job that reads a key it was not
    given fails with a KeyError instead of reading a stale value.
    """
    return pruned_config(config, keys)


# What a job that reads one raw file reads of `qc` (the gap threshold is read by others).
QC_FILE = ("qc.allow_partial_files", "qc.max_malformed_records")


# Jobs whose inputs come from a checkpoint's output are rebuilt once the checkpoint is known,
# and Snakemake (9.x) then misses a change of their params, and of their inputs: it reruns
# them only when an output is missing. So their settings also go to a small file,
# data/processed/settings/<rule>.json, rewritten by the job_settings rule (no checkpoint
# behind it, so its params trigger works) when they change; that job removes the rule's
# outputs made with other settings (SETTINGS_OUTPUTS), and its file is an input of the
# checkpoint, which runs again (it is cheap: it reads a listing or a log already on disk) and
# lets Snakemake find the removed outputs missing.
SETTINGS_KEYS = {
    "prefix2as_day": (*QC_FILE, "synthetic"),
    "prefix_origin": ("qc.allow_partial_files", "prefix2as", "synthetic"),
    "blocklist_snapshot": (
        "blocklists.lists",
        "blocklists.max_malformed_lines",
        "sources.wayback",
        *QC_FILE,
        "period",
        "synthetic",
    ),
    "blocklist_check": (
        "blocklists.lists",
        "blocklists.min_ratio_to_neighbours",
        "blocklists.neighbours",
        "blocklists.max_malformed_lines",
        *QC_FILE,
        "period",
        "synthetic",
    ),
}
SETTINGS_OUTPUTS = {
    "prefix2as_day": (
        "data/processed/prefix2as/daily/*",
        "data/processed/qc/prefix2as/*",
    ),
    "prefix_origin": (
        "data/processed/prefix_origin.parquet",
        "data/processed/prefix2as_snapshots.parquet",
    ),
    "blocklist_snapshot": (
        "data/processed/blocklists/*/*",
        "data/processed/qc/blocklists/*/*",
    ),
    "blocklist_check": (
        "data/processed/blocklist_snapshots/*",
        "data/processed/blocklist_entries/*",
        "data/processed/qc/blocklist_snapshots/*",
    ),
}


def settings_config(name):
    """The config a rule behind a checkpoint reads (see SETTINGS_KEYS)."""
    return job_config(*SETTINGS_KEYS[name])


def checkpoint_settings(*names):
    """The settings files of the rules behind a checkpoint: inputs of that checkpoint."""
    return [f"data/processed/settings/{name}.json" for name in names]


def transfer_config(cfg):
    """``cfg`` plus the transfer settings (``download``, ``mirror``) of the global config.

    Transfer settings change how bytes are fetched, never which bytes (each raw file is
    checked against data/raw/SHA256SUMS), so they are deliberately not a rerun trigger.
    """
    return {**cfg, "download": config["download"], "mirror": config["mirror"]}


ANALYSIS = Path(workflow.basedir) / "analysis"


def check_raw_files():
    """Refuse, before any job, a raw file whose bytes changed since it was downloaded."""
    from takedowns.errors import ChecksumMismatch
    from takedowns.sources.ledger import check_raw_tree

    try:
        check_raw_tree(Path("data/raw/SHA256SUMS"))
    except ChecksumMismatch as error:
        sys.exit(f"takedowns: {error}")


# What each rule's job was measured to cost (benchmarks/rates.yaml): its resources, so that a
# scheduler is asked for what a job needs (with a margin, more on each retry).
JOB_COSTS = load_costs(Path(workflow.basedir) / "benchmarks" / "rates.yaml")


def rule_resources(name):
    """``mem_mb`` and ``runtime`` (minutes) of rule ``name``'s jobs, from their measured cost
    and the size of their input: ``resources: **rule_resources("name")``."""

    def cost():
        if name == "routing_normalize" and config["routing"]["keep_all"]:
            return JOB_COSTS["routing_normalize@keep_all"]
        return JOB_COSTS[name]

    def mem_mb(wildcards, input, attempt):
        return cost().mem_mb(input.size_mb, attempt)

    def runtime(wildcards, input, attempt):
        return cost().runtime_minutes(input.size_mb, attempt)

    if name not in JOB_COSTS:
        raise KeyError(f"{name}: this rule has no entry in benchmarks/rates.yaml")
    return {"mem_mb": mem_mb, "runtime": runtime}


# Checked when the workflow is read, before any job (and even when no job would rerun); by
# the main Snakemake process only, not again by each job a cluster executor spawns.
if workflow.is_main_process:
    check_raw_files()


# Results tables that are one SQL file each: analysis/<name>.sql -> results/tables/<name>.csv,
# with the config keys each reads (as DuckDB variables, takedowns.analysis.duckdb_runner.sql_variables).
_WINDOWS = ("windows.pre_days", "windows.post_days")
SQL_RESULT_KEYS = {
    "address_space_daily": (),
    "blocklist_space": (),
    "blocklist_watched_share": (),
    "spam_daily": (),
    "spam_event_daily": (),
    "routing_visibility": _WINDOWS,
    "routing_upstreams": (*_WINDOWS, "routing.episode_gap_hours"),
    "routing_rehoming": (*_WINDOWS, "routing.episode_gap_hours"),
    "routing_cutoff": ("routing.update_window_hours",),
    "buffer_networks": ("blocklists.concentration_list", "reference"),
    "spam_study_daily": (),
    "routed_space_daily": (),
}
SQL_RESULTS = list(SQL_RESULT_KEYS)
# The SQL results that read each event's measured t0 (results/tables/event_cutoffs.csv).
SQL_RESULTS_FROM_T0 = ("spam_event_daily", "buffer_networks")
# The SQL results that read the cited reference tables (reference_events, published_figures).
SQL_RESULTS_READING_REFERENCE = ("buffer_networks",)


def reference_tables(*tables):
    """The cited reference tables config `reference` names (default: both), as inputs of the
    rules that read them, so that an edit to a table reruns what it feeds."""
    return [
        str(table_path(config, t)) for t in tables or ("events", "published_figures")
    ]


def reference_input(wildcards):
    """The reference tables, for the SQL results that read them (none for the others)."""
    return reference_tables() if wildcards.name in SQL_RESULTS_READING_REFERENCE else []


def measured_t0_input(wildcards):
    """The measured cut-offs, for the SQL results that read them (none for the others)."""
    if wildcards.name in SQL_RESULTS_FROM_T0:
        return ["results/tables/event_cutoffs.csv"]
    return []


def sql_job_config(wildcards):
    """The config keys one SQL result reads, and `synthetic` for the table's marker."""
    return job_config(*SQL_RESULT_KEYS[wildcards.name], "synthetic")


def download_job_config():
    """What the download job reads: the QC allowances and the transfer settings."""
    return transfer_config(pruned_config(config, ["qc", "routing"]))


wildcard_constraints:
    day=r"\d{4}-\d{2}-\d{2}",
    month=r"\d{6}",


def download_url(wildcards):
    """The URL a raw file comes from (the mirror is applied by the download layer)."""
    return url_for_raw(wildcards.relpath, config)


def prefix2as_manifest_table(wildcards):
    """The manifest of selected daily pfx2as files (available after its checkpoint)."""
    path = checkpoints.prefix2as_manifest.get().output[0]
    return _cached_read(_read_prefix2as_manifest, [path])


def _read_prefix2as_manifest(paths):
    return jobs.read_manifest(path=paths[0])


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


# --- blocklists ------------------------------------------------------------------------------
from takedowns.blocklists.wayback import blocklist_sources


wildcard_constraints:
    blist=r"[a-z][a-z0-9_]*",
    snapshot=r"\d{14}-[a-z2-7]{8}",
    n=r"\d+",


def blocklist_names():
    return [s.name for s in blocklist_sources(config)]


def blocklist_cdx_manifests(wildcards):
    """The list's CDX manifests (one per URL spelling), after their checkpoints ran."""
    return _blocklist_manifests(wildcards.blist)


def _blocklist_manifests(blist):
    source = next(s for s in blocklist_sources(config) if s.name == blist)
    return [
        checkpoints.blocklist_cdx.get(blist=blist, n=str(i)).output.manifest
        for i in range(len(source.urls))
    ]


def _blocklist_snapshot_ids(blist):
    return jobs.blocklist_manifest(manifests=_blocklist_manifests(blist))[
        "snapshot_id"
    ].to_list()


def blocklist_cdx_qc(wildcards=None):
    return [
        f"data/processed/qc/blocklist_cdx/{s.name}/{i}.json"
        for s in blocklist_sources(config)
        for i in range(len(s.urls))
    ]


def blocklist_snapshot_entries(wildcards):
    return [
        f"data/processed/blocklists/{wildcards.blist}/{s}.parquet"
        for s in _blocklist_snapshot_ids(wildcards.blist)
    ]


def blocklist_snapshot_qc(wildcards):
    return [
        f"data/processed/qc/blocklists/{wildcards.blist}/{s}.json"
        for s in _blocklist_snapshot_ids(wildcards.blist)
    ]


def blocklist_all_snapshot_qc(wildcards=None):
    return [
        f"data/processed/qc/blocklists/{b}/{s}.json"
        for b in blocklist_names()
        for s in _blocklist_snapshot_ids(b)
    ]


def blocklist_tables(wildcards=None):
    names = blocklist_names()
    return [f"data/processed/blocklist_snapshots/{b}.parquet" for b in names] + [
        f"data/processed/blocklist_entries/{b}.parquet" for b in names
    ]


def blocklist_list_qc(wildcards=None):
    return [
        f"data/processed/qc/blocklist_snapshots/{b}.json" for b in blocklist_names()
    ]


# --- spam trap and registry delegations ---------------------------------------------------------


def spam_years(wildcards=None):
    return selected_years(config)


def spam_raw(wildcards):
    return raw_path(spam_archive_url(config, int(wildcards.year)))


def spam_attributed_outputs(wildcards=None):
    return [f"data/processed/spam_attributed/{y}.parquet" for y in spam_years()]


def spam_qc(wildcards=None):
    return [f"data/processed/qc/spamtrap/{y}.json" for y in spam_years()]


def _delegated():
    return registry_months(config, selected_months(config))


def delegated_outputs(wildcards=None):
    return [f"data/processed/delegations/{r}/{m:%Y%m}.parquet" for r, m in _delegated()]


def delegated_qc(wildcards=None):
    return [f"data/processed/qc/delegations/{r}/{m:%Y%m}.json" for r, m in _delegated()]


# --- what analysis/views.sql reads ------------------------------------------------------------


def view_tables(wildcards=None):
    """Every table analysis/views.sql names: SQL rules depend on all of them."""
    return [
        "data/processed/watched_asns.parquet",
        "data/processed/events.parquet",
        "data/processed/prefix_origin.parquet",
        "data/processed/prefix2as_snapshots.parquet",
        "data/processed/qc_files.parquet",
        *as_relationships_outputs(),
        *blocklist_tables(),
        "data/processed/blocklist_attribution.parquet",
        *spam_attributed_outputs(),
        *[f"data/processed/spam_messages/{y}.parquet" for y in spam_years()],
        "data/processed/ip_country.parquet",
        *routing_outputs(),
        *routing_peer_outputs(),
    ]


def blocklist_snapshot_tables(wildcards=None):
    return [
        f"data/processed/blocklist_snapshots/{b}.parquet" for b in blocklist_names()
    ]


def blocklist_entries_tables(wildcards=None):
    return [f"data/processed/blocklist_entries/{b}.parquet" for b in blocklist_names()]


def study_outputs(wildcards=None):
    """Every table, figure and processed dataset of the study (what `rule all` asks for)."""
    return [
        *view_tables(),
        *[f"results/tables/{name}.csv" for name in SQL_RESULTS],
        "results/tables/spam_effects.csv",
        "results/tables/spam_recovery.csv",
        "results/tables/concentration_changes.csv",
        "results/tables/share_gainers.csv",
        "results/tables/rehoming_summary.csv",
        "results/tables/event_cutoffs.csv",
        "results/tables/displacement.csv",
        "results/tables/displacement_buffers.csv",
        "results/tables/verdicts.csv",
        "results/tables/calibration.csv",
        "results/tables/placebo.csv",
        "results/tables/placebo_ranks.csv",
        "results/tables/sensitivity.csv",
        "results/tables/threats.csv",
        "results/verdicts.txt",
        "results/tables/published_comparison.csv",
        "results/figures/address_space_daily.png",
        "results/figures/spam_timeline.png",
        "results/figures/answer.png",
        "results/figures/spam_effects_forest.png",
        "results/figures/concentration.png",
        "results/figures/routing_upstreams.png",
        "results/figures/blocklist_space.png",
    ]


# --- routing (RouteViews, RIPE RIS) -----------------------------------------------------------


def routing_job_config(wildcards):
    """The part of the config a routing normalize job reads, as JSON for its command line."""
    return json.dumps(
        job_config(
            "events",
            "windows",
            "routing.keep_all",
            "routing.allow_missing_files",
            *QC_FILE,
            "synthetic",
        )
    )


def routing_listing_page(wildcards):
    return routing_sources.listing_by_id(config, wildcards.listing).raw_path


def _cached_read(reader, paths):
    """``reader(paths)``, read again only when one of the files changed (the input
    functions of hundreds of jobs ask for the same manifests while the DAG is built)."""
    key = (reader.__name__, tuple((str(p), os.stat(p).st_mtime_ns) for p in paths))
    if key not in _MANIFESTS:
        _MANIFESTS[key] = reader(paths)
    return _MANIFESTS[key]


_MANIFESTS = {}


def routing_selection(wildcards=None):
    paths = [
        checkpoints.routing_listing.get(listing=x.id).output[0]
        for x in routing_sources.listings(config)
    ]
    return _cached_read(routing_sources.read_selection, paths)


def _routing_paths(pattern):
    sel = routing_selection()
    return [pattern.format(c=c, n=n) for c, n in zip(sel["collector"], sel["name"])]


def routing_outputs(wildcards=None):
    return _routing_paths("data/processed/routing/{c}/{n}.parquet")


def routing_peer_outputs(wildcards=None):
    return _routing_paths("data/processed/routing_peers/{c}/{n}.parquet")


def routing_qc(wildcards=None):
    return _routing_paths("data/processed/qc/routing/{c}/{n}.json")


def routing_row(wildcards):
    sel = routing_selection()
    rows = sel.filter(
        (sel["collector"] == wildcards.collector) & (sel["name"] == wildcards.file)
    )
    if rows.height != 1:
        raise ValueError(
            f"no routing file {wildcards.collector}/{wildcards.file} selected"
        )
    return rows.row(0, named=True)


def routing_raw_for_file(wildcards):
    return routing_row(wildcards)["raw_path"]


def routing_source_name(wildcards):
    return routing_row(wildcards)["raw_path"].removeprefix("data/raw/")
