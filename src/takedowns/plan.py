"""``make plan``: the run's size before the first large download.

Per source and stage: the files the workflow would download, their bytes, the expected
core-hours of the jobs that read them (``benchmarks/rates.yaml``, :mod:`takedowns.rates`) and
the expected disk use under ``data/raw`` and ``data/processed``; then the run's shape: jobs,
bytes, core-hours and the wall time at 1, 16 and 256 cores.

Two modes:

* **exact** (default): the listings the workflow reads anyway (RouteViews/RIS month listings,
  CAIDA's ``pfx2as-creation.log``, the registries' directory listings, the Wayback CDX
  answers) are downloaded the same way the workflow downloads them (:func:`fetch.fetch`
  through the mirror rule, recorded in ``data/raw/SHA256SUMS``, so the run reuses them), and
  the same selection functions pick the files. A file's bytes come from its listing
  (``bytes_source`` ``listing``: RouteViews/RIS and registry listings give sizes rounded to
  two or three digits, ``12M``; a CDX row gives the capture's ``length``) or, where no listing
  gives one, from a HEAD request's ``Content-Length`` (``head``). The listing pages themselves
  are ``fetched`` (their size on disk); a stage whose files were sized both ways reads
  ``listing+head``.
* **estimate** (``--estimate``, offline): counts from the config (days, months, collectors,
  registries, list URLs) and bytes from ``data/reference/typical_file_sizes.csv``
  (``estimated``; the figure of the nearest year listed for that kind of file when the year
  itself has none). A kind of file the table has no justified size for is ``unknown``: its
  bytes, and the core-hours that follow its bytes, are left out of the totals, and the output
  says so. The number of blocklist snapshots is known only from the CDX answers.

Core-hours: per file, the measured cost of the rule that reads it (``routing_normalize``, or
``routing_normalize@keep_all`` when ``routing.keep_all`` is true; ``prefix2as_day``, ...) plus
the download job's start-up; the transfer itself is in the download bound below. The
cluster executor's per-job overhead (``job_overhead_seconds``) is not included.

Processed disk: raw bytes times the ratio of processed to raw bytes measured per stage
(``processed_per_raw`` in ``benchmarks/rates.yaml``, with its provenance).

Wall time at N cores: the largest of (core-hours / N), (bytes at ``--bandwidth-mbit``) and
(requests per rate-limit bucket / ``download.hosts.<host>.requests_per_minute``); the output
names the bound that decides.

Output: a table on stdout, ``--out`` (default ``results/plan.csv``: one row per source and
stage and a ``total`` row) and, beside it, ``plan_shape.csv`` (one row per core count).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import math
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from takedowns.config import REPO_ROOT, ConfigError, load_config
from takedowns.errors import DownloadError
from takedowns.qc import MalformedInput
from takedowns.rates import RATES_PATH, JobCost, load_costs
from takedowns.sources.fetch import fetch, head_size
from takedowns.sources.fetch_policy import policy_for_url
from takedowns.sources.registry import (
    as_relationships_url,
    prefix2as_creation_log_url,
    raw_path,
    spam_archive_url,
)

RAW_ROOT = Path("data/raw")
CHECKSUMS = RAW_ROOT / "SHA256SUMS"
RATELIMIT_DIR = RAW_ROOT / ".ratelimit"
TYPICAL_SIZES = REPO_ROOT / "data" / "reference" / "typical_file_sizes.csv"
#: Wall time is given at these core counts.
CORES = (1, 16, 256)
DEFAULT_BANDWIDTH_MBIT = 100.0
PLAN_COLUMNS = (
    "source",
    "stage",
    "files",
    "bytes",
    "bytes_source",
    "core_hours",
    "raw_disk_bytes",
    "processed_disk_bytes",
)
SHAPE_COLUMNS = (
    "cores",
    "wall_hours",
    "bound",
    "compute_hours",
    "download_hours",
    "request_hours",
    "request_bucket",
    "jobs",
    "files",
    "bytes",
    "core_hours",
    "bandwidth_mbit",
    "unsized_rows",
)
MIB = 1 << 20


@dataclass(frozen=True)
class Stage:
    """What the workflow does with one stage's files.

    ``rule``: the job that reads each file (None: none of its own); ``downloads``: each file
    is also a ``download`` job; ``jobs_per_file``: jobs of ``rule`` per file; ``processed``:
    the key of its ratio in ``processed_per_raw``.
    """

    rule: str | None
    downloads: bool
    processed: str | None
    jobs_per_file: int = 1


#: (source, stage) -> what runs on its files, in the order rows are printed.
STAGES: dict[tuple[str, str], Stage] = {
    ("routeviews", "listing"): Stage("routing_listing", True, "routing_listing"),
    ("routeviews", "rib"): Stage("routing_normalize", True, "routing"),
    ("routeviews", "updates"): Stage("routing_normalize", True, "routing"),
    ("ripe_ris", "listing"): Stage("routing_listing", True, "routing_listing"),
    ("ripe_ris", "rib"): Stage("routing_normalize", True, "routing"),
    ("ripe_ris", "updates"): Stage("routing_normalize", True, "routing"),
    ("caida_prefix2as", "creation_log"): Stage("prefix2as_manifest", True, None),
    ("caida_prefix2as", "daily"): Stage("prefix2as_day", True, "prefix2as_day"),
    ("caida_as_relationships", "monthly"): Stage("as_relationships", True, "as_relationships"),
    # The delegated_file job reads the listings and downloads the file itself.
    ("rir_delegated", "listing"): Stage(None, False, None, 0),
    ("rir_delegated", "delegated"): Stage("delegated_file", False, "delegations"),
    ("wayback", "cdx"): Stage("blocklist_cdx", False, "blocklist_cdx"),
    ("wayback", "snapshot"): Stage("blocklist_snapshot", False, "blocklists"),
    ("untroubled", "yearly"): Stage("spam_messages", True, "spamtrap"),
}


@dataclass(frozen=True)
class PlannedFile:
    """One file the run would download: where from, and its size if known."""

    source: str
    stage: str
    url: str
    bytes: int | None
    bytes_source: str  # listing, head, fetched, estimated or unknown
    year: int | None = None


@dataclass
class Row:
    """One source and stage of the plan."""

    source: str
    stage: str
    files: int | None
    bytes: int | None
    bytes_source: str
    core_seconds: float | None
    jobs: int
    #: rate-limit bucket -> (requests, requests_per_minute or None)
    requests: dict[str, tuple[int, float | None]] = field(default_factory=dict)
    processed_bytes: int | None = None

    @property
    def core_hours(self) -> float | None:
        return None if self.core_seconds is None else self.core_seconds / 3600.0


# --------------------------------------------------------------------------------------------
# Costs and ratios


def rule_cost(costs: Mapping[str, JobCost], rule: str, config: Mapping[str, Any]) -> JobCost:
    """The measured cost of ``rule``'s jobs (``routing_normalize@keep_all`` under keep_all)."""
    if rule == "routing_normalize" and config["routing"]["keep_all"]:
        return costs["routing_normalize@keep_all"]
    return costs[rule]


