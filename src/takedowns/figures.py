"""The study's figures (seaborn), each written as PNG and SVG."""

from __future__ import annotations

import datetime as dt
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


def _point_and_interval(
    ax: plt.Axes, point: float, y: float, low: float, high: float, color: str, label=None
) -> None:
    """A point estimate and its interval at height ``y``, drawn apart: a percentile bootstrap
    interval of a biased statistic (HHI) need not contain the point, which ``errorbar``'s
    relative error bars cannot draw."""
    ax.hlines(y, low, high, color=color, linewidth=1.2, zorder=2)
    ax.vlines([low, high], y - 0.12, y + 0.12, color=color, linewidth=1.2, zorder=2)
    ax.plot([point], [y], "o", color=color, zorder=3, label=label)


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


def _event_axes(n: int, width: float = 4.4, height: float = 3.4):
    fig, axes = plt.subplots(1, max(n, 1), figsize=(width * max(n, 1), height), squeeze=False)
    return fig, axes[0]


def spam_timeline_figure(
    daily: pl.DataFrame, cutoffs: dict[str, Any], png: Path, config: Mapping[str, Any]
) -> None:
    """Daily spam-trap arrivals per event window: daily counts, 7-day mean, cut-off marked.

    ``daily``: event_id, day, count, covered (analysis/spam_event_daily.sql); uncovered days
    are drawn as gaps, never as zeros.
    """
    evs = events(config)
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = _event_axes(len(evs))
    for ax, ev in zip(axes, evs, strict=False):
        part = (
            daily.filter(pl.col("event_id") == ev.event_id)
            .sort("day")
            .with_columns(count=pl.when(pl.col("covered")).then(pl.col("count")))
            .with_columns(mean7=pl.col("count").rolling_mean(7, min_samples=5))
        )
        frame = part.to_pandas()
        ax.bar(frame["day"], frame["count"], color="#9ecae1", width=1.0, label="messages per day")
        ax.plot(
            frame["day"],
            frame["mean7"],
            color="#08519c",
            linewidth=1.6,
            label="trailing 7-day mean",
        )
        t0 = cutoffs.get(ev.event_id, ev.nominal_cutoff)
        ax.axvline(
            t0.replace(tzinfo=None), color="black", linestyle="--", linewidth=1, label="cut-off"
        )
        ax.set_title(ev.name)
        ax.set_xlabel("day (UTC)")
        ax.set_ylabel("spam-trap messages per day" if ax is axes[0] else "")
        ax.tick_params(axis="x", rotation=30)
        ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, png, config)


def forest_figure(
    effects: pl.DataFrame, comparison: pl.DataFrame, png: Path, config: Mapping[str, Any]
) -> None:
    """Relative change in daily spam after each cut-off (95 % CI), per event and post window.

    Uses the first model family of ``effects.families``; published percent changes of the
    same event are drawn as open diamonds beside the estimates.
    """
    family = config["effects"]["families"][0]
    rows = effects.filter(
        (pl.col("family") == family) & pl.col("relative_change").is_not_null()
    ).sort("event_id", "post_days")
    order = {e.event_id: i for i, e in enumerate(events(config))}
    names = {e.event_id: e.name for e in events(config)}
    rows = rows.with_columns(pl.col("event_id").replace_strict(order).alias("_o")).sort(
        "_o", "post_days"
    )
    sns.set_theme(style="whitegrid", context="paper")
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * max(rows.height, 3) + 1.2))
    labels = []
    for y, r in enumerate(rows.iter_rows(named=True)):
        change = 100 * r["relative_change"]
        low, high = 100 * r["ci_low"], 100 * r["ci_high"]
        _point_and_interval(ax, change, y, low, high, "#08519c")
        labels.append(f"{names[r['event_id']]}, first {r['post_days']} days")
        pub = comparison.filter(
            (pl.col("event_id") == r["event_id"])
            & (pl.col("unit") == "percent_change")
            & pl.col("our_estimate").is_not_null()
        )
        if r["post_days"] == min(config["windows"]["post_days"]) and pub.height:
            ax.scatter(
                pub["published_value"].to_list(),
                [y + 0.25] * pub.height,
                marker="D",
                facecolors="none",
                edgecolors="#e6550d",
                s=28,
                label="published change" if y == 0 or not ax.get_legend() else None,
            )
    ax.axvline(0, color="grey", linewidth=1)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlabel(f"relative change in daily spam-trap arrivals, % (95 % CI, {family})")
    handles, texts = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles[:1], texts[:1], fontsize=7, loc="lower right")
    fig.tight_layout()
    _save(fig, png, config)


