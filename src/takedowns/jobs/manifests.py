"""The manifests behind the checkpoints, as the rule files read them to list jobs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl


def read_manifest(path: Path) -> pl.DataFrame:
    """Read a prefix2as manifest written by :func:`prefix2as_manifest`."""
    return pl.read_csv(path, try_parse_dates=False).with_columns(
        pl.col("day").str.to_date(), pl.col("snapshot_time").str.to_datetime(time_zone="UTC")
    )


def blocklist_manifest(manifests: Sequence[Path]) -> pl.DataFrame:
    """A list's snapshots: its CDX manifests merged, one row per capture."""
    from takedowns.blocklists import wayback

    return wayback.merge_manifests([wayback.read_manifest(Path(p)) for p in manifests])