def stage_core_seconds(
    stage: Stage,
    files: int,
    total_bytes: int | None,
    costs: Mapping[str, JobCost],
    config: Mapping[str, Any],
) -> float | None:
    """Core-seconds of a stage's jobs for ``files`` files of ``total_bytes`` in all (None when
    the cost follows the input's size and the size is unknown)."""
    seconds = costs["download"].startup_seconds * files if stage.downloads else 0.0
    if stage.rule is None or files == 0:
        return seconds
    cost = rule_cost(costs, stage.rule, config)
    if cost.input_mb_per_second is not None and total_bytes is None:
        return None
    mb_per_file = (total_bytes or 0) / MIB / files
    return seconds + files * stage.jobs_per_file * cost.core_seconds(mb_per_file)


def processed_ratios(path: Path = RATES_PATH) -> dict[str, float]:
    """Processed bytes per raw byte per stage, from ``processed_per_raw`` in ``path``."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    entries = data.get("processed_per_raw") if isinstance(data, Mapping) else None
    if not isinstance(entries, Mapping) or not isinstance(entries.get("stages"), Mapping):
        raise ValueError(f"{path}: no 'processed_per_raw.stages' mapping")
    out = {}
    for key, entry in entries["stages"].items():
        try:
            out[str(key)] = float(entry["processed_bytes"]) / float(entry["raw_bytes"])
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            raise ValueError(
                f"{path}: processed_per_raw.stages.{key} needs raw_bytes and processed_bytes "
                f"({exc!r})"
            ) from exc
    return out


def request_bucket(url: str, config: Mapping[str, Any]) -> tuple[str, float | None]:
    """The rate-limit bucket ``url`` counts against and its requests per minute (or None)."""
    policy, bucket = policy_for_url(url, config["download"])
    return bucket, policy.requests_per_minute


# --------------------------------------------------------------------------------------------
# Rows


def make_row(
    source: str,
    stage_name: str,
    files: Sequence[PlannedFile] | None,
    config: Mapping[str, Any],
    costs: Mapping[str, JobCost],
    ratios: Mapping[str, float],
) -> Row:
    """The row of one stage from its files (None: their number is unknown), one per URL."""
    stage = STAGES[(source, stage_name)]
    if files is None:
        return Row(source, stage_name, None, None, "unknown", None, 0)
    unique = list({f.url: f for f in files}.values())
    sizes = [f.bytes for f in unique]
    total = None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)
    kinds = sorted({f.bytes_source for f in unique})
    label = "unknown" if total is None else ("+".join(kinds) if kinds else "none")
    core = stage_core_seconds(stage, len(unique), total, costs, config)
    jobs = len(unique) * (stage.jobs_per_file + (1 if stage.downloads else 0))
    requests: Counter[str] = Counter()
    limits: dict[str, float | None] = {}
    for f in unique:
        bucket, rpm = request_bucket(f.url, config)
        requests[bucket] += 1
        limits[bucket] = rpm
    ratio = ratios.get(stage.processed or "")
    processed = None if total is None or ratio is None else round(total * ratio)
    if stage.processed is None and total is not None:
        processed = 0
    return Row(
        source,
        stage_name,
        len(unique),
        total,
        label,
        core,
        jobs,
        {b: (n, limits[b]) for b, n in requests.items()},
        processed,
    )


def delegated_row(
    files: Sequence[PlannedFile],
    registry_months: int,
    config: Mapping[str, Any],
    costs: Mapping[str, JobCost],
    ratios: Mapping[str, float],
) -> Row:
    """The delegated files' row: one ``delegated_file`` job per registry month (a month
    without a file, or two months sharing one, still take a job each)."""
    row = make_row("rir_delegated", "delegated", files, config, costs, ratios)
    cost = costs["delegated_file"]
    row.jobs = registry_months
    row.core_seconds = registry_months * cost.core_seconds(0.0)
    return row


def prefix_origin_row(daily: Row, costs: Mapping[str, JobCost], ratios: Mapping[str, float]) -> Row:
    """The one ``prefix_origin`` job: it reads the daily tables (their processed size)."""
    cost = costs["prefix_origin"]
    if daily.processed_bytes is None:
        return Row("caida_prefix2as", "prefix_origin", 0, 0, "derived", None, 1)
    raw = daily.bytes or 0
    processed = round(raw * ratios["prefix_origin"]) if "prefix_origin" in ratios else None
    return Row(
        "caida_prefix2as",
        "prefix_origin",
        0,
        0,
        "derived",
        cost.core_seconds(daily.processed_bytes / MIB),
        1,
        {},
        processed,
    )


# --------------------------------------------------------------------------------------------
# Exact mode: the listings, through the mirror rule


def fetch_listing(url: str, config: Mapping[str, Any]) -> Path:
    """Download (or reuse) a listing the workflow downloads anyway, to its raw path."""
    policy, bucket = policy_for_url(url, config["download"])
    dest = Path(raw_path(url))
    fetch(
        url,
        dest,
        mirror=config.get("mirror"),
        policy=replace(policy, progress=False),
        checksums=CHECKSUMS,
        rate_key=bucket,
    )
    return dest


def head_bytes(url: str, config: Mapping[str, Any]) -> int:
    """A file's size from a HEAD request through the mirror rule; an error names the URL."""
    policy, bucket = policy_for_url(url, config["download"])
    size = head_size(
        url,
        mirror=config.get("mirror"),
        policy=policy,
        ratelimit_dir=RATELIMIT_DIR,
        rate_key=bucket,
    )
    if size is None:
        raise DownloadError(f"{url}: the HEAD answer has no Content-Length")
    return size


