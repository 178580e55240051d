"""One function per workflow rule: what a rule runs, with paths in and paths out.

Rules stay thin (inputs, outputs, log, one call); everything they do is here or in the
modules these functions call, so each step can be run and tested without Snakemake.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import polars as pl

from takedowns import prefix2as
from takedowns.asrel import read_as_relationships
from takedowns.download import fetch, policy_for_host, verify_raw
from takedowns.joblog import job_log
from takedowns.provenance import parquet_metadata
from takedowns.qc import MalformedInput, qc_table, read_qc
from takedowns.study import selected_days, watched_asns_frame
from takedowns.tables import write_parquet

RAW_ROOT = Path("data/raw")
CHECKSUMS = RAW_ROOT / "SHA256SUMS"


def download(url: str, out: Path, config: Mapping[str, Any], log: Path | None = None) -> None:
    """Download ``url`` to its raw path (through the mirror when configured)."""
    with job_log(log) as logger:
        policy = policy_for_host(urlsplit(url).netloc.lower(), config["download"])
        result = fetch(url, Path(out), mirror=config["mirror"], policy=policy, checksums=CHECKSUMS)
        logger.info(
            "%s -> %s (%d bytes, sha256 %s)", result.fetched_url, out, result.bytes, result.sha256
        )


def _source_name(raw: Path) -> str:
    return str(Path(raw).relative_to(RAW_ROOT)) if Path(raw).is_relative_to(RAW_ROOT) else str(raw)


def prefix2as_manifest(
    creation_log: Path, out: Path, config: Mapping[str, Any], log: Path | None = None
) -> None:
    """Write the manifest of daily files the profile selects (one row per day)."""
    with job_log(log) as logger:
        verify_raw(Path(creation_log), CHECKSUMS)
        base = config["sources"]["caida_prefix2as"]["url"]
        listed = prefix2as.parse_creation_log(Path(creation_log), base)
        days = selected_days(config)
        chosen = prefix2as.select_snapshots(listed, days)
        missing = len(days) - chosen.height
        logger.info(
            "creation log lists %d files; %d of %d selected days have one (%d without)",
            listed.height,
            chosen.height,
            len(days),
            missing,
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        chosen.with_columns(
            pl.col("url").map_elements(_raw_of, return_dtype=pl.String).alias("raw_path")
        ).write_csv(out)


def _raw_of(url: str) -> str:
    from takedowns.sources import raw_path

    return raw_path(url)


def read_manifest(path: Path) -> pl.DataFrame:
    """Read a prefix2as manifest written by :func:`prefix2as_manifest`."""
    return pl.read_csv(path, try_parse_dates=False).with_columns(
        pl.col("day").str.to_date(), pl.col("snapshot_time").str.to_datetime(time_zone="UTC")
    )


def normalize_prefix2as_day(
    raw: Path, out: Path, qc_out: Path, config: Mapping[str, Any], log: Path | None = None
) -> None:
    """Normalize one daily pfx2as file to Parquet and write its QC record."""
    with job_log(log) as logger:
        sha = verify_raw(Path(raw), CHECKSUMS)
        frame, qc = prefix2as.read_daily_table(
            Path(raw), _source_name(raw), max_malformed=config["qc"]["max_malformed_records"]
        )
        qc.sha256 = sha
        write_parquet(frame, Path(out), metadata=parquet_metadata(config, source=qc.source_file))
        qc.write(Path(qc_out))
        logger.info(
            "%s: read %d, kept %d, skipped %s",
            raw,
            qc.records_read,
            qc.records_kept,
            qc.skipped or "none",
        )


def _check_qc(qc_paths: Sequence[Path], config: Mapping[str, Any]) -> None:
    for path in qc_paths:
        qc = read_qc(Path(path))
        if qc.status != "ok" and not config["qc"]["allow_partial_files"]:
            raise MalformedInput(
                f"{qc.source_file}: QC status {qc.status!r} ({qc.note}); refusing to use it "
                "(set qc.allow_partial_files: true to accept flagged files)"
            )


def prefix_origin_episodes(
    daily: Sequence[Path],
    qc_paths: Sequence[Path],
    manifest: Path,
    out: Path,
    snapshots_out: Path,
    config: Mapping[str, Any],
    log: Path | None = None,
) -> None:
    """Fold the daily tables into ``prefix_origin`` and write the snapshots table."""
    with job_log(log) as logger:
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
        logger.info("%d daily tables -> %d episodes", len(daily), rows)


def normalize_as_relationships(
    raw: Path, out: Path, qc_out: Path, config: Mapping[str, Any], log: Path | None = None
) -> None:
    """Normalize one monthly serial-1 AS relationships file."""
    with job_log(log) as logger:
        sha = verify_raw(Path(raw), CHECKSUMS)
        frame, qc = read_as_relationships(
            Path(raw), _source_name(raw), max_malformed=config["qc"]["max_malformed_records"]
        )
        qc.sha256 = sha
        write_parquet(frame, Path(out), metadata=parquet_metadata(config, source=qc.source_file))
        qc.write(Path(qc_out))
        logger.info("%s: %d links", raw, frame.height)


def watched_asns(out: Path, config: Mapping[str, Any]) -> None:
    """Write the configured events and watched ASNs as a table."""
    write_parquet(watched_asns_frame(config), Path(out), metadata=parquet_metadata(config))


def gather_qc(qc_paths: Sequence[Path], out: Path, config: Mapping[str, Any]) -> None:
    """Gather every QC record into ``qc_files.parquet``."""
    write_parquet(
        qc_table([Path(p) for p in qc_paths]), Path(out), metadata=parquet_metadata(config)
    )


def sql_table(views: Path, query: Path, out: Path, config: Mapping[str, Any]) -> None:
    """Run one analysis SQL file and write its result as CSV."""
    from takedowns import analysis

    analysis.write_result(analysis.query_file(Path(views), Path(query)), Path(out), config)


def address_space_figure(table: Path, out: Path, config: Mapping[str, Any]) -> None:
    """Draw the address-space figure from its results table."""
    from takedowns import figures  # seaborn is slow to import: only the figure jobs pay

    frame = pl.read_csv(table, try_parse_dates=True)
    if frame.schema["day"] != pl.Date:
        frame = frame.with_columns(pl.col("day").cast(pl.Date))
    figures.address_space_figure(frame, Path(out), config)
