"""Sensitivity of one event's spam-volume effect to the choices of the primary specification.

A :class:`Variant` changes one thing in the primary specification (the keyword arguments of
:func:`takedowns.analysis.effects.its_effect`): the pre window (30 / 60 / 90 days), the slope-change
term (a level-only model), the counterfactual (with or without the pre trend), the HAC lags
or model-based errors, the model family, whether trap-outage days are left out, whether the
holiday dummies are in. :func:`default_variants` builds the list, :func:`sensitivity_table`
fits each and returns one row per variant with the three estimands and their intervals.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from takedowns.analysis.effects import (
    InsufficientDataError,
    calendar_design,
    daily_series,
    event_windows,
    its_effect,
    log_arma_batch,
    negative_binomial_fit,
    outage_mask,
    quasi_poisson_batch,
)

#: The families tried when the primary uses another.
FAMILY_VARIANTS: tuple[str, ...] = ("negative_binomial", "quasi_poisson", "log_arma")
#: Pre-window lengths tried (days).
PRE_DAY_VARIANTS: tuple[int, ...] = (30, 60, 90)
#: The share of the rolling median below which a day is an outage, when the primary keeps them.
OUTAGE_SHARE = 0.3

#: Columns of :func:`sensitivity_table`, with their types.
SENSITIVITY_SCHEMA: dict[str, Any] = {
    "variant": pl.String,
    "change": pl.String,
    "status": pl.String,
    "reason": pl.String,
    "family": pl.String,
    "pre_days": pl.Int64,
    "post_days": pl.Int64,
    "cov_type": pl.String,
    "hac_maxlags": pl.Int64,
    "holidays": pl.Boolean,
    "outage_share": pl.Float64,
    "slope": pl.Boolean,
    "pre_trend": pl.Boolean,
    "immediate": pl.Float64,
    "immediate_low": pl.Float64,
    "immediate_high": pl.Float64,
    "window_average": pl.Float64,
    "window_average_low": pl.Float64,
    "window_average_high": pl.Float64,
    "end_of_window": pl.Float64,
    "end_of_window_low": pl.Float64,
    "end_of_window_high": pl.Float64,
    "n_days_pre": pl.Int64,
    "n_days_post": pl.Int64,
    "n_days_outage": pl.Int64,
}


@dataclass(frozen=True)
class Variant:
    """One specification: a name, what it changes from the primary, and how it is fitted.

    ``kwargs``: the keyword arguments of :func:`~takedowns.analysis.effects.its_effect`
    (``pre_days``
    and ``post_days`` required). ``slope=False`` fits a level-only model (no slope change
    after t0: the three estimands are then all ``exp(b_level) - 1``). ``pre_trend=False``
    reads the window-average and end-of-window effects against the counterfactual with the
    pre trend frozen at t0 (the immediate effect does not depend on it).
    """

    name: str
    change: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    slope: bool = True
    pre_trend: bool = True


def default_variants(primary: Mapping[str, Any]) -> list[Variant]:
    """The primary specification and one variant per single change from it.

    ``primary``: :func:`~takedowns.analysis.effects.its_effect` keyword arguments (``pre_days``,
    ``post_days``; ``family`` defaults to negative_binomial, ``cov_type`` to hac with
    ``hac_maxlags`` 7). Variants: the other pre windows of 30 / 60 / 90 days; no slope
    change; a counterfactual without the pre trend; half and double the HAC lags and the
    other covariance kind (model-based or HAC); the other families; outage days left out at
    ``OUTAGE_SHARE`` (or kept, when the primary leaves them out); holiday dummies flipped.
    """
    base = dict(primary)
    if "pre_days" not in base or "post_days" not in base:
        raise ValueError("the primary specification needs pre_days and post_days")
    out = [Variant("primary", "primary specification", base)]

    def vary(name: str, change: str, **kw: Any) -> None:
        out.append(Variant(name, change, {**base, **kw}))

    for pre in PRE_DAY_VARIANTS:
        if pre != base["pre_days"]:
            vary(f"pre_days={pre}", f"pre window {pre} days", pre_days=pre)
    out.append(Variant("no_slope", "no slope change after t0 (level only)", base, slope=False))
    out.append(
        Variant(
            "flat_counterfactual", "counterfactual without the pre trend", base, pre_trend=False
        )
    )
    cov_type = base.get("cov_type", "hac")
    if cov_type == "hac":
        lags = base.get("hac_maxlags") or 7
        for other in sorted({max(1, lags // 2), 2 * lags} - {lags}):
            vary(f"hac_maxlags={other}", f"Newey-West with {other} lag days", hac_maxlags=other)
        vary("cov_type=model", "model-based intervals", cov_type="model")
    else:
        vary("cov_type=hac", "Newey-West intervals with 7 lag days", cov_type="hac", hac_maxlags=7)
    family = base.get("family", "negative_binomial")
    for other in FAMILY_VARIANTS:
        if other != family:
            vary(f"family={other}", f"{other} family", family=other)
    if base.get("outage_share") is None:
        vary(
            "outages_left_out",
            f"outage days (< {OUTAGE_SHARE} x rolling median) left out",
            outage_share=OUTAGE_SHARE,
        )
    else:
        vary("outages_kept", "outage days kept in the fit", outage_share=None)
    holidays = base.get("holidays", True)
    vary(
        "holidays" if not holidays else "no_holidays",
        "with holiday dummies" if not holidays else "without holiday dummies",
        holidays=not holidays,
    )
    return out


def _level_only(
    daily: pl.DataFrame, t0: dt.date | dt.datetime, kw: Mapping[str, Any]
) -> dict[str, Any]:
    """Fit the ITS without the slope-change term: the three estimands of a level-only model.

    Same days, exclusions (missing, donut, outages) and errors as
    :func:`~takedowns.analysis.effects.its_effect`; the level change ``b_level`` then holds on every
    post day, so immediate, window-average and end-of-window effects all estimate
    ``exp(b_level) - 1`` with the interval ``exp(b_level +- z se) - 1``.
    """
    windows = event_windows(t0, kw["pre_days"], kw["post_days"], end_date=kw.get("end_date"))
    series = daily_series(
        daily,
        windows,
        day_col=kw.get("day_col", "day"),
        count_col=kw.get("count_col", "count"),
        covered_col=kw.get("covered_col"),
    )
    y = series["count"].to_numpy().astype(np.float64)
    t, post = series["t"].to_numpy(), series["post"].to_numpy()
    share = kw.get("outage_share")
    outage = (
        outage_mask(y, min_share=share, window_days=kw.get("outage_window_days", 15))
        if share is not None
        else np.zeros(y.shape, dtype=bool)
    )
    donut = (t >= 0) & (t < kw.get("donut_days", 0))
    y = np.where(outage | donut, np.nan, y)
    fitted = np.isfinite(y)
    n_pre, n_post = int((fitted & ~post).sum()), int((fitted & post).sum())
    if n_pre < kw.get("min_days_pre", 14) or n_post < kw.get("min_days_post", 5):
        raise InsufficientDataError(
            f"level-only effect around {t0}: {n_pre} pre and {n_post} post days"
        )
    if np.nansum(y[~post]) == 0 or np.nansum(y[post]) == 0:
        raise InsufficientDataError(f"level-only effect around {t0}: a window has only zero counts")
    design = calendar_design(
        series["day"].to_numpy(),
        windows.d0,
        holidays=kw.get("holidays", True),
        pulse_dates=kw.get("pulse_dates", ()),
    )
    keep = [i for i, name in enumerate(design.names) if name != "slope_change"]
    x = design.x[:, keep]
    level = [design.names[i] for i in keep].index("level")
    family, cov_type = kw.get("family", "negative_binomial"), kw.get("cov_type", "hac")
    lags, confidence = kw.get("hac_maxlags") or 7, kw.get("confidence", 0.95)
    if family == "negative_binomial":
        fit, _ = negative_binomial_fit(
            y, x, cov_type=cov_type, lag_days=lags, confidence=confidence
        )
    elif family == "quasi_poisson":
        fit = quasi_poisson_batch(
            y[None], x, cov_type=cov_type, lag_days=lags, critical="normal", confidence=confidence
        )
    else:
        fit = log_arma_batch(y[None], x, confidence=confidence)
    b, se = float(fit.params[0, level]), math.sqrt(max(float(fit.cov[0, level, level]), 0.0))
    crit = float(fit.critical[0])
    values = (math.expm1(b), math.expm1(b - crit * se), math.expm1(b + crit * se))
    row: dict[str, Any] = {
        "n_days_pre": n_pre,
        "n_days_post": n_post,
        "n_days_outage": int((outage & ~donut).sum()),
    }
    for name in ("immediate", "window_average", "end_of_window"):
        row.update({name: values[0], f"{name}_low": values[1], f"{name}_high": values[2]})
    return row


def _its_row(daily: pl.DataFrame, t0: dt.date | dt.datetime, variant: Variant) -> dict[str, Any]:
    """The three estimands of one variant from :func:`~takedowns.analysis.effects.its_effect`."""
    effect = its_effect(daily, t0, **variant.kwargs)
    flat = "" if variant.pre_trend else "_flat"
    wa, end = f"window_average{flat}", f"end_of_window{flat}"
    return {
        "immediate": effect.relative_change,
        "immediate_low": effect.ci_low,
        "immediate_high": effect.ci_high,
        "window_average": getattr(effect, wa),
        "window_average_low": getattr(effect, f"{wa}_ci_low"),
        "window_average_high": getattr(effect, f"{wa}_ci_high"),
        "end_of_window": getattr(effect, end),
        "end_of_window_low": getattr(effect, f"{end}_ci_low"),
        "end_of_window_high": getattr(effect, f"{end}_ci_high"),
        "n_days_pre": effect.n_days_pre,
        "n_days_post": effect.n_days_post,
        "n_days_outage": effect.n_days_outage,
    }


def sensitivity_table(
    daily: pl.DataFrame, t0: dt.date | dt.datetime, *, variants: Sequence[Variant]
) -> pl.DataFrame:
    """One row per variant: the effect of the takedown at ``t0`` under that specification.

    ``daily``: day (Date) / count / optional coverage column, as for
    :func:`~takedowns.analysis.effects.its_effect` (name it with ``covered_col`` in the kwargs).
    Per row: immediate (``exp(b_level) - 1``, the relative change on day t0),
    window_average (``sum(mu) / sum(mu_counterfactual) - 1`` over the post window) and
    end_of_window (the relative change on the last post day), each with its interval
    (``_low`` / ``_high``) at the variant's confidence; the specification (family,
    pre_days, post_days, cov_type, hac_maxlags, holidays, outage_share, slope, pre_trend)
    and the days fitted. A variant that cannot be fitted has status ``insufficient_data``
    or ``fit_failed`` with the reason and null estimates; otherwise status ``ok``.

    Columns: see :data:`SENSITIVITY_SCHEMA`.
    """
    rows = []
    for variant in variants:
        kw = variant.kwargs
        row: dict[str, Any] = {
            "variant": variant.name,
            "change": variant.change,
            "family": kw.get("family", "negative_binomial"),
            "pre_days": kw["pre_days"],
            "post_days": kw["post_days"],
            "cov_type": kw.get("cov_type", "hac"),
            "hac_maxlags": (kw.get("hac_maxlags") or 7)
            if kw.get("cov_type", "hac") == "hac"
            else None,
            "holidays": kw.get("holidays", True),
            "outage_share": kw.get("outage_share"),
            "slope": variant.slope,
            "pre_trend": variant.pre_trend,
        }
        try:
            fitted = _its_row(daily, t0, variant) if variant.slope else _level_only(daily, t0, kw)
        except InsufficientDataError as error:
            row.update(status="insufficient_data", reason=str(error))
        except (np.linalg.LinAlgError, FloatingPointError) as error:
            row.update(status="fit_failed", reason=f"{type(error).__name__}: {error}")
        else:
            row.update(fitted, status="ok")
        rows.append(row)
    return pl.DataFrame(rows, schema=SENSITIVITY_SCHEMA)
