"""Jobs of workflow/rules/figures.smk: the figures."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from takedowns.joblog import logged_job
from takedowns.jobs._common import _cutoffs


@logged_job
def address_space_figure(*, table: Path, out: Path, config: Mapping[str, Any]) -> None:
    """Draw the address-space figure from its results table."""
    from takedowns import figures  # seaborn is slow to import: only the figure jobs pay

    frame = pl.read_csv(table, try_parse_dates=True)
    if frame.schema["day"] != pl.Date:
        frame = frame.with_columns(pl.col("day").cast(pl.Date))
    figures.address_space_figure(frame, Path(out), config)


@logged_job
def spam_timeline_figure(
    *, daily: Path, cutoffs: Path, out: Path, config: Mapping[str, Any]
) -> None:
    """Draw the three-event spam timeline from its results tables."""
    from takedowns import figures

    frame = pl.read_csv(daily, try_parse_dates=True)
    figures.spam_timeline_figure(frame, _cutoffs(Path(cutoffs)), Path(out), config)


@logged_job
def forest_figure(*, effects: Path, comparison: Path, out: Path, config: Mapping[str, Any]) -> None:
    """Draw the forest plot of spam effects across the events."""
    from takedowns import figures

    figures.forest_figure(
        pl.read_csv(effects), pl.read_csv(comparison, try_parse_dates=True), Path(out), config
    )


@logged_job
def answer_figure(*, verdicts: Path, out: Path, config: Mapping[str, Any]) -> None:
    """Draw the answer's two axes side by side for every event, in time order."""
    from takedowns import figures

    figures.answer_figure(pl.read_csv(verdicts), Path(out), config)


@logged_job
def concentration_figure(*, changes: Path, out: Path, config: Mapping[str, Any]) -> None:
    """Draw concentration before/after with bootstrap intervals."""
    from takedowns import figures

    figures.concentration_figure(pl.read_csv(changes), Path(out), config)


@logged_job
def upstream_timeline_figure(
    *, upstreams: Path, cutoffs: Path, out: Path, config: Mapping[str, Any]
) -> None:
    """Draw the per-event upstream timelines with the cut-offs marked."""
    from takedowns import figures

    figures.upstream_timeline_figure(
        pl.read_csv(upstreams, try_parse_dates=True),
        pl.read_csv(cutoffs, try_parse_dates=True),
        Path(out),
        config,
    )


@logged_job
def blocklist_space_figure(*, space: Path, out: Path, config: Mapping[str, Any]) -> None:
    """Draw listed space by origin over time around each event."""
    from takedowns import figures

    figures.blocklist_space_figure(pl.read_csv(space, try_parse_dates=True), Path(out), config)
