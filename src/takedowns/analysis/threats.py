"""Numbers that bound each threat to validity, from tables the workflow already has.

Each function takes polars frames (their expected columns are in its docstring) and the
events' cut-offs, and returns a small table; :func:`threats_table` gathers one number per
threat (and event) into ``threat, event_id, value, unit, note``. An event's window is
``[t0 - pre_days, t0 + post_days)`` in days (:func:`event_spans`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from takedowns.analysis.effects import event_windows, outage_mask
from takedowns.spamtrap.archive import MIN_JUDGED_MESSAGES, monthly_exchanger_share

EventT0s = Mapping[str, dt.date | dt.datetime]

#: Columns of :func:`threats_table`.
THREATS_SCHEMA: dict[str, Any] = {
    "threat": pl.String,
    "event_id": pl.String,
    "value": pl.Float64,
    "unit": pl.String,
    "note": pl.String,
}


def event_spans(event_t0s: EventT0s, *, pre_days: int, post_days: int) -> pl.DataFrame:
    """Each event's day ``d0`` and window ``[window_first, window_end)`` (end exclusive).

    Columns: event_id, d0 (Date), window_first (Date), window_end (Date), sorted by d0.
    """
    rows = []
    for event, t0 in event_t0s.items():
        w = event_windows(t0, pre_days, post_days)
        rows.append(
            {"event_id": event, "d0": w.d0, "window_first": w.pre_first, "window_end": w.post_end}
        )
    schema = {"event_id": pl.String, "d0": pl.Date, "window_first": pl.Date, "window_end": pl.Date}
    return pl.DataFrame(rows, schema=schema).sort("d0")


# ---------------------------------------------------------------------------------------------
# Trap address churn
# ---------------------------------------------------------------------------------------------


def trap_churn(
    spam_messages: pl.DataFrame | pl.LazyFrame, *, pattern_col: str = "recipient"
) -> pl.DataFrame:
    """Distinct trap addresses (or relay addresses, as a proxy) per calendar month.

    ``spam_messages``: ``day`` (Date) and either ``pattern_col`` (the recipient address or
    address pattern of each message) or, when the table has no such column, ``relay_ip``:
    the number of distinct relays per month is then a *proxy* for churn (it moves with the
    botnets as much as with the trap's addresses). Columns: month (Date, the first day),
    basis (the column counted), n_messages, n_distinct (distinct values in the month),
    change (relative change of n_distinct from the previous month in the table; null first).
    """
    lazy = spam_messages.lazy()
    columns = lazy.collect_schema().names()
    basis = pattern_col if pattern_col in columns else "relay_ip"
    if basis not in columns or "day" not in columns:
        raise ValueError(f"spam_messages needs day and {pattern_col} or relay_ip, has {columns}")
    return (
        lazy.group_by(month=pl.col("day").dt.truncate("1mo"))
        .agg(n_messages=pl.len(), n_distinct=pl.col(basis).drop_nulls().n_unique())
        .sort("month")
        .with_columns(
            basis=pl.lit(basis),
            change=pl.col("n_distinct") / pl.col("n_distinct").shift(1) - 1,
        )
        .select("month", "basis", "n_messages", "n_distinct", "change")
        .collect()
        .cast({"n_messages": pl.Int64, "n_distinct": pl.Int64})
    )


def churn_around_events(churn: pl.DataFrame, event_t0s: EventT0s) -> pl.DataFrame:
    """Per event: the change of distinct addresses from the month before t0's to the one after.

    ``churn``: :func:`trap_churn`. Columns: event_id, month_before, month_after,
    n_before, n_after, change (``n_after / n_before - 1``: how much the trap's population
    turned over across the cut-off, which a volume effect cannot be told apart from; null
    when a month is missing).
    """
    counts = dict(zip(churn["month"], churn["n_distinct"], strict=True))
    rows = []
    for event, t0 in event_t0s.items():
        d0 = t0.date() if isinstance(t0, dt.datetime) else t0
        month = d0.replace(day=1)
        before = (month - dt.timedelta(days=1)).replace(day=1)
        after = (month + dt.timedelta(days=32)).replace(day=1)
        n_b, n_a = counts.get(before), counts.get(after)
        change = n_a / n_b - 1 if n_a is not None and n_b else None
        rows.append(
            {
                "event_id": event,
                "month_before": before,
                "month_after": after,
                "n_before": n_b,
                "n_after": n_a,
                "change": change,
            }
        )
    schema = {
        "event_id": pl.String,
        "month_before": pl.Date,
        "month_after": pl.Date,
        "n_before": pl.Int64,
        "n_after": pl.Int64,
        "change": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)


def exchanger_share_row(spam_exchangers: pl.DataFrame | pl.LazyFrame) -> dict[str, Any]:
    """The ``trap_exchanger_share`` row: the lowest monthly share of messages in which the
    exchanger pattern found the trap's own Received header.

    ``spam_exchangers``: archive, month, by_host, matched, messages (one table per archive,
    concatenated). Only months with at least
    :data:`takedowns.spamtrap.archive.MIN_JUDGED_MESSAGES` messages count, unless none has that
    many; the note names the month and counts.
    """
    shares = monthly_exchanger_share(spam_exchangers)
    judged = shares.filter(pl.col("judged"))
    pool = judged if judged.height else shares
    if pool.is_empty():
        return _row("trap_exchanger_share", None, None, "share", "no spam-trap messages")
    r = pool.sort("share", "month").row(0, named=True)
    basis = (
        f"lowest of {judged.height} months with >= {MIN_JUDGED_MESSAGES} messages"
        if judged.height
        else f"no month has {MIN_JUDGED_MESSAGES} messages; lowest of {shares.height}"
    )
    note = (
        f"{basis}: {r['month']:%Y-%m} ({r['archive']}), trap header in {r['matched']} of "
        f"{r['messages']} messages"
    )
    return _row("trap_exchanger_share", None, r["share"], "share", note)


# ---------------------------------------------------------------------------------------------
# Outage days
# ---------------------------------------------------------------------------------------------


def outage_days(
    daily: pl.DataFrame,
    spans: pl.DataFrame,
    *,
    covered_col: str | None = "covered",
    min_share: float = 0.3,
    window_days: int = 15,
) -> pl.DataFrame:
    """Per event window: days without coverage and trap-outage days.

    ``daily``: day (Date), count, and ``covered_col`` (Boolean, false = no archive
    coverage; None = every row covered); a day without a row is uncovered. ``spans``:
    :func:`event_spans`. An outage day is a covered day below ``min_share`` x the centred
    ``window_days`` rolling median (:func:`takedowns.analysis.effects.outage_mask`) over the whole
    series. Columns: event_id, n_days (calendar days in the window), n_uncovered,
    n_outage, outage_share (n_outage / covered days: the share of the window's data that
    is an outage), missing_share ((n_uncovered + n_outage) / n_days).
    """
    first = min(daily["day"].min(), spans["window_first"].min())
    last = max(daily["day"].max(), spans["window_end"].max())
    count = pl.col("count").cast(pl.Float64)
    if covered_col is not None:
        count = pl.when(pl.col(covered_col).fill_null(False)).then(count)
    calendar = pl.DataFrame({"day": pl.date_range(first, last, eager=True)}).join(
        daily.select("day", count.alias("count")), on="day", how="left"
    )
    y = calendar["count"].fill_null(float("nan")).to_numpy()
    calendar = calendar.with_columns(
        uncovered=pl.Series(~np.isfinite(y)),
        outage=pl.Series(outage_mask(y, min_share=min_share, window_days=window_days)),
    )
    rows = []
    for span in spans.iter_rows(named=True):
        days = calendar.filter(
            pl.col("day").is_between(span["window_first"], span["window_end"], closed="left")
        )
        n, unc, out = days.height, int(days["uncovered"].sum()), int(days["outage"].sum())
        rows.append(
            {
                "event_id": span["event_id"],
                "n_days": n,
                "n_uncovered": unc,
                "n_outage": out,
                "outage_share": out / (n - unc) if n > unc else None,
                "missing_share": (unc + out) / n if n else None,
            }
        )
    schema = {
        "event_id": pl.String,
        "n_days": pl.Int64,
        "n_uncovered": pl.Int64,
        "n_outage": pl.Int64,
        "outage_share": pl.Float64,
        "missing_share": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)


# ---------------------------------------------------------------------------------------------
# Wayback capture gaps
# ---------------------------------------------------------------------------------------------


def _usable_captures(snapshots: pl.DataFrame, time_col: str) -> pl.DataFrame:
    """list and capture day of the usable captures (status ok when there is a status)."""
    ok = snapshots.filter(pl.col("status") == "ok") if "status" in snapshots.columns else snapshots
    return ok.select("list", day=pl.col(time_col).dt.date()).unique().sort("list", "day")


def wayback_gaps(
    snapshots: pl.DataFrame, spans: pl.DataFrame, *, time_col: str = "cdx_time"
) -> pl.DataFrame:
    """Per list: days between usable captures, and the event windows without one.

    ``snapshots``: ``blocklist_snapshots`` (list, ``time_col`` Datetime, status; only
    status ``ok`` counts). ``spans``: :func:`event_spans`. Columns: list, n_captures (distinct
    capture days), median_gap_days / max_gap_days (between consecutive capture days: how
    long a listing change can go unseen), n_windows, n_windows_without_capture,
    share_windows_without_capture, events_without_capture (comma-separated ids or null).
    """
    captures = _usable_captures(snapshots, time_col)
    rows = []
    for (name,), group in captures.group_by("list", maintain_order=True):
        days = group["day"]
        gaps = days.diff().drop_nulls().dt.total_days().to_numpy()
        missing = [
            span["event_id"]
            for span in spans.iter_rows(named=True)
            if not days.is_between(span["window_first"], span["window_end"], closed="left").any()
        ]
        rows.append(
            {
                "list": name,
                "n_captures": days.len(),
                "median_gap_days": float(np.median(gaps)) if gaps.size else None,
                "max_gap_days": float(gaps.max()) if gaps.size else None,
                "n_windows": spans.height,
                "n_windows_without_capture": len(missing),
                "share_windows_without_capture": len(missing) / spans.height
                if spans.height
                else None,
                "events_without_capture": ",".join(missing) or None,
            }
        )
    schema = {
        "list": pl.String,
        "n_captures": pl.Int64,
        "median_gap_days": pl.Float64,
        "max_gap_days": pl.Float64,
        "n_windows": pl.Int64,
        "n_windows_without_capture": pl.Int64,
        "share_windows_without_capture": pl.Float64,
        "events_without_capture": pl.String,
    }
    return pl.DataFrame(rows, schema=schema)


def wayback_brackets(
    snapshots: pl.DataFrame, spans: pl.DataFrame, *, time_col: str = "cdx_time"
) -> pl.DataFrame:
    """Per list and event: the last capture before d0 and the first on or after it.

    Columns: list, event_id, last_before, first_after (Date or null), bracket_days
    (``first_after - last_before``: a listing change at the cut-off is dated no better than
    this; null when a side has no capture).
    """
    captures = _usable_captures(snapshots, time_col)
    rows = []
    for (name,), group in captures.group_by("list", maintain_order=True):
        days = group["day"]
        for span in spans.iter_rows(named=True):
            before, after = (
                days.filter(days < span["d0"]).max(),
                days.filter(days >= span["d0"]).min(),
            )
            bracket = (after - before).days if before is not None and after is not None else None
            rows.append(
                {
                    "list": name,
                    "event_id": span["event_id"],
                    "last_before": before,
                    "first_after": after,
                    "bracket_days": bracket,
                }
            )
    schema = {
        "list": pl.String,
        "event_id": pl.String,
        "last_before": pl.Date,
        "first_after": pl.Date,
        "bracket_days": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema)


# ---------------------------------------------------------------------------------------------
# The pfx2as collector switch
# ---------------------------------------------------------------------------------------------


def collector_switch_day(space: pl.DataFrame) -> dt.date:
    """The first day whose ``collector`` differs from the previous day's (the switch).

    ``space``: day (Date) and collector (e.g. ``oix`` then ``rv2``). Raises ValueError when
    the collector never changes.
    """
    ordered = space.select("day", "collector").unique().sort("day")
    changed = ordered.filter(pl.col("collector") != pl.col("collector").shift(1))
    if changed.is_empty():
        raise ValueError("the collector never changes in the given days")
    return changed["day"][0]


def pfx2as_level_shift(
    space: pl.DataFrame,
    *,
    switch_day: dt.date | None = None,
    days: int = 14,
    value_col: str = "addresses",
    confidence: float = 0.95,
) -> pl.DataFrame:
    """A level shift in daily routed address space across the pfx2as collector switch.

    ``space``: day (Date), ``value_col`` (the total routed IPv4 addresses of the day's
    prefix-to-AS table) and, when ``switch_day`` is None, collector (the switch is then
    :func:`collector_switch_day`). Compares the ``days`` days before the switch
    ``[s - days, s)`` with the ``days`` from it ``[s, s + days)``. One row: switch_day,
    n_before, n_after, mean_before, mean_after, difference (mean_after - mean_before),
    relative_change (difference / mean_before: the share of routed space that the collector
    change alone adds or removes), ci_low / ci_high (Welch t interval of the difference,
    divided by mean_before; day-to-day correlation makes it too narrow), p_value (Welch).
    """
    s = switch_day if switch_day is not None else collector_switch_day(space)
    span = dt.timedelta(days=days)
    value = pl.col(value_col).cast(pl.Float64)
    before = space.filter(pl.col("day").is_between(s - span, s, closed="left")).select(value)
    after = space.filter(pl.col("day").is_between(s, s + span, closed="left")).select(value)
    a, b = before[value_col].drop_nulls().to_numpy(), after[value_col].drop_nulls().to_numpy()
    if a.size < 2 or b.size < 2:
        raise ValueError(f"need at least 2 days on each side of {s}, have {a.size} and {b.size}")
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    diff, se = float(b.mean() - a.mean()), math.sqrt(va + vb)
    if se > 0:
        df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
        t = stats.t.ppf(0.5 + confidence / 2, df)
        low, high, p = diff - t * se, diff + t * se, float(2 * stats.t.sf(abs(diff) / se, df))
    else:
        low = high = diff
        p = 1.0 if diff == 0 else 0.0
    mean_a = float(a.mean())
    return pl.DataFrame(
        {
            "switch_day": [s],
            "n_before": [a.size],
            "n_after": [b.size],
            "mean_before": [mean_a],
            "mean_after": [float(b.mean())],
            "difference": [diff],
            "relative_change": [diff / mean_a],
            "ci_low": [low / mean_a],
            "ci_high": [high / mean_a],
            "p_value": [p],
        }
    )


# ---------------------------------------------------------------------------------------------
# Monthly AS-relationship snapshots
# ---------------------------------------------------------------------------------------------


def asrel_staleness(
    snapshot_days: pl.DataFrame, spans: pl.DataFrame, *, date_col: str = "snapshot_date"
) -> pl.DataFrame:
    """Per event window: how old the latest AS-relationship snapshot is on its days.

    ``snapshot_days``: one row per snapshot with ``date_col`` (Date; e.g. the first of each
    month). A window day is described by the latest snapshot on or before it. Columns:
    event_id, n_days, n_days_between (days that are not themselves snapshot days),
    max_staleness_days (the largest ``day - latest snapshot``: a de-peering that long ago is
    not yet in the graph; null when a day precedes every snapshot), days_since_at_t0 (d0 -
    the last snapshot on or before it), days_to_next_after_t0 (the first snapshot after d0 -
    d0: the wait before a de-peering at t0 can show; null when none follows).
    """
    snaps = np.array(sorted(set(snapshot_days[date_col].to_list())), dtype="datetime64[D]")
    rows = []
    for span in spans.iter_rows(named=True):
        days = np.arange(
            np.datetime64(span["window_first"], "D"), np.datetime64(span["window_end"], "D")
        )
        index = np.searchsorted(snaps, days, side="right") - 1
        stale = (days - snaps[np.maximum(index, 0)]).astype(int)
        d0 = np.datetime64(span["d0"], "D")
        i0 = int(np.searchsorted(snaps, d0, side="right"))
        rows.append(
            {
                "event_id": span["event_id"],
                "n_days": days.size,
                "n_days_between": int((~np.isin(days, snaps)).sum()),
                "max_staleness_days": int(stale.max()) if (index >= 0).all() else None,
                "days_since_at_t0": int((d0 - snaps[i0 - 1]).astype(int)) if i0 > 0 else None,
                "days_to_next_after_t0": (
                    int((snaps[i0] - d0).astype(int)) if i0 < snaps.size else None
                ),
            }
        )
    schema = {
        "event_id": pl.String,
        "n_days": pl.Int64,
        "n_days_between": pl.Int64,
        "max_staleness_days": pl.Int64,
        "days_since_at_t0": pl.Int64,
        "days_to_next_after_t0": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema)


# ---------------------------------------------------------------------------------------------
# Overlapping events
# ---------------------------------------------------------------------------------------------


def overlapping_events(spans: pl.DataFrame) -> pl.DataFrame:
    """Pairs of events whose windows overlap, and by how many days.

    ``spans``: :func:`event_spans`. Columns: event_a, event_b (a's d0 first),
    overlap_first, overlap_end (end exclusive), overlap_days (> 0 only).
    """
    rows = []
    items = list(spans.sort("d0").iter_rows(named=True))
    for i, a in enumerate(items):
        for b in items[i + 1 :]:
            first = max(a["window_first"], b["window_first"])
            end = min(a["window_end"], b["window_end"])
            if end > first:
                rows.append(
                    {
                        "event_a": a["event_id"],
                        "event_b": b["event_id"],
                        "overlap_first": first,
                        "overlap_end": end,
                        "overlap_days": (end - first).days,
                    }
                )
    schema = {
        "event_a": pl.String,
        "event_b": pl.String,
        "overlap_first": pl.Date,
        "overlap_end": pl.Date,
        "overlap_days": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema)


# ---------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------


def _row(threat: str, event: str | None, value: Any, unit: str, note: str) -> dict[str, Any]:
    """One row of the threats table (value None or NaN stays null)."""
    number = (
        None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
    )
    return {"threat": threat, "event_id": event, "value": number, "unit": unit, "note": note}


def threats_table(
    event_t0s: EventT0s,
    *,
    pre_days: int,
    post_days: int,
    daily: pl.DataFrame | None = None,
    spam_messages: pl.DataFrame | pl.LazyFrame | None = None,
    blocklist_snapshots: pl.DataFrame | None = None,
    address_space: pl.DataFrame | None = None,
    asrel_snapshots: pl.DataFrame | None = None,
    switch_day: dt.date | None = None,
    spam_exchangers: pl.DataFrame | pl.LazyFrame | None = None,
) -> pl.DataFrame:
    """One number per threat to validity (and per event where it varies by event).

    Each input is optional; a threat whose table is not given has no rows. ``daily``:
    day/count/covered (:func:`outage_days`); ``spam_messages``: day and recipient or
    relay_ip (:func:`trap_churn`); ``blocklist_snapshots``: list/cdx_time/status
    (:func:`wayback_gaps`, :func:`wayback_brackets`); ``address_space``: day/addresses and
    collector unless ``switch_day`` is given (:func:`pfx2as_level_shift`);
    ``asrel_snapshots``: snapshot_date (:func:`asrel_staleness`); ``spam_exchangers``:
    the ``spam_exchangers`` tables (:func:`exchanger_share_row`). Overlapping windows are
    always computed. Threats: trap_churn_around_t0, trap_churn_monthly_median (share),
    uncovered_days, outage_days (days), outage_share (share), wayback_median_gap_days,
    wayback_max_gap_days (days, per list), wayback_windows_without_capture (share, per
    list), wayback_bracket_days (days, per event and list), pfx2as_switch_level_shift
    (share, with the interval in the note), asrel_max_staleness_days,
    asrel_days_to_next_snapshot (days), overlapping_windows (days, per pair),
    trap_exchanger_share (share: the lowest monthly share of messages with the trap's own
    Received header).

    Columns: threat, event_id (null for a whole-study number), value, unit, note.
    """
    spans = event_spans(event_t0s, pre_days=pre_days, post_days=post_days)
    rows: list[dict[str, Any]] = []
    if spam_messages is not None:
        churn = trap_churn(spam_messages)
        basis = churn["basis"][0] if churn.height else "relay_ip"
        proxy = "" if basis != "relay_ip" else " (distinct relay IPs: a proxy, no recipient column)"
        for r in churn_around_events(churn, event_t0s).iter_rows(named=True):
            note = (
                f"{basis}{proxy}: {r['n_before']} in {r['month_before']}, "
                f"{r['n_after']} in {r['month_after']}"
            )
            rows.append(_row("trap_churn_around_t0", r["event_id"], r["change"], "share", note))
        median = churn["change"].drop_nulls().abs().median()
        note = f"median |month-over-month change| of distinct {basis}{proxy}"
        rows.append(_row("trap_churn_monthly_median", None, median, "share", note))
    if spam_exchangers is not None:
        rows.append(exchanger_share_row(spam_exchangers))
    if daily is not None:
        for r in outage_days(daily, spans).iter_rows(named=True):
            event, note = r["event_id"], f"of {r['n_days']} window days"
            rows.append(_row("uncovered_days", event, r["n_uncovered"], "days", note))
            rows.append(_row("outage_days", event, r["n_outage"], "days", note))
            rows.append(_row("outage_share", event, r["outage_share"], "share", "of covered days"))
    if blocklist_snapshots is not None:
        for r in wayback_gaps(blocklist_snapshots, spans).iter_rows(named=True):
            note = f"list={r['list']}"
            rows.append(_row("wayback_median_gap_days", None, r["median_gap_days"], "days", note))
            rows.append(_row("wayback_max_gap_days", None, r["max_gap_days"], "days", note))
            without = r["events_without_capture"] or "none"
            rows.append(
                _row(
                    "wayback_windows_without_capture",
                    None,
                    r["share_windows_without_capture"],
                    "share",
                    f"{note}; events without a capture: {without}",
                )
            )
        for r in wayback_brackets(blocklist_snapshots, spans).iter_rows(named=True):
            note = f"list={r['list']}; {r['last_before']} .. {r['first_after']}"
            rows.append(
                _row("wayback_bracket_days", r["event_id"], r["bracket_days"], "days", note)
            )
    if address_space is not None:
        try:
            r = pfx2as_level_shift(address_space, switch_day=switch_day).row(0, named=True)
        except ValueError as exc:  # too few days read on one side of the switch
            rows.append(_row("pfx2as_switch_level_shift", None, None, "share", str(exc)))
        else:
            note = (
                f"{r['n_after']} days from vs {r['n_before']} before {r['switch_day']}: 95 % "
                f"interval [{r['ci_low']:.4f}, {r['ci_high']:.4f}], Welch p = {r['p_value']:.3g}"
            )
            rows.append(
                _row("pfx2as_switch_level_shift", None, r["relative_change"], "share", note)
            )
    if asrel_snapshots is not None:
        for r in asrel_staleness(asrel_snapshots, spans).iter_rows(named=True):
            note = f"{r['n_days_between']} of {r['n_days']} window days fall between snapshots"
            rows.append(
                _row(
                    "asrel_max_staleness_days", r["event_id"], r["max_staleness_days"], "days", note
                )
            )
            rows.append(
                _row(
                    "asrel_days_to_next_snapshot",
                    r["event_id"],
                    r["days_to_next_after_t0"],
                    "days",
                    f"{r['days_since_at_t0']} days since the last snapshot at t0",
                )
            )
    for r in overlapping_events(spans).iter_rows(named=True):
        note = (
            f"{r['event_a']} and {r['event_b']}: {r['overlap_first']} .. {r['overlap_end']} "
            "(end exclusive)"
        )
        rows.append(_row("overlapping_windows", r["event_a"], r["overlap_days"], "days", note))
    return pl.DataFrame(rows, schema=THREATS_SCHEMA)
