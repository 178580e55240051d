"""Jobs of workflow/rules/prefix2as.smk: CAIDA prefix-to-AS tables and origin episodes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from takedowns.joblog import LOGGER, logged_job
from takedowns.jobs._common import CHECKSUMS, _check_qc, _normalize_file
from takedowns.jobs.manifests import read_manifest
from takedowns.prefix2as import caida as prefix2as
from takedowns.provenance import parquet_metadata
from takedowns.sources.ledger import verify_raw
from takedowns.study import selected_days
from takedowns.tables import write_parquet


@logged_job
def prefix2as_manifest(
    *,
    creation_log: Path,
    out: Path,
    config: Mapping[str, Any],
    gaps_out: Path | None = None,
) -> None:
    """Write the manifest of daily files the profile selects (one row per day), and the gap
    record of the selected days without one (``gaps_out``; a log cut mid-line is flagged).
    The threshold ``qc.max_missing_share`` is applied to the record by :func:`check_gaps`."""
    verify_raw(Path(creation_log), CHECKSUMS)
    base = config["sources"]["caida_prefix2as"]["url"]
    listed, cut = prefix2as.read_creation_log(Path(creation_log), base)
    days = selected_days(config)
    chosen = prefix2as.select_snapshots(listed, days)
    gaps, missing = prefix2as.day_gaps(chosen, days, log_note=cut)
    LOGGER.info(
        "creation log lists %d files; %d of %d selected days have one (%d without) %s",
        listed.height,
        chosen.height,
        len(days),
        len(missing),
        gaps.note,
    )
    if gaps_out is not None:
        gaps.write(Path(gaps_out))
    out.parent.mkdir(parents=True, exist_ok=True)
    chosen.with_columns(
        pl.col("url").map_elements(_raw_of, return_dtype=pl.String).alias("raw_path")
    ).write_csv(out)


def _raw_of(url: str) -> str:
    from takedowns.sources.registry import raw_path

    return raw_path(url)


@logged_job
def normalize_prefix2as_day(
    *, raw: Path, out: Path, qc_out: Path, config: Mapping[str, Any]
) -> None:
    """Normalize one daily pfx2as file to Parquet and write its QC record."""
    _normalize_file(prefix2as.read_daily_table, raw, out, qc_out, config)


@logged_job
def prefix_origin_episodes(
    *,
    daily: Sequence[Path],
    qc_paths: Sequence[Path],
    manifest: Path,
    out: Path,
    snapshots_out: Path,
    config: Mapping[str, Any],
) -> None:
    """Fold the daily tables into ``prefix_origin`` and write the snapshots table."""
    _check_qc(qc_paths, config)
    meta = parquet_metadata(config)
    rows = prefix2as.build_episodes(
        [Path(p) for p in daily],
        Path(out),
        max_gap_days=config["prefix2as"]["max_gap_days"],
        metadata=meta,
    )
    snaps = (
        read_manifest(Path(manifest))
        .select("day", "snapshot_time", "collector", "url", "raw_path", "seq", "created")
        .with_columns(pl.col("created").str.to_datetime(time_zone="UTC"))
    )
    write_parquet(snaps, Path(snapshots_out), metadata=meta)
    LOGGER.info("%d daily tables -> %d episodes", len(daily), rows)