def routing_files(config: Mapping[str, Any]) -> list[PlannedFile]:
    """The routing listings and the dumps and update files selected from them."""
    import polars as pl

    from takedowns.routing import listings as rs

    out, frames = [], []
    for listing in rs.listings(config):
        source = "routeviews" if listing.archive == "routeviews" else "ripe_ris"
        page = fetch_listing(listing.url, config)
        out.append(PlannedFile(source, "listing", listing.url, page.stat().st_size, "fetched"))
        frames.append(rs.select_from_listing(page, listing, config))
    if not frames:
        return out
    selected = pl.concat(frames, how="vertical_relaxed").unique(
        ["collector", "name"], keep="first", maintain_order=True
    )
    for row in selected.iter_rows(named=True):
        source = "routeviews" if rs.archive_of(row["collector"]) == "routeviews" else "ripe_ris"
        size, how = row["size_bytes"], "listing"
        if size is None:
            size, how = head_bytes(row["url"], config), "head"
        out.append(PlannedFile(source, row["kind"], row["url"], size, how))
    return out


def prefix2as_files(config: Mapping[str, Any]) -> list[PlannedFile]:
    """The creation log and the daily files selected from it (sizes from HEAD)."""
    from takedowns.prefix2as.caida import read_creation_log, select_snapshots
    from takedowns.study import selected_days

    url = prefix2as_creation_log_url(config)
    log_path = fetch_listing(url, config)
    out = [PlannedFile("caida_prefix2as", "creation_log", url, log_path.stat().st_size, "fetched")]
    listed, _ = read_creation_log(log_path, config["sources"]["caida_prefix2as"]["url"])
    chosen = select_snapshots(listed, selected_days(config))
    for file_url in chosen["url"].to_list():
        out.append(
            PlannedFile("caida_prefix2as", "daily", file_url, head_bytes(file_url, config), "head")
        )
    return out


