"""The spam volume effect of a takedown: an interrupted time series of daily counts.

Days and windows
    ``t0`` is the cut-off, a date or a UTC datetime; ``d0 = t0.date()``. The pre window is the
    ``pre_days`` days ``[d0 - pre_days, d0)``, the post window the ``post_days`` days
    ``[d0, d0 + post_days)``. When ``t0`` is a datetime that is not midnight, day ``d0`` holds
    traffic from both sides of the cut-off: it is left out of the fit and of the recovery
    times (``transition_day_dropped``), so the post window effectively starts at ``d0 + 1``.

Missing is not zero
    ``daily`` has one row per day with a count. A day without a row, a row whose count is
    null, or a row whose coverage column (``covered_col``) is false is *missing*: no archive
    coverage, nothing known. It is left out of the fit and of every mean. A covered day with
    count 0 is a real zero and is kept.

The model (:func:`its_effect`)
    ``log E[y_t] = b0 + b1 t + b2 post_t + b3 post_t t + weekday_t`` with ``t`` the day relative
    to ``d0`` (…, -1 before, 0, 1, … after), ``post_t = [t >= 0]`` and six weekday dummies
    (Monday is the reference; a weekday without any observed day is dropped). ``b2`` is the
    level change at the cut-off: the relative change is ``exp(b2) - 1``, its interval
    ``exp(b2 ± z se) - 1``; ``b3`` is the change of the log-slope per day after the cut-off.
    Families:

    - ``negative_binomial``: NB2 (variance ``mu + alpha mu**2``) by maximum likelihood with
      ``alpha`` estimated (``statsmodels.discrete.discrete_model.NegativeBinomial``); the
      dispersion reported is ``alpha``. When that fit fails (alpha at its Poisson boundary, a
      singular Hessian), alpha is chosen by profile likelihood over [1e-6, 100] and the
      coefficients come from the NB2 GLM with that alpha (``dispersion_kind`` says which).
    - ``quasi_poisson``: Poisson GLM with the scale estimated from Pearson's chi-square
      (``scale='X2'``); the dispersion reported is that scale.

    Intervals are Wald intervals from the model's covariance, or Newey-West (HAC) with
    ``hac_maxlags`` lags when given (the rows are taken as consecutive; gaps are ignored).
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import polars as pl
import statsmodels.api as sm
from scipy import optimize, stats
from statsmodels.discrete.discrete_model import NegativeBinomial
from statsmodels.tools.sm_exceptions import ConvergenceWarning, HessianInversionWarning

Family = Literal["negative_binomial", "quasi_poisson"]
FAMILIES: tuple[str, ...] = ("negative_binomial", "quasi_poisson")

_WEEKDAY_NAMES = ("tue", "wed", "thu", "fri", "sat", "sun")


class InsufficientDataError(ValueError):
    """Too few observed days in a window to estimate an effect."""


@dataclass(frozen=True)
class Windows:
    """The day ranges of one event: ``pre`` and ``post`` as half-open ``[first, end)``."""

    d0: dt.date
    pre_first: dt.date
    post_first: dt.date
    post_end: dt.date
    transition_day_dropped: bool


def event_windows(t0: dt.date | dt.datetime, pre_days: int, post_days: int) -> Windows:
    """The pre and post day ranges around ``t0`` (see the module docstring)."""
    if pre_days < 1 or post_days < 1:
        raise ValueError(f"pre_days and post_days must be positive, not {pre_days}, {post_days}")
    if isinstance(t0, dt.datetime):
        d0 = t0.date()
        dropped = t0.time() != dt.time(0, 0)
    else:
        d0, dropped = t0, False
    return Windows(
        d0=d0,
        pre_first=d0 - dt.timedelta(days=pre_days),
        post_first=d0 + dt.timedelta(days=1 if dropped else 0),
        post_end=d0 + dt.timedelta(days=post_days),
        transition_day_dropped=dropped,
    )


def daily_series(
    daily: pl.DataFrame,
    windows: Windows,
    *,
    day_col: str = "day",
    count_col: str = "count",
    covered_col: str | None = None,
) -> pl.DataFrame:
    """Every calendar day of the pre and post windows with its count or null (missing).

    Columns: day (Date), t (days from d0), post (bool), count (Float64, null = missing),
    weekday (1 = Monday .. 7 = Sunday). The transition day, when dropped, is not a row.
    """
    for col in (day_col, count_col, *([covered_col] if covered_col else [])):
        if col not in daily.columns:
            raise ValueError(f"daily counts have no column '{col}'; they have {daily.columns}")
    if daily.schema[day_col] != pl.Date:
        raise ValueError(f"column '{day_col}' must be of type Date, not {daily.schema[day_col]}")
    dup = daily.filter(pl.col(day_col).is_duplicated()).get_column(day_col).unique().sort()
    if dup.len():
        raise ValueError(f"daily counts have {dup.len()} repeated days, the first {dup[0]}")
    count = pl.col(count_col).cast(pl.Float64)
    if daily.select((count < 0).any()).item():
        raise ValueError(f"column '{count_col}' has negative counts")
    if covered_col:
        count = pl.when(pl.col(covered_col).fill_null(False)).then(count)
    given = daily.select(pl.col(day_col).alias("day"), count.alias("count"))
    days = pl.date_range(
        windows.pre_first, windows.post_end, interval="1d", closed="left", eager=True
    )
    frame = (
        pl.DataFrame({"day": days})
        .filter(~((pl.col("day") == windows.d0) & pl.lit(windows.transition_day_dropped)))
        .join(given, on="day", how="left")
    )
    return frame.with_columns(
        t=(pl.col("day") - pl.lit(windows.d0)).dt.total_days().cast(pl.Int64),
        weekday=pl.col("day").dt.weekday(),
    ).with_columns(post=pl.col("t") >= 0)


@dataclass(frozen=True)
class ItsEffect:
    """The fitted interrupted time series of one event and family (see :func:`its_effect`)."""

    family: str
    relative_change: float
    ci_low: float
    ci_high: float
    confidence: float
    level_log: float
    level_se: float
    level_p_value: float
    slope_change_log_per_day: float
    slope_change_ci_low: float
    slope_change_ci_high: float
    pre_trend_log_per_day: float
    dispersion: float
    dispersion_kind: str
    n_days_pre: int
    n_days_post: int
    n_days_missing_pre: int
    n_days_missing_post: int
    n_zero_days: int
    transition_day_dropped: bool
    pearson_chi2_per_df: float
    residual_autocorrelation_lag1: float
    converged: bool
    cov_type: str
    gof_note: str

    def as_row(self) -> dict[str, Any]:
        """The effect as one flat record (for a results table)."""
        return asdict(self)


def _design(series: pl.DataFrame) -> tuple[np.ndarray, list[str]]:
    """The design matrix: intercept, trend, step, slope change, weekday dummies."""
    t = series["t"].to_numpy().astype(np.float64)
    post = series["post"].to_numpy().astype(np.float64)
    weekday = series["weekday"].to_numpy()
    columns = [np.ones_like(t), t, post, post * t]
    names = ["const", "trend", "level", "slope_change"]
    for day, name in zip(range(2, 8), _WEEKDAY_NAMES, strict=True):
        dummy = (weekday == day).astype(np.float64)
        if dummy.any():
            columns.append(dummy)
            names.append(f"weekday_{name}")
    return np.column_stack(columns), names


def _lag1_autocorrelation(residuals: np.ndarray, t: np.ndarray) -> float:
    """Correlation of residuals on consecutive observed days (pairs one day apart)."""
    consecutive = np.diff(t) == 1
    if consecutive.sum() < 3:
        return float("nan")
    a, b = residuals[:-1][consecutive], residuals[1:][consecutive]
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _fit(
    y: np.ndarray, x: np.ndarray, family: str, cov: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, bool, str]:
    """Fit one family: (params, covariance, fitted means, dispersion, converged, how)."""
    poisson = sm.GLM(y, x, family=sm.families.Poisson())
    if family == "quasi_poisson":
        res = poisson.fit(scale="X2", **cov)
        return (
            res.params,
            res.cov_params(),
            res.fittedvalues,
            float(res.scale),
            bool(res.converged),
            "Pearson scale",
        )
    start = poisson.fit().params
    k = x.shape[1]
    model = NegativeBinomial(y, x, loglike_method="nb2")
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", (ConvergenceWarning, HessianInversionWarning, RuntimeWarning)
        )
        try:
            res = model.fit(
                start_params=np.append(start, 0.1), method="newton", maxiter=300, disp=False, **cov
            )
        except (np.linalg.LinAlgError, ValueError):  # singular Hessian on the way
            return _fit_nb_profile(y, x, cov)
    alpha = float(res.params[k])
    if (
        res.mle_retvals.get("converged", False)
        and alpha > _ALPHA_MIN
        and np.all(np.isfinite(res.bse))
    ):
        mu = np.exp(x @ res.params[:k])
        cov_params = np.asarray(res.cov_params())[:k, :k]
        return res.params[:k], cov_params, mu, alpha, True, "alpha (NB2, maximum likelihood)"
    return _fit_nb_profile(y, x, cov)


# Below this the NB2 dispersion is at its boundary (Poisson): maximum likelihood over
# (beta, alpha) then does not converge, and alpha is found by profile likelihood instead.
_ALPHA_MIN = 1e-5


def _fit_nb_profile(
    y: np.ndarray, x: np.ndarray, cov: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, bool, str]:
    """NB2 with alpha maximizing the profile likelihood over [1e-6, 100] (log scale)."""

    def fit(log_alpha: float) -> Any:
        family = sm.families.NegativeBinomial(alpha=math.exp(log_alpha))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", (ConvergenceWarning, RuntimeWarning))
            return sm.GLM(y, x, family=family).fit(**cov)

    best = optimize.minimize_scalar(
        lambda la: -fit(la).llf, bounds=(math.log(1e-6), math.log(100.0)), method="bounded"
    )
    res = fit(float(best.x))
    return (
        res.params,
        res.cov_params(),
        res.fittedvalues,
        math.exp(float(best.x)),
        bool(best.success and res.converged),
        "alpha (NB2, profile likelihood)",
    )


def its_effect(
    daily: pl.DataFrame,
    t0: dt.date | dt.datetime,
    *,
    pre_days: int,
    post_days: int,
    family: Family = "negative_binomial",
    day_col: str = "day",
    count_col: str = "count",
    covered_col: str | None = None,
    confidence: float = 0.95,
    hac_maxlags: int | None = None,
    min_days_pre: int = 14,
    min_days_post: int = 5,
) -> ItsEffect:
    """Fit the interrupted time series of ``daily`` around ``t0`` (see the module docstring).

    ``daily``: one row per day with ``day_col`` (Date) and ``count_col`` (non-negative
    counts), optionally a boolean ``covered_col`` (false = no archive coverage, missing).
    Raises :class:`InsufficientDataError` when a window has fewer observed days than
    ``min_days_pre`` / ``min_days_post``, or when every observed pre-window day is 0.

    When every observed post day is 0 the level change has no finite estimate: the result then
    reports ``relative_change = -1`` with NaN bounds and says so in ``gof_note``.
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, not {family!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), not {confidence}")
    windows = event_windows(t0, pre_days, post_days)
    series = daily_series(
        daily, windows, day_col=day_col, count_col=count_col, covered_col=covered_col
    )
    missing = series.group_by("post").agg(pl.col("count").is_null().sum().alias("n"))
    missing_of = dict(zip(missing["post"].to_list(), missing["n"].to_list(), strict=True))
    observed = series.filter(pl.col("count").is_not_null())
    n_pre = int((~observed["post"]).sum())
    n_post = int(observed["post"].sum())
    if n_pre < min_days_pre or n_post < min_days_post:
        raise InsufficientDataError(
            f"effect around {t0}: {n_pre} observed pre-window days (need {min_days_pre}) and "
            f"{n_post} observed post-window days (need {min_days_post})"
        )
    y = observed["count"].to_numpy()
    x, names = _design(observed)
    common = {
        "family": family,
        "confidence": confidence,
        "n_days_pre": n_pre,
        "n_days_post": n_post,
        "n_days_missing_pre": int(missing_of.get(False, 0)),
        "n_days_missing_post": int(missing_of.get(True, 0)),
        "n_zero_days": int((y == 0).sum()),
        "transition_day_dropped": windows.transition_day_dropped,
        "cov_type": f"HAC(maxlags={hac_maxlags})" if hac_maxlags else "model",
    }
    post_mask = observed["post"].to_numpy()
    if y[~post_mask].sum() == 0:
        raise InsufficientDataError(
            f"effect around {t0}: every observed pre-window day is 0, there is no level to "
            "compare against"
        )
    if y[post_mask].sum() == 0:
        return _all_zero_post(common)
    cov = {"cov_type": "HAC", "cov_kwds": {"maxlags": hac_maxlags}} if hac_maxlags else {}
    params, cov_params, mu, dispersion, converged, how = _fit(y, x, family, cov)
    se = np.sqrt(np.diag(cov_params))
    z = stats.norm.ppf(0.5 + confidence / 2.0)
    i_level, i_slope, i_trend = names.index("level"), names.index("slope_change"), 1
    b2, s2 = float(params[i_level]), float(se[i_level])
    b3, s3 = float(params[i_slope]), float(se[i_slope])
    variance = mu if family == "quasi_poisson" else mu + dispersion * mu**2
    pearson = (y - mu) / np.sqrt(variance)
    df_resid = max(1, len(y) - x.shape[1] - (family == "negative_binomial"))
    chi2_df = float(np.sum(pearson**2) / df_resid)
    acf1 = _lag1_autocorrelation(pearson, observed["t"].to_numpy())
    return ItsEffect(
        relative_change=math.expm1(b2),
        ci_low=math.expm1(b2 - z * s2),
        ci_high=math.expm1(b2 + z * s2),
        level_log=b2,
        level_se=s2,
        level_p_value=float(2 * stats.norm.sf(abs(b2 / s2))) if s2 > 0 else float("nan"),
        slope_change_log_per_day=b3,
        slope_change_ci_low=float(b3 - z * s3),
        slope_change_ci_high=float(b3 + z * s3),
        pre_trend_log_per_day=float(params[i_trend]),
        dispersion=dispersion,
        dispersion_kind=how,
        pearson_chi2_per_df=chi2_df,
        residual_autocorrelation_lag1=acf1,
        converged=converged,
        gof_note=_gof_note(family, chi2_df, acf1, converged, hac_maxlags),
        **common,
    )