def answer_figure(verdicts: pl.DataFrame, png: Path, config: Mapping[str, Any]) -> None:
    """The answer's two axes side by side, one row per configured event in time order.

    Left (volume): the immediate and end-of-window effects of the primary fit with their
    intervals, labelled with ``volume_answer``; right (displacement): the WDQ with its interval,
    labelled with ``displacement_answer``, and the row's ``reading``. An event without a number
    (no usable fit, D not asked) keeps its row with the answer alone.
    """
    evs = events(config)
    by_id = {r["event_id"]: r for r in verdicts.iter_rows(named=True)}
    sns.set_theme(style="whitegrid", context="paper")
    fig, (vol, disp) = plt.subplots(
        1, 2, figsize=(10, 0.7 * max(len(evs), 2) + 1.4), sharey=True, width_ratios=(1.2, 1)
    )
    labels = []
    for y, ev in enumerate(evs):
        row = by_id.get(ev.event_id, {})
        labels.append(f"{ev.name}\n{ev.nominal_cutoff:%Y-%m-%d}")
        for key, low, high, dy, color, name in (
            ("immediate", "immediate_ci_low", "immediate_ci_high", -0.12, "#08519c", "immediate"),
            ("end_of_window", "end_ci_low", "end_ci_high", 0.12, "#6baed6", "end of window"),
        ):
            _interval(vol, row, key, low, high, y + dy, color, name, scale=100.0)
        _interval(disp, row, "wdq", "wdq_ci_low", "wdq_ci_high", y, "#a63603", "WDQ")
        vol.annotate(
            row.get("volume_answer") or "no answer", (1.0, y), xycoords=("axes fraction", "data"),
            xytext=(-4, 0), textcoords="offset points", ha="right", va="center", fontsize=8,
        )  # fmt: skip
        disp.annotate(
            f"{row.get('displacement_answer') or 'no answer'}: {row.get('reading') or ''}",
            (1.0, y), xycoords=("axes fraction", "data"), xytext=(-4, 0),
            textcoords="offset points", ha="right", va="center", fontsize=8,
        )  # fmt: skip
    for ax in (vol, disp):
        ax.axvline(0, color="grey", linewidth=1)
    vol.set_yticks(range(len(labels)), labels)
    vol.set_ylim(len(labels) - 0.5, -0.5)
    vol.set_xlabel("did it stay down? relative change in daily spam, % (95 % CI)")
    disp.set_xlabel("did it move? WDQ (95 % CI; < 0: part of the loss reappeared nearby)")
    handles, texts = vol.get_legend_handles_labels()
    seen = dict(zip(texts, handles, strict=True))
    if seen:
        vol.legend(seen.values(), seen.keys(), fontsize=7, loc="lower left")
    fig.tight_layout()
    _save(fig, png, config)


def _interval(
    ax: plt.Axes,
    row: Mapping[str, Any],
    key: str,
    low: str,
    high: str,
    y: float,
    color: str,
    name: str,
    scale: float = 1.0,
) -> None:
    """A point with its interval on ``ax`` at height ``y``, when the row has a finite one."""
    values = [row.get(k) for k in (key, low, high)]
    if any(v is None or v != v for v in values):
        return
    point, lo, hi = (scale * float(v) for v in values)
    _point_and_interval(ax, point, y, lo, hi, color, label=name)


def concentration_figure(changes: pl.DataFrame, png: Path, config: Mapping[str, Any]) -> None:
    """HHI over origin ASNs before and after each cut-off, and its change with a 95 % CI.

    One row per event and measure, for the verdict's post window (``verdict.post_days``).
    """
    k = config["verdict"]["post_days"]
    names = {e.event_id: e.name for e in events(config)}
    rows = changes.filter(
        (pl.col("index") == "hhi") & (pl.col("owner_kind") == "asn") & (pl.col("post_days") == k)
    ).sort("event_id", "measure")
    sns.set_theme(style="whitegrid", context="paper")
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(10, 0.45 * max(rows.height, 3) + 1.4), sharey=True
    )
    labels = []
    for y, r in enumerate(rows.iter_rows(named=True)):
        labels.append(f"{names.get(r['event_id'], r['event_id'])}: {r['measure']}")
        left.plot([r["pre"], r["post"]], [y, y], color="#bdbdbd", zorder=1)
        left.scatter([r["pre"]], [y], color="#3182bd", zorder=2, label="pre" if y == 0 else None)
        left.scatter(
            [r["post"]],
            [y],
            color="#e6550d",
            zorder=2,
            label=f"first {k} days after" if y == 0 else None,
        )
        if r["ci_low"] is not None and r["ci_high"] is not None:
            _point_and_interval(right, r["difference"], y, r["ci_low"], r["ci_high"], "#08519c")
    left.set_yticks(range(len(labels)), labels)
    left.invert_yaxis()
    left.set_xlabel("HHI over origin ASNs")
    left.legend(fontsize=7)
    right.axvline(0, color="grey", linewidth=1)
    right.set_xlabel("change in HHI, post - pre (95 % bootstrap CI)")
    fig.tight_layout()
    _save(fig, png, config)