def as_relationship_files(config: Mapping[str, Any]) -> list[PlannedFile]:
    """One serial-1 file per selected month (sizes from HEAD)."""
    from takedowns.study import selected_months

    urls = [as_relationships_url(config, m) for m in selected_months(config)]
    return [
        PlannedFile("caida_as_relationships", "monthly", u, head_bytes(u, config), "head")
        for u in urls
    ]


def delegated_files(config: Mapping[str, Any]) -> tuple[list[PlannedFile], int]:
    """The registries' listings and the delegated file each registry month takes; and the
    number of registry months (one job each)."""
    from takedowns.routing.listings import parse_listing
    from takedowns.spamtrap.delegations import discover_delegated, registry_months
    from takedowns.study import selected_months

    src = config["sources"]["rir_delegated"]
    pages: dict[str, Path] = {}

    def download(url: str) -> Path:
        if url not in pages:
            pages[url] = fetch_listing(url, config)
        return pages[url]

    months = registry_months(config, selected_months(config))
    chosen: list[PlannedFile] = []
    for registry, month in months:
        found = discover_delegated(
            registry, month, src["directories"][registry], src["max_age_days"], download
        )
        if found.chosen is None:
            continue
        page = pages[found.chosen.listing_url].read_text(encoding="utf-8", errors="replace")
        sizes = parse_listing(page, found.chosen.listing_url)
        listed = sizes.filter(sizes["url"] == found.chosen.url)["size_bytes"].to_list()
        size, how = (listed[0], "listing") if listed and listed[0] is not None else (None, "")
        if size is None:
            size, how = head_bytes(found.chosen.url, config), "head"
        chosen.append(PlannedFile("rir_delegated", "delegated", found.chosen.url, size, how))
    listings = [
        PlannedFile("rir_delegated", "listing", u, p.stat().st_size, "fetched")
        for u, p in pages.items()
    ]
    return listings + chosen, len(months)


def wayback_files(config: Mapping[str, Any]) -> list[PlannedFile]:
    """The CDX answers (as the blocklist_cdx checkpoint fetches and keeps them) and the
    captures they list, one per (timestamp, digest) of a list, sized by the CDX ``length``."""
    from takedowns.blocklists import wayback

    out = []
    for source in wayback.blocklist_sources(config):
        manifests = []
        for i, list_url in enumerate(source.urls):
            manifest, _ = wayback.discover(
                source.name, i, config, raw_root=RAW_ROOT, checksums=CHECKSUMS
            )
            manifests.append(manifest)
            query = wayback.cdx_query_url(config, list_url)
            kept = Path(raw_path(query))
            size = kept.stat().st_size if kept.exists() else 0
            out.append(PlannedFile("wayback", "cdx", query, size, "fetched"))
        merged = wayback.merge_manifests(manifests)
        for url, length in merged.select("replay_url", "length").iter_rows():
            out.append(PlannedFile("wayback", "snapshot", url, length, "listing"))
    return out


