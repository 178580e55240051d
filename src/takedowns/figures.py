"""The study's figures (seaborn), each written as PNG and SVG."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import polars as pl
import seaborn as sns

from takedowns.provenance import SYNTHETIC_LABEL, is_synthetic
from takedowns.study import events


def _save(fig: plt.Figure, png: Path, config: Mapping[str, Any]) -> None:
    if is_synthetic(config):
        fig.text(
            0.5,
            0.5,
            "SYNTHETIC",
            fontsize=64,
            color="red",
            alpha=0.15,
            ha="center",
            va="center",
            rotation=25,
            transform=fig.transFigure,
        )
        fig.suptitle(SYNTHETIC_LABEL, color="red", fontsize=10, y=1.04)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=150, bbox_inches="tight")
    fig.savefig(png.with_suffix(".svg"), bbox_inches="tight")
    plt.close(fig)


def address_space_figure(table: pl.DataFrame, png: Path, config: Mapping[str, Any]) -> None:
    """Address space (/24 equivalents) originated by each watched ASN, one panel per event.

    Each panel spans the event's pre window and longest post window; the dashed line marks
    the nominal cut-off.
    """
    pre = config["windows"]["pre_days"]
    post = max(config["windows"]["post_days"])
    evs = [e for e in events(config) if e.event_id in set(table["event_id"].to_list())]
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(
        1, max(len(evs), 1), figsize=(4.2 * max(len(evs), 1), 3.4), squeeze=False
    )
    for ax, ev in zip(axes[0], evs, strict=False):
        part = table.filter(
            (pl.col("event_id") == ev.event_id)
            & pl.col("days_from_nominal_cutoff").is_between(-pre, post)
        ).with_columns(pl.col("asn").cast(pl.String).alias("origin AS"))
        if part.height:
            sns.lineplot(
                data=part.to_pandas(),
                x="day",
                y="slash24_equivalents",
                hue="origin AS",
                drawstyle="steps-post",
                marker="o",
                markersize=3,
                ax=ax,
            )
        ax.axvline(
            ev.nominal_cutoff.replace(tzinfo=None),
            color="black",
            linestyle="--",
            linewidth=1,
            label="nominal cut-off",
        )
        ax.set_title(ev.name)
        ax.set_xlabel("day (UTC)")
        ax.set_ylabel("originated address space (/24s)" if ax is axes[0][0] else "")
        ax.tick_params(axis="x", rotation=30)
        ax.legend(fontsize=7, title_fontsize=7)
    fig.tight_layout()
    _save(fig, png, config)
