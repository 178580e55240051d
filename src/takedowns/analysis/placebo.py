"""Placebo cut-offs: the same interrupted time series at fake dates without a takedown.

:func:`placebo_dates` lays a grid of fake cut-offs over the span of a daily series and
excludes each whose windows come near a real event; :func:`placebo_effects` fits
:func:`takedowns.analysis.effects.its_effect` at every kept date; :func:`placebo_ranks` places each
real
effect in the distribution of placebo effects (its rank, an empirical two-sided p-value) and
gives the placebo distribution's 2.5 / 97.5 % quantiles as an empirical interval: the range of
"effects" the series shows at dates when nothing was taken down.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from takedowns.analysis.effects import Family, InsufficientDataError, event_windows, its_effect

#: The estimands compared (columns of :meth:`takedowns.analysis.effects.ItsEffect.as_row`).
ESTIMANDS: tuple[str, ...] = ("relative_change", "window_average", "end_of_window")

#: Columns of :func:`placebo_effects`, with their types.
PLACEBO_SCHEMA: dict[str, Any] = {
    "placebo_t0": pl.Date,
    "pre_first": pl.Date,
    "post_end": pl.Date,
    "status": pl.String,
    "reason": pl.String,
    "relative_change": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "window_average": pl.Float64,
    "window_average_ci_low": pl.Float64,
    "window_average_ci_high": pl.Float64,
    "end_of_window": pl.Float64,
    "end_of_window_ci_low": pl.Float64,
    "end_of_window_ci_high": pl.Float64,
    "n_days_pre": pl.Int64,
    "n_days_post": pl.Int64,
    "converged": pl.Boolean,
}


def _as_date(value: dt.date | dt.datetime) -> dt.date:
    """The calendar day of a date or datetime."""
    return value.date() if isinstance(value, dt.datetime) else value


def placebo_dates(
    first_day: dt.date,
    last_day: dt.date,
    event_t0s: Mapping[str, dt.date | dt.datetime],
    *,
    pre_days: int,
    post_days: int,
    step_days: int = 7,
    exclusion_days: int = 30,
) -> pl.DataFrame:
    """Every candidate fake cut-off, and whether a real event excludes it.

    Candidates run every ``step_days`` from ``first_day + pre_days`` while the post window
    ``[p, p + post_days)`` still ends by ``last_day`` (so both windows lie in the series). A
    candidate ``p`` is excluded when a real event's day ``d0`` lies in
    ``[p - pre_days - exclusion_days, p + post_days + exclusion_days)``: its windows, widened
    by the margin ``exclusion_days`` on each side, hold a real cut-off.

    Columns: placebo_t0 (Date), excluded (Boolean), excluded_by (the event ids, comma
    separated, or null).
    """
    if step_days < 1 or exclusion_days < 0:
        raise ValueError(f"need step_days >= 1, exclusion_days >= 0: {step_days}, {exclusion_days}")
    real = {event: _as_date(t0) for event, t0 in event_t0s.items()}
    rows: list[dict[str, Any]] = []
    day = first_day + dt.timedelta(days=pre_days)
    while day + dt.timedelta(days=post_days - 1) <= last_day:
        low = day - dt.timedelta(days=pre_days + exclusion_days)
        high = day + dt.timedelta(days=post_days + exclusion_days)
        hits = sorted(event for event, d0 in real.items() if low <= d0 < high)
        rows.append(
            {"placebo_t0": day, "excluded": bool(hits), "excluded_by": ",".join(hits) or None}
        )
        day += dt.timedelta(days=step_days)
    return pl.DataFrame(
        rows, schema={"placebo_t0": pl.Date, "excluded": pl.Boolean, "excluded_by": pl.String}
    )


def placebo_effects(
    daily: pl.DataFrame,
    event_t0s: Mapping[str, dt.date | dt.datetime],
    *,
    pre_days: int,
    post_days: int,
    family: Family,
    step_days: int = 7,
    exclusion_days: int = 30,
    day_col: str = "day",
    **effect_kwargs: Any,
) -> pl.DataFrame:
    """The ITS effect at every placebo date of ``daily`` that no real event excludes.

    ``daily``: one row per day over the whole study period (``day`` Date, ``count``, and a
    coverage column when ``covered_col='covered'`` is passed on to
    :func:`~takedowns.analysis.effects.its_effect` with the other ``effect_kwargs``). Dates come
    from
    :func:`placebo_dates` over the span of ``daily``. Each row estimates, at a date where
    nothing was taken down, the immediate change ``exp(b_level) - 1`` (relative_change with
    ci_low/ci_high), the window-average change and the end-of-window change (with their
    intervals) that the model reports: a draw from the estimator's null distribution.
    A date without enough observed days has status ``insufficient_data`` and the reason;
    every estimate is then null.

    Columns: see :data:`PLACEBO_SCHEMA` (status ``ok`` or ``insufficient_data``).
    """
    if daily.is_empty():
        return pl.DataFrame(schema=PLACEBO_SCHEMA)
    first, last = daily[day_col].min(), daily[day_col].max()
    dates = placebo_dates(
        first,
        last,
        event_t0s,
        pre_days=pre_days,
        post_days=post_days,
        step_days=step_days,
        exclusion_days=exclusion_days,
    ).filter(~pl.col("excluded"))
    rows = []
    for p in dates["placebo_t0"]:
        windows = event_windows(p, pre_days, post_days)
        row: dict[str, Any] = {
            "placebo_t0": p,
            "pre_first": windows.pre_first,
            "post_end": windows.post_end,
        }
        try:
            effect = its_effect(
                daily,
                p,
                pre_days=pre_days,
                post_days=post_days,
                family=family,
                day_col=day_col,
                **effect_kwargs,
            ).as_row()
        except InsufficientDataError as error:
            row.update(status="insufficient_data", reason=str(error))
        else:
            row.update({k: effect[k] for k in PLACEBO_SCHEMA if k in effect}, status="ok")
        rows.append(row)
    return pl.DataFrame(rows, schema=PLACEBO_SCHEMA)


def _log_ratio(values: np.ndarray) -> np.ndarray:
    """``log(1 + relative change)``: the symmetric scale on which extremes are compared."""
    with np.errstate(divide="ignore"):
        return np.log1p(np.maximum(values, -1.0))


def placebo_ranks(
    placebos: pl.DataFrame,
    real_effects: pl.DataFrame,
    *,
    estimands: Sequence[str] = ESTIMANDS,
    event_col: str = "event_id",
) -> pl.DataFrame:
    """Each real effect's place among the placebo effects, per event and estimand.

    ``placebos``: :func:`placebo_effects` (rows with status ``ok`` and a finite estimand are
    used). ``real_effects``: one row per event with ``event_col`` and the estimand columns
    (e.g. ``its_effect(...).as_row()`` plus the event id).

    Columns: event_id, estimand, effect (the real relative change), n_placebos, rank (1 = the
    most negative of the real effect and the n placebos, ties counted in the real effect's
    favour: 1 + placebos strictly below it), rank_share (rank / (n + 1)), share_as_extreme
    (share of placebos with ``|log(1 + e)|`` at least the real one's: how often a date without
    a takedown shows an effect as large), p_value (two-sided empirical p-value
    ``(1 + count as extreme) / (n + 1)``), empirical_low / empirical_high (the 2.5 / 97.5 %
    quantiles of the placebo effects: the empirical interval of "effects" without a
    takedown), outside_empirical (the real effect lies outside that interval).
    """
    rows = []
    ok = placebos.filter(pl.col("status") == "ok")
    for real in real_effects.iter_rows(named=True):
        for estimand in estimands:
            draws = ok[estimand].drop_nulls().to_numpy().astype(np.float64)
            draws = draws[np.isfinite(draws)]
            effect = real.get(estimand)
            n = draws.size
            row: dict[str, Any] = {
                "event_id": real[event_col],
                "estimand": estimand,
                "effect": effect,
                "n_placebos": n,
            }
            if n and effect is not None and not math.isnan(effect):
                extreme = int(
                    (np.abs(_log_ratio(draws)) >= abs(_log_ratio(np.array([effect]))[0])).sum()
                )
                rank = 1 + int((draws < effect).sum())
                low, high = np.quantile(draws, [0.025, 0.975])
                row.update(
                    rank=rank,
                    rank_share=rank / (n + 1),
                    share_as_extreme=extreme / n,
                    p_value=(1 + extreme) / (n + 1),
                    empirical_low=float(low),
                    empirical_high=float(high),
                    outside_empirical=bool(effect < low or effect > high),
                )
            rows.append(row)
    return pl.DataFrame(
        rows,
        schema={
            "event_id": pl.String,
            "estimand": pl.String,
            "effect": pl.Float64,
            "n_placebos": pl.Int64,
            "rank": pl.Int64,
            "rank_share": pl.Float64,
            "share_as_extreme": pl.Float64,
            "p_value": pl.Float64,
            "empirical_low": pl.Float64,
            "empirical_high": pl.Float64,
            "outside_empirical": pl.Boolean,
        },
    )