def _all_zero_post(common: dict[str, Any]) -> ItsEffect:
    nan = float("nan")
    return ItsEffect(
        relative_change=-1.0,
        ci_low=nan,
        ci_high=nan,
        level_log=-math.inf,
        level_se=nan,
        level_p_value=nan,
        slope_change_log_per_day=nan,
        slope_change_ci_low=nan,
        slope_change_ci_high=nan,
        pre_trend_log_per_day=nan,
        dispersion=nan,
        dispersion_kind="",
        pearson_chi2_per_df=nan,
        residual_autocorrelation_lag1=nan,
        converged=False,
        gof_note=(
            "every observed post-window day is 0: the level change is -100 % and has no "
            "finite estimate or Wald interval"
        ),
        **common,
    )


def _gof_note(
    family: str, chi2_df: float, acf1: float, converged: bool, hac_maxlags: int | None
) -> str:
    """A short goodness-of-fit note for the report."""
    parts = [f"Pearson chi2/df = {chi2_df:.2f}"]
    if family == "quasi_poisson":
        parts.append("(the quasi-Poisson scale; over-dispersion is absorbed into it)")
    elif chi2_df > 1.5:
        parts.append("(above 1.5: more variation than the NB2 model expects)")
    elif chi2_df < 0.67:
        parts.append("(below 0.67: less variation than the NB2 model expects)")
    if math.isfinite(acf1):
        parts.append(f"lag-1 residual autocorrelation = {acf1:.2f}")
        if abs(acf1) > 0.2 and not hac_maxlags:
            parts.append(
                "(autocorrelated residuals: the model-based interval may be too narrow; "
                "consider hac_maxlags)"
            )
    if not converged:
        parts.append("THE FIT DID NOT CONVERGE: do not use the interval")
    return "; ".join(parts)