def spam_files(config: Mapping[str, Any]) -> list[PlannedFile]:
    """One yearly archive per year of the selected days (sizes from HEAD)."""
    from takedowns.study import selected_years

    urls = [spam_archive_url(config, y) for y in selected_years(config)]
    return [PlannedFile("untroubled", "yearly", u, head_bytes(u, config), "head") for u in urls]


def exact_rows(
    config: Mapping[str, Any], costs: Mapping[str, JobCost], ratios: Mapping[str, float]
) -> list[Row]:
    """Every row, from the listings (downloaded through the mirror rule) and HEAD requests."""
    files = [
        *routing_files(config),
        *prefix2as_files(config),
        *as_relationship_files(config),
        *wayback_files(config),
        *spam_files(config),
    ]
    delegated, registry_months = delegated_files(config)
    files += [f for f in delegated if f.stage == "listing"]
    by_stage: dict[tuple[str, str], list[PlannedFile]] = {key: [] for key in STAGES}
    for f in files:
        by_stage[(f.source, f.stage)].append(f)
    rows = []
    for (source, stage), group in by_stage.items():
        if (source, stage) == ("rir_delegated", "delegated"):
            chosen = [f for f in delegated if f.stage == "delegated"]
            rows.append(delegated_row(chosen, registry_months, config, costs, ratios))
        else:
            rows.append(make_row(source, stage, group, config, costs, ratios))
    return with_prefix_origin(rows, costs, ratios)


def with_prefix_origin(
    rows: list[Row], costs: Mapping[str, JobCost], ratios: Mapping[str, float]
) -> list[Row]:
    """``rows`` with the prefix_origin job's row after the daily pfx2as row."""
    out = []
    for row in rows:
        out.append(row)
        if (row.source, row.stage) == ("caida_prefix2as", "daily"):
            out.append(prefix_origin_row(row, costs, ratios))
    return out


# --------------------------------------------------------------------------------------------
# Estimate mode: counts from the config, bytes from typical sizes


