"""Marks that travel with every output: synthetic or real, and from which config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from takedowns import __version__

if TYPE_CHECKING:
    import polars as pl

SYNTHETIC_LABEL = "SYNTHETIC DATA (generated test mirror, not real measurements)"


def is_synthetic(config: Mapping[str, Any]) -> bool:
    """True when the run reads generated data (``make demo``, the tests)."""
    return bool(config["synthetic"])


def parquet_metadata(config: Mapping[str, Any], **extra: str) -> dict[str, str]:
    """Key-value metadata written into every Parquet file the workflow produces."""
    meta = {
        "takedowns.version": __version__,
        "takedowns.synthetic": "true" if is_synthetic(config) else "false",
    }
    if is_synthetic(config):
        meta["takedowns.note"] = SYNTHETIC_LABEL
    meta.update({f"takedowns.{k}": v for k, v in extra.items()})
    return meta


def mark_result(frame: pl.DataFrame, config: Mapping[str, Any]) -> pl.DataFrame:
    """Results tables of a synthetic run lead with a ``synthetic`` column that says so."""
    import polars as pl

    if is_synthetic(config):
        return frame.select(pl.lit(True).alias("synthetic"), pl.all())
    return frame