# ---------------------------------------------------------------------------------------------
# Recovery times
# ---------------------------------------------------------------------------------------------


def recovery_times(
    daily: pl.DataFrame,
    t0: dt.date | dt.datetime,
    thresholds: tuple[float, ...] = (0.5, 0.9, 1.0),
    *,
    pre_days: int = 90,
    post_days: int = 90,
    day_col: str = "day",
    count_col: str = "count",
    covered_col: str | None = None,
    window_days: int = 7,
    min_covered_days: int = 5,
) -> pl.DataFrame:
    """First post-window day whose trailing mean is back at ``threshold`` x the pre mean.

    The pre mean is the mean count of the observed pre-window days. On post-window day ``d``
    the trailing mean is the mean of the observed counts on days ``d - window_days + 1 .. d``,
    all inside the post window (so the first candidate day is the ``window_days``-th post
    day), defined only when at least ``min_covered_days`` of them are observed. Missing days
    are left out of both means; covered zero days count as 0.

    Returns one row per threshold: threshold, pre_mean, target (threshold x pre_mean), day
    (Date or null = not within the post window), days_after_cutoff (``day - d0``; null alike),
    trailing_mean (on that day), post_days (the window searched) and
    last_evaluated_days_after_cutoff (the last day whose trailing mean was defined: "not
    recovered" says nothing about the days after it).
    """
    if window_days < 1 or not 1 <= min_covered_days <= window_days:
        raise ValueError(
            f"need 1 <= min_covered_days ({min_covered_days}) <= window_days ({window_days})"
        )
    windows = event_windows(t0, pre_days, post_days)
    series = daily_series(
        daily, windows, day_col=day_col, count_col=count_col, covered_col=covered_col
    )
    pre_mean = series.filter(~pl.col("post")).get_column("count").mean()
    post = series.filter(pl.col("post")).sort("day")
    observed = pl.col("count").is_not_null().cast(pl.Int32)
    rolled = post.with_columns(
        _sum=pl.col("count").fill_null(0.0).rolling_sum(window_days),
        _n=observed.rolling_sum(window_days),
    ).with_columns(
        trailing_mean=pl.when(pl.col("_n") >= min_covered_days).then(pl.col("_sum") / pl.col("_n"))
    )
    evaluated = rolled.filter(pl.col("trailing_mean").is_not_null())
    last_evaluated = int(evaluated["t"].max()) if evaluated.height else None
    rows = []
    for threshold in thresholds:
        target = None if pre_mean is None else float(threshold) * float(pre_mean)
        hit = (
            rolled.filter(pl.col("trailing_mean") >= target).head(1)
            if target is not None
            else rolled.clear()
        )
        rows.append(
            {
                "threshold": float(threshold),
                "pre_mean": pre_mean,
                "target": target,
                "day": hit["day"][0] if hit.height else None,
                "days_after_cutoff": int(hit["t"][0]) if hit.height else None,
                "trailing_mean": float(hit["trailing_mean"][0]) if hit.height else None,
                "post_days": post_days,
                "last_evaluated_days_after_cutoff": last_evaluated,
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "threshold": pl.Float64,
            "pre_mean": pl.Float64,
            "target": pl.Float64,
            "day": pl.Date,
            "days_after_cutoff": pl.Int64,
            "trailing_mean": pl.Float64,
            "post_days": pl.Int64,
            "last_evaluated_days_after_cutoff": pl.Int64,
        },
    )