def load_typical_sizes(path: Path = TYPICAL_SIZES) -> dict[tuple[str, str], dict[int, int]]:
    """(source, file_kind) -> {year: bytes} from ``typical_file_sizes.csv``."""
    out: dict[tuple[str, str], dict[int, int]] = {}
    with Path(path).open(encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle), 2):
            try:
                key = (row["source"], row["file_kind"])
                out.setdefault(key, {})[int(row["year"])] = int(row["bytes"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{number}: needs source, file_kind, year, bytes") from exc
    return out


def typical_bytes(
    sizes: Mapping[tuple[str, str], Mapping[int, int]], source: str, kind: str, year: int
) -> int | None:
    """The typical size of a ``kind`` file of ``source`` in ``year``: that year's figure, else
    the nearest year's (the earlier one on a tie); None when the table has none."""
    by_year = sizes.get((source, kind))
    if not by_year:
        return None
    nearest = min(by_year, key=lambda y: (abs(y - year), y))
    return by_year[nearest]


def update_file_times(config: Mapping[str, Any], collector: str) -> list[dt.datetime]:
    """Start times of the update files (one every period, from the hour) that overlap an
    update window: what :func:`routing_sources.select_updates` would pick from a full
    listing."""
    from takedowns.routing import listings as rs

    period = rs.update_period(collector)
    times: set[dt.datetime] = set()
    for _, start, end in rs.update_windows(config):
        t = start.replace(minute=0, second=0, microsecond=0)
        while t < end:
            if t + period > start:
                times.add(t)
            t += period
    return sorted(times)


def estimated_files(
    config: Mapping[str, Any], sizes: Mapping[tuple[str, str], Mapping[int, int]]
) -> dict[tuple[str, str], list[PlannedFile] | None]:
    """Per stage, the files the config implies (URLs where a file's name is known from the
    config alone, else its directory), sized from the typical sizes."""
    from takedowns.blocklists import wayback
    from takedowns.routing import listings as rs
    from takedowns.spamtrap.delegations import listing_urls, registry_months
    from takedowns.study import selected_days, selected_months, selected_years

    out: dict[tuple[str, str], list[PlannedFile] | None] = {key: [] for key in STAGES}

    def add(source: str, stage: str, url: str, year: int | None, kind: str | None = None) -> None:
        size = typical_bytes(sizes, source, kind or stage, year) if year else None
        how = "estimated" if size is not None else "unknown"
        files = out[(source, stage)]
        assert files is not None
        files.append(PlannedFile(source, stage, url, size, how, year))

    for listing in rs.listings(config):
        source = "routeviews" if listing.archive == "routeviews" else "ripe_ris"
        add(source, "listing", listing.url, None)
    for collector in rs.collectors(config):
        source = "routeviews" if rs.archive_of(collector) == "routeviews" else "ripe_ris"
        for day in rs.rib_days(config):
            base = rs.listing_for(config, collector, "rib", day.replace(day=1)).url
            add(source, "rib", f"{base}#rib-{day:%Y%m%d}", day.year)
        for t in update_file_times(config, collector):
            base = rs.listing_for(config, collector, "updates", t.date().replace(day=1)).url
            add(source, "updates", f"{base}updates.{t:%Y%m%d.%H%M}", t.year)
    log_url = prefix2as_creation_log_url(config)
    add("caida_prefix2as", "creation_log", log_url, None)
    pfx_base = config["sources"]["caida_prefix2as"]["url"].rstrip("/")
    for day in selected_days(config):
        add("caida_prefix2as", "daily", f"{pfx_base}/{day:%Y/%m}/#{day:%Y%m%d}", day.year)
    for month in selected_months(config):
        url = as_relationships_url(config, month)
        add("caida_as_relationships", "monthly", url, month.year)
    src = config["sources"]["rir_delegated"]
    months = registry_months(config, selected_months(config))
    seen: set[str] = set()
    for registry, month in months:
        for url in listing_urls(month, src["directories"][registry], src["max_age_days"]):
            if url not in seen:
                seen.add(url)
                add("rir_delegated", "listing", url, None)
        first_dir = src["directories"][registry][0].format(year=f"{month.year:04d}")
        add("rir_delegated", "delegated", f"{first_dir}#{month:%Y%m}", month.year)
    for query_urls in wayback.cdx_query_urls(config).values():
        for url in query_urls:
            add("wayback", "cdx", url, None)
    out[("wayback", "snapshot")] = None  # known only from the CDX answers
    for year in selected_years(config):
        add("untroubled", "yearly", spam_archive_url(config, year), year)
    return out


def estimate_rows(
    config: Mapping[str, Any],
    costs: Mapping[str, JobCost],
    ratios: Mapping[str, float],
    sizes: Mapping[tuple[str, str], Mapping[int, int]],
) -> list[Row]:
    """Every row, from the config and the typical sizes (no network)."""
    from takedowns.spamtrap.delegations import registry_months
    from takedowns.study import selected_months

    files = estimated_files(config, sizes)
    rows = []
    for (source, stage), group in files.items():
        if (source, stage) == ("rir_delegated", "delegated"):
            n = len(registry_months(config, selected_months(config)))
            rows.append(delegated_row(group or [], n, config, costs, ratios))
        else:
            rows.append(make_row(source, stage, group, config, costs, ratios))
    return with_prefix_origin(rows, costs, ratios)


# --------------------------------------------------------------------------------------------
# The run's shape


@dataclass(frozen=True)
class Shape:
    """Wall time at one core count and what bounds it."""

    cores: int
    wall_hours: float
    bound: str
    compute_hours: float
    download_hours: float
    request_hours: float
    request_bucket: str


def request_hours(rows: Iterable[Row]) -> tuple[float, str]:
    """The longest time any rate-limited bucket needs for its requests, and that bucket."""
    per_bucket: Counter[str] = Counter()
    limits: dict[str, float | None] = {}
    for row in rows:
        for bucket, (n, rpm) in row.requests.items():
            per_bucket[bucket] += n
            limits[bucket] = rpm
    worst, name = 0.0, ""
    for bucket, n in per_bucket.items():
        rpm = limits[bucket]
        if rpm:
            hours = n / rpm / 60.0
            if hours > worst:
                worst, name = hours, bucket
    return worst, name


def shapes(rows: Sequence[Row], bandwidth_mbit: float, cores: Sequence[int] = CORES) -> list[Shape]:
    """Wall time at each core count: max(core-hours / N, download time, rate-limited time)."""
    core_hours = sum(r.core_hours or 0.0 for r in rows)
    total_bytes = sum(r.bytes or 0 for r in rows)
    download = total_bytes * 8 / (bandwidth_mbit * 1e6) / 3600.0
    requests, bucket = request_hours(rows)
    out = []
    for n in cores:
        compute = core_hours / n
        bounds = {
            "compute": compute,
            f"download at {bandwidth_mbit:g} Mbit/s": download,
            f"requests to {bucket or 'a rate-limited host'}": requests,
        }
        bound = max(bounds, key=lambda k: bounds[k])
        out.append(Shape(n, bounds[bound], bound, compute, download, requests, bucket))
    return out


def total_row(rows: Sequence[Row]) -> Row:
    """The sum of the rows (unknown bytes and core-hours count as nothing; see unsized)."""
    return Row(
        "total",
        "all",
        sum(r.files or 0 for r in rows),
        sum(r.bytes or 0 for r in rows),
        "sum of known",
        sum(r.core_seconds or 0.0 for r in rows),
        sum(r.jobs for r in rows),
        {},
        sum(r.processed_bytes or 0 for r in rows),
    )


def unsized(rows: Iterable[Row]) -> list[str]:
    """``source/stage`` of the rows whose files, bytes or core-hours are unknown."""
    return [
        f"{r.source}/{r.stage}"
        for r in rows
        if r.files is None or r.bytes is None or r.core_seconds is None
    ]


# --------------------------------------------------------------------------------------------
# Output


def human_bytes(n: int | None) -> str:
    """``1.2 GB`` (decimal units), ``-`` for unknown."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def _num(value: float | int | None, fmt: str = "{:,}") -> str:
    return "-" if value is None else fmt.format(value)


def render(
    rows: Sequence[Row],
    shape: Sequence[Shape],
    *,
    estimate: bool,
    bandwidth_mbit: float,
    profile: str,
) -> str:
    """The readable table: one line per source and stage, the totals and the shape."""
    mode = (
        "ESTIMATE (offline: counts from the config, bytes from "
        "data/reference/typical_file_sizes.csv)"
        if estimate
        else "exact (from the listings)"
    )
    head = ("source", "stage", "files", "bytes", "from", "core-h", "raw disk", "processed")
    lines = [
        (
            r.source,
            r.stage,
            _num(r.files),
            human_bytes(r.bytes),
            r.bytes_source,
            _num(r.core_hours, "{:,.2f}"),
            human_bytes(r.bytes),
            human_bytes(r.processed_bytes),
        )
        for r in [*rows, total_row(rows)]
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines, strict=True)]

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if i < 2 or i == 4 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    out = [f"takedowns plan, profile {profile}: {mode}", "", fmt(head)]
    out += [fmt(cells) for cells in lines[:-1]]
    out += ["-" * len(fmt(head)), fmt(lines[-1]), ""]
    total = total_row(rows)
    out.append(
        f"shape: {total.jobs:,} jobs, {total.files:,} files, {human_bytes(total.bytes)}, "
        f"{_num(total.core_hours, '{:,.1f}')} core-hours; bandwidth {bandwidth_mbit:g} Mbit/s"
    )
    for s in shape:
        out.append(
            f"  wall time at {s.cores:>3} cores: {s.wall_hours:,.2f} h  (bound: {s.bound}; "
            f"compute {s.compute_hours:,.2f} h, download {s.download_hours:,.2f} h, "
            f"requests {s.request_hours:,.2f} h)"
        )
    out.append(
        "  processed disk: raw bytes times processed_per_raw (benchmarks/rates.yaml), measured "
        "on the SYNTHETIC demo: an upper bound for large real files"
    )
    missing = unsized(rows)
    if missing:
        out.append("  bytes not in the totals (no justified size or count): " + ", ".join(missing))
    return "\n".join(out)


def write_plan(rows: Sequence[Row], path: Path) -> None:
    """``plan.csv``: one row per source and stage, then the ``total`` row."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(PLAN_COLUMNS)
        for r in [*rows, total_row(rows)]:
            writer.writerow(
                [
                    r.source,
                    r.stage,
                    "" if r.files is None else r.files,
                    "" if r.bytes is None else r.bytes,
                    r.bytes_source,
                    "" if r.core_hours is None else f"{r.core_hours:.10g}",
                    "" if r.bytes is None else r.bytes,
                    "" if r.processed_bytes is None else r.processed_bytes,
                ]
            )


def write_shape(
    rows: Sequence[Row], shape: Sequence[Shape], bandwidth_mbit: float, path: Path
) -> None:
    """``plan_shape.csv``: one row per core count (:data:`SHAPE_COLUMNS`)."""
    total = total_row(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(SHAPE_COLUMNS)
        for s in shape:
            writer.writerow(
                [
                    s.cores,
                    f"{s.wall_hours:.10g}",
                    s.bound,
                    f"{s.compute_hours:.10g}",
                    f"{s.download_hours:.10g}",
                    f"{s.request_hours:.10g}",
                    s.request_bucket,
                    total.jobs,
                    total.files,
                    total.bytes,
                    f"{total.core_hours or 0.0:.10g}",
                    f"{bandwidth_mbit:g}",
                    " ".join(unsized(rows)),
                ]
            )


def shape_path(out: Path) -> Path:
    """Where the shape goes: ``plan_shape.csv`` beside ``out`` (``<stem>_shape.csv``)."""
    return out.with_name(f"{out.stem}_shape{out.suffix or '.csv'}")


def plan(
    config: Mapping[str, Any], *, estimate: bool, sizes_path: Path = TYPICAL_SIZES
) -> list[Row]:
    """The plan's rows for ``config`` (exact from the listings, or estimated offline)."""
    costs = load_costs()
    ratios = processed_ratios()
    if estimate:
        return estimate_rows(config, costs, ratios, load_typical_sizes(sizes_path))
    return exact_rows(config, costs, ratios)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m takedowns.plan [--config FILE ...] [--estimate] [--out results/plan.csv]``"""
    parser = argparse.ArgumentParser(
        prog="takedowns plan",
        description="The run's size before the first large download: files, bytes, "
        "core-hours and disk per source and stage, and the wall time at 1, 16 and 256 cores.",
    )
    parser.add_argument(
        "--config",
        nargs="*",
        action="extend",
        type=Path,
        default=[],
        help="config files merged over config/config.yaml, in order",
    )
    parser.add_argument("--out", type=Path, default=Path("results/plan.csv"))
    parser.add_argument(
        "--estimate",
        action="store_true",
        help="offline: counts from the config, bytes from data/reference/typical_file_sizes.csv",
    )
    parser.add_argument(
        "--bandwidth-mbit",
        type=float,
        default=DEFAULT_BANDWIDTH_MBIT,
        help=f"download bandwidth for the wall time (default {DEFAULT_BANDWIDTH_MBIT:g})",
    )
    parser.add_argument("--mirror", help="fetch every URL from MIRROR/<host>/<path> (config key)")
    parser.add_argument("--profile", choices=("core", "full"), help="override config `profile`")
    args = parser.parse_args(argv)
    if not args.bandwidth_mbit > 0 or not math.isfinite(args.bandwidth_mbit):
        parser.error(f"--bandwidth-mbit must be a positive number, not {args.bandwidth_mbit}")
    overrides: dict[str, Any] = {}
    if args.mirror:
        overrides["mirror"] = args.mirror
    if args.profile:
        overrides["profile"] = args.profile
    try:
        config = load_config(*args.config, overrides=overrides)
        rows = plan(config, estimate=args.estimate)
    except (ConfigError, DownloadError, MalformedInput, ValueError, KeyError, OSError) as error:
        print(f"takedowns plan: {error}", file=sys.stderr)
        return 1
    shape = shapes(rows, args.bandwidth_mbit)
    print(
        render(
            rows,
            shape,
            estimate=args.estimate,
            bandwidth_mbit=args.bandwidth_mbit,
            profile=str(config["profile"]),
        )
    )
    write_plan(rows, args.out)
    write_shape(rows, shape, args.bandwidth_mbit, shape_path(args.out))
    print(f"\nwrote {args.out} and {shape_path(args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