def upstream_timeline_figure(
    upstreams: pl.DataFrame, cutoffs: pl.DataFrame, png: Path, config: Mapping[str, Any]
) -> None:
    """Upstream episodes of each event's networks: one row per (watched ASN, upstream ASN),
    a bar from first to last sighting, coloured by the CAIDA relationship of that month; the
    dashed line is the nominal cut-off, the solid one the cut-off measured from BGP updates.
    """
    evs = events(config)
    colours = {"provider": "#3182bd", "peer": "#31a354", "customer": "#756bb1"}
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = _event_axes(len(evs), width=5.0, height=3.8)
    for ax, ev in zip(axes, evs, strict=False):
        part = upstreams.filter(pl.col("event_id") == ev.event_id).sort(
            "watched_asn", "upstream_asn", "first_seen"
        )
        keys = part.select("watched_asn", "upstream_asn").unique(maintain_order=True).rows()
        row_of = {k: i for i, k in enumerate(keys)}
        for r in part.iter_rows(named=True):
            y = row_of[(r["watched_asn"], r["upstream_asn"])]
            start, end = r["first_seen"].replace(tzinfo=None), r["last_seen"].replace(tzinfo=None)
            width = max(end - start, dt.timedelta(hours=2))
            ax.barh(
                y, width, left=start, height=0.6, color=colours.get(r["relationship"], "#969696")
            )
        ax.set_yticks(range(len(keys)), [f"AS{w} via AS{u}" for w, u in keys], fontsize=7)
        ax.axvline(
            ev.nominal_cutoff.replace(tzinfo=None), color="black", linestyle="--", linewidth=1
        )
        measured = cutoffs.filter(pl.col("event_id") == ev.event_id)
        if measured.height and measured["t0_source"][0] == "measured":
            ax.axvline(measured["t0"][0].replace(tzinfo=None), color="#e6550d", linewidth=1.2)
        t0 = ev.nominal_cutoff.replace(tzinfo=None)
        ax.set_xlim(
            t0 - dt.timedelta(days=config["windows"]["pre_days"]),
            t0 + dt.timedelta(days=max(config["windows"]["post_days"])),
        )
        ax.set_title(ev.name)
        ax.set_xlabel("time (UTC)")
        ax.tick_params(axis="x", rotation=30)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colours.values()]
    handles += [
        plt.Line2D([], [], color="black", linestyle="--"),
        plt.Line2D([], [], color="#e6550d"),
    ]
    fig.legend(
        handles,
        [*colours, "nominal cut-off", "measured cut-off"],
        loc="lower center",
        ncol=5,
        fontsize=7,
        bbox_to_anchor=(0.5, -0.04),
    )
    fig.tight_layout()
    _save(fig, png, config)


def blocklist_space_figure(
    space: pl.DataFrame, png: Path, config: Mapping[str, Any], top: int = 6
) -> None:
    """Listed address space by origin AS over time around each event (one panel each).

    From ``results/tables/blocklist_space.csv`` for ``blocklists.concentration_list``: the
    ``top`` origins of each event's window stacked, the rest as "other", unrouted space apart;
    the event's own networks are marked "(target)" in the legend.
    """
    listed = config["blocklists"]["concentration_list"]
    pre, post = config["windows"]["pre_days"], max(config["windows"]["post_days"])
    evs = events(config)
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = _event_axes(len(evs), width=4.8, height=3.6)
    for ax, ev in zip(axes, evs, strict=False):
        t0 = ev.nominal_cutoff
        part = space.filter(
            (pl.col("list") == listed)
            & pl.col("snapshot_time").is_between(
                t0 - dt.timedelta(days=pre), t0 + dt.timedelta(days=post)
            )
        ).with_columns(
            owner=pl.when(pl.col("origin_asn").is_null())
            .then(pl.lit("unrouted"))
            .otherwise(pl.lit("AS") + pl.col("origin_asn").cast(pl.String))
        )
        if part.is_empty():
            ax.set_title(f"{ev.name}: no {listed} snapshots")
            continue
        leaders = (
            part.filter(pl.col("owner") != "unrouted")
            .group_by("owner")
            .agg(pl.col("addresses").sum())
            .sort("addresses", descending=True)
            .head(top)["owner"]
            .to_list()
        )
        part = part.with_columns(
            owner=pl.when(pl.col("owner").is_in([*leaders, "unrouted"]))
            .then(pl.col("owner"))
            .otherwise(pl.lit("other"))
        )
        wide = (
            part.group_by("snapshot_time", "owner")
            .agg(pl.col("addresses").sum() / 256)
            .pivot(on="owner", index="snapshot_time", values="addresses")
            .fill_null(0)
            .sort("snapshot_time")
        )
        owners = [o for o in [*leaders, "other", "unrouted"] if o in wide.columns]
        targets = {f"AS{a}" for a in ev.asns}
        labels = [f"{o} (target)" if o in targets else o for o in owners]
        times = [t.replace(tzinfo=None) for t in wide["snapshot_time"].to_list()]
        ax.stackplot(times, *[wide[o].to_list() for o in owners], labels=labels, step="post")
        ax.axvline(t0.replace(tzinfo=None), color="black", linestyle="--", linewidth=1)
        ax.set_title(ev.name)
        ax.set_xlabel("snapshot (UTC)")
        ax.set_ylabel(f"{listed}: listed space (/24s)" if ax is axes[0] else "")
        ax.tick_params(axis="x", rotation=30)
        ax.legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    _save(fig, png, config)
