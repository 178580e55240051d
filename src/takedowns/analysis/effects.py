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

    - ``log_arma``: ``log(count + 0.5)`` with ARMA(1,1) errors (AR(1) drift plus noise), GLS
      averaged over the error parameters' REML likelihood (:func:`log_arma_batch`). Given a
      *noise baseline* (``its_effect(noise_baseline=...)``: a year or more of days outside
      the event windows) the noise autocorrelation is learnt there instead (empirical short
      lags for campaign bursts, an AR(1) tail for the drift) and the window is fitted by GLS
      with it fixed: the form the calibration study found to hold its 95 % up to rho 0.9.

    Design terms beyond the above: US Thanksgiving and 24 Dec - 2 Jan dummies, one-day pulse
    dummies for known shocks (:func:`calendar_design`). Intervals (``cov_type``): Newey-West
    (HAC) with lags counted in *days* by default (a day left out leaves a gap, it does not
    shift the lags: :func:`hac_meat`), or model-based with the quasi-Poisson scale floored at
    1. Estimands per post window (:func:`estimands`): immediate ``exp(b_level) - 1``,
    window-average ``sum(mu_hat) / sum(mu_hat_cf) - 1`` and end-of-window ``exp(b_level +
    b_slope H) - 1``, against a counterfactual with and without the pre trend. Trap outages
    (:func:`outage_mask`), a washout donut after t0 and a post window ending at the next
    event are left out of the fit and counted. Which interval holds its 95 % on realistic
    series is measured by :mod:`takedowns.analysis.calibration`.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import polars as pl
import statsmodels.api as sm
from scipy import optimize, stats
from statsmodels.discrete.discrete_model import NegativeBinomial
from statsmodels.tools.sm_exceptions import ConvergenceWarning, HessianInversionWarning

Family = Literal["negative_binomial", "quasi_poisson", "log_arma"]
FAMILIES: tuple[str, ...] = ("negative_binomial", "quasi_poisson", "log_arma")

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


def event_windows(
    t0: dt.date | dt.datetime, pre_days: int, post_days: int, *, end_date: dt.date | None = None
) -> Windows:
    """The pre and post day ranges around ``t0`` (see the module docstring).

    ``end_date``: the post window ends before this day when it comes earlier (the next
    event's t0), so that windows do not overlap another event.
    """
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
        post_end=min(d0 + dt.timedelta(days=post_days), end_date or dt.date.max),
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


# ---------------------------------------------------------------------------------------------
# The design on a calendar
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Design:
    """The ITS design on every calendar day of the windows (missing days included as rows).

    ``x`` (n_days, k): intercept, trend ``t``, ``level`` (= post), ``slope_change``
    (= post x t), six weekday dummies (Monday the reference), holiday and pulse dummies; a
    dummy that is 0 on every day of the windows is not a column. ``t`` is the day relative to
    ``d0``; ``horizon`` H is the ``t`` of the last post day.
    """

    x: np.ndarray
    names: tuple[str, ...]
    t: np.ndarray
    post: np.ndarray
    horizon: int

    def index(self, name: str) -> int:
        """The column of a named term."""
        return self.names.index(name)

    def counterfactual(self, *, pre_trend: bool = True) -> np.ndarray:
        """The design without the takedown: level and slope change set to 0.

        With ``pre_trend=False`` the pre-window trend is frozen at its t0 value after t0 (the
        counterfactual stays at the level the pre trend had reached on day 0).
        """
        x = self.x.copy()
        x[:, [self.index("level"), self.index("slope_change")]] = 0.0
        if not pre_trend:
            x[:, self.index("trend")] = np.minimum(self.t, 0)
        return x


def thanksgiving(year: int) -> dt.date:
    """US Thanksgiving: the fourth Thursday of November."""
    first = dt.date(year, 11, 1)
    return first + dt.timedelta(days=(3 - first.weekday()) % 7 + 21)


def _holiday_columns(days: np.ndarray) -> dict[str, np.ndarray]:
    """Holiday dummies on ``days`` (datetime64[D]): US Thanksgiving and 24 Dec - 2 Jan."""
    years = days.astype("datetime64[Y]").astype(int) + 1970
    months = days.astype("datetime64[M]").astype(int) % 12 + 1
    dom = (days - days.astype("datetime64[M]")).astype(int) + 1
    tg = np.array([np.datetime64(thanksgiving(int(y)), "D") for y in np.unique(years)])
    return {
        "holiday_thanksgiving": np.isin(days, tg),
        "holiday_year_end": ((months == 12) & (dom >= 24)) | ((months == 1) & (dom <= 2)),
    }


def calendar_design(
    days: np.ndarray | list[dt.date],
    d0: dt.date,
    *,
    holidays: bool = True,
    pulse_dates: Sequence[dt.date] = (),
) -> Design:
    """The design (see :class:`Design`) on the given calendar days around ``d0``.

    ``pulse_dates``: known one-day shocks (e.g. a network briefly back online); each date
    inside the windows gets its own dummy (``pulse_YYYY-MM-DD``).
    """
    days = np.asarray(days, dtype="datetime64[D]")
    t = (days - np.datetime64(d0, "D")).astype(np.int64)
    post = t >= 0
    weekday = (days.astype(np.int64) + 3) % 7  # 0 = Monday (1970-01-01 was a Thursday)
    tf = t.astype(np.float64)
    columns = {
        "const": np.ones_like(tf),
        "trend": tf,
        "level": post.astype(np.float64),
        "slope_change": post * tf,
    }
    for day, name in enumerate(_WEEKDAY_NAMES, start=1):
        columns[f"weekday_{name}"] = (weekday == day).astype(np.float64)
    if holidays:
        columns.update({k: v.astype(np.float64) for k, v in _holiday_columns(days).items()})
    for pulse in sorted(set(pulse_dates)):
        columns[f"pulse_{pulse.isoformat()}"] = (days == np.datetime64(pulse, "D")).astype(float)
    kept = {k: v for k, v in columns.items() if k in _CORE_TERMS or v.any()}
    return Design(
        x=np.column_stack(list(kept.values())),
        names=tuple(kept),
        t=t,
        post=post,
        horizon=int(t.max()),
    )


_CORE_TERMS = ("const", "trend", "level", "slope_change")


def noise_design(
    days: np.ndarray | list[dt.date],
    observed: np.ndarray | None = None,
    *,
    holidays: bool = True,
    segment_gap_days: int = 14,
) -> np.ndarray:
    """The design of a noise baseline on consecutive calendar ``days`` (n_days, k).

    The baseline is cut into *segments* where more than ``segment_gap_days`` consecutive days
    are not ``observed`` (an event window left out, a long coverage gap); each segment gets
    its own intercept and trend (so a takedown's level change between segments does not
    enter the noise), all share six weekday dummies and (``holidays``) the holiday dummies.
    Columns that are 0 on every observed day are dropped.
    """
    days = np.asarray(days, dtype="datetime64[D]")
    if days.size and np.any(np.diff(days.astype(np.int64)) != 1):
        raise ValueError("a noise baseline must be given on consecutive calendar days")
    seen = np.ones(days.size, dtype=bool) if observed is None else np.asarray(observed, bool)
    t = np.arange(days.size, dtype=np.float64)
    idx = np.flatnonzero(seen)
    breaks = idx[1:][np.diff(idx) > segment_gap_days + 1]
    segment = np.searchsorted(breaks, np.arange(days.size), side="right")
    columns = []
    for seg in range(breaks.size + 1):
        inside = segment == seg
        if not (inside & seen).any():
            continue
        centre = t[inside & seen].mean()
        columns += [inside.astype(np.float64), np.where(inside, t - centre, 0.0)]
    weekday = (days.astype(np.int64) + 3) % 7
    columns += [(weekday == day).astype(np.float64) for day in range(1, 7)]
    if holidays:
        columns += [v.astype(np.float64) for v in _holiday_columns(days).values()]
    x = np.column_stack(columns) if columns else np.zeros((days.size, 0))
    return x[:, (x[seen] != 0).any(axis=0)]


# ---------------------------------------------------------------------------------------------
# Trap outages
# ---------------------------------------------------------------------------------------------


def outage_mask(counts: np.ndarray, *, min_share: float = 0.3, window_days: int = 15) -> np.ndarray:
    """Days whose count is below ``min_share`` x the centred rolling median: trap outages.

    ``counts`` (..., n_days) with NaN for days already missing. The median runs over the
    ``window_days`` days centred on each day (observed days only; shorter at the ends). A
    centred window keeps a real step down at t0 from being read as an outage: on the first
    post days most of the window already lies after the step. Missing days are not flagged.
    """
    if not 0 < min_share < 1:
        raise ValueError(f"min_share must lie in (0, 1), not {min_share}")
    if window_days < 3 or window_days % 2 == 0:
        raise ValueError(f"window_days must be odd and at least 3, not {window_days}")
    values = np.asarray(counts, dtype=np.float64)
    return np.isfinite(values) & (values < min_share * _rolling_median(values, window_days))


def _rolling_median(values: np.ndarray, window_days: int) -> np.ndarray:
    """Median of the observed values in the centred ``window_days`` window (shorter at ends)."""
    half = window_days // 2
    pad = [(0, 0)] * (values.ndim - 1) + [(half, half)]
    padded = np.pad(values, pad, constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, window_days, axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing window
        return np.nanmedian(windows, axis=-1)


# ---------------------------------------------------------------------------------------------
# Batched fits: many series (rows of y, NaN = left out) on one design
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchFit:
    """Coefficients of many series on one design, with their covariance.

    ``params`` (S, k); ``cov`` (S, k, k) the covariance the intervals use; ``critical`` (S,)
    the two-sided critical value for the requested confidence; ``mu`` (S, n_days) the fitted
    means on every calendar day; ``dispersion`` (S,) the family's dispersion; ``n_obs`` (S,)
    the days in the fit; ``converged`` (S,); ``persistence`` (S,) the AR coefficient of the
    noise tail learnt on a noise baseline (:func:`noise_persistence`; None without one).
    """

    params: np.ndarray
    cov: np.ndarray
    critical: np.ndarray
    mu: np.ndarray
    dispersion: np.ndarray
    n_obs: np.ndarray
    converged: np.ndarray
    cov_type: str
    persistence: np.ndarray | None = None  # the noise tail's AR coefficient (noise baseline)


def _solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched ``a^-1 b`` with a tiny ridge (a term without observed days gets 0, not NaN)."""
    k = a.shape[-1]
    ridge = 1e-10 * np.trace(a, axis1=-2, axis2=-1)[..., None, None] / k + 1e-300
    return np.linalg.solve(a + ridge * np.eye(k), b)


def _identified_columns(observed: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(S, k): whether each column has at least one observed non-zero day, per series."""
    return (observed.astype(np.float64) @ (x != 0)) > 0


def _identified(observed: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Number of columns with at least one observed non-zero day, per series."""
    return _identified_columns(observed, x).sum(axis=1)


def fit_poisson_batch(
    y: np.ndarray, x: np.ndarray, *, max_iter: int = 60, tol: float = 1e-9
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Poisson log-linear maximum likelihood for every row of ``y`` by batched IRLS.

    Returns ``(params (S,k), bread (S,k,k) = (X' diag(mu) X)^-1 over observed days,
    mu (S,n) on every day, converged (S,))``. NaN in ``y`` = day left out.
    """
    observed = np.isfinite(y)
    y0 = np.where(observed, y, 0.0)
    w = observed.astype(np.float64)
    start = np.log(y0 + 1.0)
    params = _solve(
        np.einsum("sn,ni,nj->sij", w, x, x), np.einsum("sn,ni->si", w * start, x)[..., None]
    )[..., 0]
    converged = np.zeros(y.shape[0], dtype=bool)
    for _ in range(max_iter):
        eta = np.clip(params @ x.T, -700, 700)
        mu = np.exp(eta)
        weights = mu * w
        z = eta + (y0 - mu) / mu
        info = np.einsum("sn,ni,nj->sij", weights, x, x)
        new = _solve(info, np.einsum("sn,ni->si", weights * z, x)[..., None])[..., 0]
        step = np.max(np.abs(new - params), axis=1)
        params = new
        converged = step < tol * (1.0 + np.max(np.abs(params), axis=1))
        if converged.all():
            break
    mu = np.exp(np.clip(params @ x.T, -700, 700))
    info = np.einsum("sn,ni,nj->sij", mu * w, x, x)
    bread = _solve(info, np.broadcast_to(np.eye(x.shape[1]), info.shape))
    return params, bread, mu, converged


def hac_meat(scores: np.ndarray, lag_days: int) -> np.ndarray:
    """Newey-West (Bartlett) sum of score cross-products with lags counted in days.

    ``scores`` (S, n_days, k) on consecutive calendar days, 0 on days left out of the fit, so
    lag ``l`` pairs days exactly ``l`` days apart whatever the gaps. Weight ``1 - l/(L+1)``.
    """
    meat = np.einsum("sni,snj->sij", scores, scores)
    for lag in range(1, min(lag_days, scores.shape[1] - 1) + 1):
        gamma = np.einsum("sni,snj->sij", scores[:, lag:], scores[:, :-lag])
        meat += (1.0 - lag / (lag_days + 1.0)) * (gamma + np.swapaxes(gamma, 1, 2))
    return meat


def fixed_b_critical(b: np.ndarray | float, confidence: float = 0.95) -> np.ndarray:
    """Two-sided 95 % critical value of a Bartlett-HAC t statistic under fixed-b asymptotics.

    Kiefer & Vogelsang (2005): ``1.96 + 2.9694 b + 0.4160 b^2 - 0.5324 b^3`` with
    ``b = (L + 1) / T`` (bandwidth over sample length); only the 95 % polynomial is known here.
    """
    if not math.isclose(confidence, 0.95):
        raise ValueError("fixed-b critical values are implemented for 95 % intervals only")
    b = np.clip(np.asarray(b, dtype=np.float64), 0.0, 1.0)
    return 1.96 + 2.9694 * b + 0.4160 * b**2 - 0.5324 * b**3


def default_lag_days(n_days: int) -> int:
    """The default Newey-West bandwidth in days for a fit spanning ``n_days`` calendar days."""
    return max(7, round(DEFAULT_LAG_SHARE * n_days))


# The bandwidth as a share of the span (b = (L+1)/T); with fixed-b critical values a wide
# bandwidth keeps the size honest under persistent drift (see the calibration study).
DEFAULT_LAG_SHARE = 0.3


def _critical(
    confidence: float, shape: tuple[int, ...], df: np.ndarray | None = None
) -> np.ndarray:
    """Normal (``df`` None) or Student-t two-sided critical values."""
    q = 0.5 + confidence / 2.0
    if df is None:
        return np.full(shape, stats.norm.ppf(q))
    return stats.t.ppf(q, np.maximum(df, 1))


def quasi_poisson_batch(
    y: np.ndarray,
    x: np.ndarray,
    *,
    cov_type: Literal["hac", "model"] = "hac",
    lag_days: int | None = None,
    critical: Literal["fixed_b", "normal"] = "fixed_b",
    confidence: float = 0.95,
) -> BatchFit:
    """Quasi-Poisson ITS fits of every row of ``y`` (NaN = left out).

    The coefficients are the Poisson maximum-likelihood ones. ``cov_type='model'``: the
    Poisson covariance times the Pearson scale floored at 1 (data can not be less variable
    than Poisson); ``'hac'``: the Newey-West sandwich with ``lag_days`` day lags (default
    :func:`default_lag_days`), a small-sample factor ``n/(n-k)`` and fixed-b (default) or
    normal critical values. ``dispersion`` is the floored scale either way.
    """
    params, bread, mu, converged = fit_poisson_batch(y, x)
    observed = np.isfinite(y)
    n_obs = observed.sum(axis=1)
    k = _identified(observed, x)
    resid = np.where(observed, y - mu, 0.0)
    scale = np.maximum(1.0, (resid**2 / mu).sum(axis=1) / np.maximum(n_obs - k, 1))
    if cov_type == "model":
        cov = scale[:, None, None] * bread
        return BatchFit(
            params,
            cov,
            _critical(confidence, scale.shape),
            mu,
            scale,
            n_obs,
            converged,
            "model (quasi-Poisson scale floored at 1)",
        )
    span = x.shape[0]
    lags = default_lag_days(span) if lag_days is None else lag_days
    meat = hac_meat(resid[:, :, None] * x[None, :, :], lags)
    cov = (n_obs / np.maximum(n_obs - k, 1))[:, None, None] * (bread @ meat @ bread)
    crit = (
        np.full(scale.shape, float(fixed_b_critical((lags + 1) / span, confidence)))
        if critical == "fixed_b"
        else _critical(confidence, scale.shape)
    )
    return BatchFit(
        params,
        cov,
        crit,
        mu,
        scale,
        n_obs,
        converged,
        f"HAC(lag_days={lags}, {critical.replace('_', '-')})",
    )


# The grid of the AR(1)-plus-noise error model: the AR coefficient (uniform prior on these
# points) and the log ratio of the drift's innovation variance to the white noise variance.
_PHI_GRID = np.linspace(0.0, 0.98, 15)
_LOG_Q_GRID = np.log(np.array([1e-3, 0.01, 0.05, 0.2, 1.0, 5.0, 50.0]))


def _gls_profile(
    data: np.ndarray, observed: np.ndarray, phi: np.ndarray, q: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Profile likelihood of a regression with AR(1)-plus-noise errors, by a Kalman filter.

    ``data`` (S, n, k+1): the design columns then the response, per series; ``phi``, ``q``
    (S, G) parameter points. The filter for the error process (state ``a_t = phi a_{t-1} +
    eta``, observation ``a_t + eps``, ``var eta = q var eps``) runs on every column with the
    same gains, which turns the regression into OLS on standardized innovations (GLS); a day
    left out is a missing observation, so gaps are handled exactly in days. The criterion is
    the restricted (REML) likelihood, which does not shrink the AR coefficient for the
    degrees of freedom the trend and step terms take. Returns
    ``(reml (S,G), beta (S,G,k), XtX (S,G,k,k), rss (S,G))``.
    """
    s, g = phi.shape
    m = np.zeros((s, g, k + 1))
    p = q / (1.0 - phi**2)
    cross = np.zeros((s, g, k + 1, k + 1))
    logdet = np.zeros((s, g))
    for day in range(data.shape[1]):
        f = p + 1.0
        obs = observed[:, day][:, None]
        v = data[:, day, None, :] - m
        vs = v * (obs / np.sqrt(f))[..., None]
        cross += vs[..., :, None] * vs[..., None, :]
        logdet += np.where(obs, np.log(f), 0.0)
        gain = np.where(obs, p / f, 0.0)
        m = phi[..., None] * (m + gain[..., None] * v)
        p = phi**2 * p * (1.0 - gain) + q
    absent = ~_identified_columns(observed, data[0, :, :k])
    xtx = cross[..., :k, :k] + (absent[:, None, :, None] * np.eye(k))  # an absent term: b = 0
    xty, yty = cross[..., :k, k], cross[..., k, k]
    beta = np.linalg.solve(xtx, xty[..., None])[..., 0]
    rss = np.maximum(yty - np.einsum("sgk,sgk->sg", beta, xty), 1e-300)
    dof = (observed.sum(axis=1) - (~absent).sum(axis=1))[:, None]
    _, logdet_xtx = np.linalg.slogdet(xtx)
    reml = -0.5 * dof * np.log(rss / dof) - 0.5 * logdet - 0.5 * logdet_xtx
    return reml, beta, xtx, rss


def _log_data(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The filter's input ``(S, n, k+1)`` (design columns, then ``log(y + 0.5)``), observed."""
    observed = np.isfinite(y)
    k = x.shape[1]
    data = np.concatenate(
        [np.broadcast_to(x, (*y.shape, k)), np.log(np.where(observed, y, 0.0) + 0.5)[..., None]],
        axis=-1,
    )
    return data, observed


# The noise autocorrelation of a baseline: lags below this keep their empirical values
# (campaign bursts, whatever they are), lags from it on follow a fitted AR(1) tail.
NOISE_TAIL_FROM = 4
NOISE_MAX_LAG = 40


def noise_autocorrelation(
    y: np.ndarray,
    x: np.ndarray,
    n_lags: int,
    *,
    tail_from: int = NOISE_TAIL_FROM,
    max_lag: int = NOISE_MAX_LAG,
) -> np.ndarray:
    """Autocorrelation ``(S, n_lags + 1)`` of the log-count noise of a baseline, per series.

    ``y`` (S, n_days) counts on consecutive calendar days of a noise baseline (NaN = left
    out), ``x`` (n_days, k) its design (:func:`noise_design`). The residuals of
    ``log(y + 0.5)`` on ``x`` (least squares per series) give a variogram over pairs of
    observed days ``h = 1 .. max_lag`` days apart; its tail ``h >= tail_from`` is fitted as
    ``sill - b phi**h`` (an AR(1) drift over a noise floor,
    :func:`takedowns.analysis.resampling.fit_tail`), which sets the variance and the long lags, and
    the short lags keep their empirical values. Unlike a Gaussian ARMA(1,1) likelihood, the
    AR coefficient is then not pulled down by multi-day campaign bursts.

    """
    from takedowns.analysis.resampling import fit_tail

    observed = np.isfinite(y)
    z = np.log(np.where(observed, y, 0.0) + 0.5)
    w = observed.astype(np.float64)
    beta = _solve(np.einsum("sn,ni,nj->sij", w, x, x), np.einsum("sn,ni->si", w * z, x)[..., None])
    resid = np.where(observed, z - beta[..., 0] @ x.T, np.nan)
    lags = min(max_lag, y.shape[1] - 1)
    gamma, pairs = _residual_variogram(resid, lags)
    phi, sill, b = fit_tail(gamma, pairs, tail_from)
    h = np.arange(n_lags + 1)
    cov = b[:, None] * phi[:, None] ** h
    short = min(tail_from, n_lags + 1)
    cov[:, 1:short] = sill[:, None] - gamma[:, : short - 1]
    cov[:, 0] = sill
    with np.errstate(divide="ignore", invalid="ignore"):
        acf = cov / sill[:, None]
    return np.where(sill[:, None] > 0, acf, (h == 0).astype(np.float64))


def noise_persistence(acf: np.ndarray, tail_from: int = NOISE_TAIL_FROM) -> np.ndarray:
    """The AR coefficient of the tail of a :func:`noise_autocorrelation` (``(S,)``): the ratio
    of two consecutive tail lags (0 where the tail is empty). This is the persistence the
    calibration study's ``rho`` stands for."""
    if acf.shape[-1] <= tail_from + 1:
        return np.full(acf.shape[:-1], np.nan)
    a, b = acf[..., tail_from], acf[..., tail_from + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a > 0, np.clip(b / np.where(a > 0, a, 1.0), 0.0, 1.0), 0.0)


def _residual_variogram(resid: np.ndarray, lags: int) -> tuple[np.ndarray, np.ndarray]:
    """Variogram ``(S, lags)`` of residuals on consecutive days (NaN = left out) over the
    observed pairs ``h = 1 .. lags`` days apart, and the mean pair count per lag."""
    gamma = np.empty((resid.shape[0], lags))
    pairs = np.empty(lags)
    for lag in range(1, lags + 1):
        diff = resid[:, lag:] - resid[:, :-lag]
        ok = np.isfinite(diff)
        gamma[:, lag - 1] = 0.5 * np.where(ok, diff * diff, 0.0).sum(1) / np.maximum(ok.sum(1), 1)
        pairs[lag - 1] = ok.sum(1).mean()
    return gamma, pairs


def _toeplitz_chol(acf: np.ndarray, n: int, observed: np.ndarray) -> np.ndarray:
    """Cholesky factors ``(S, n, n)`` of the noise correlation of ``n`` days, per series.

    A day left out is made independent with unit variance (its row then carries nothing:
    its data are set to 0). A correlation that is not positive definite (empirical short
    lags) gets a ridge until it is.
    """
    lag = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    corr = acf[:, lag]
    keep = observed[:, :, None] & observed[:, None, :]
    eye = np.eye(n, dtype=bool)
    corr = np.where(keep, corr, eye.astype(np.float64))
    for ridge in (0.0, 1e-6, 1e-3, 1e-2, 0.1):
        try:
            return np.linalg.cholesky(corr + ridge * np.eye(n))
        except np.linalg.LinAlgError:
            continue
    values, vectors = np.linalg.eigh(corr)  # last resort: clip the spectrum
    fixed = (vectors * np.maximum(values, 1e-3)[:, None, :]) @ np.swapaxes(vectors, 1, 2)
    return np.linalg.cholesky(fixed)


def effective_days(acf: np.ndarray, n_days: np.ndarray | int) -> np.ndarray:
    """Effective number of independent days in ``n_days`` days of a series with ``acf``.

    ``n / (1 + 2 sum_{h=1}^{n-1} (1 - h/n) acf(h))``: how many independent days would pin
    the long-run variance down as well (an AR(1) at 0.9 gives about ``n / 19``), at least 1.
    """
    n = np.asarray(n_days, dtype=np.float64)
    lags = np.arange(1, acf.shape[-1])
    taper = np.clip(1.0 - lags / n[..., None], 0.0, None)
    return np.maximum(n / (1.0 + 2.0 * (taper * acf[..., 1:]).sum(axis=-1)), 1.0)


def _gls_fixed_noise(
    y: np.ndarray,
    x: np.ndarray,
    acf: np.ndarray,
    confidence: float,
    *,
    baseline_days: np.ndarray | None = None,
    chunk: int = 128,
) -> BatchFit:
    """GLS of ``log(y + 0.5)`` on ``x`` with the noise correlation ``acf`` fixed, per series.

    The scale is estimated on the window (``RSS / (n - k)`` of the whitened residuals). The
    critical values are Student-t on ``n - k`` degrees of freedom, or, when the correlation
    was estimated on ``baseline_days`` observed baseline days, on the Satterthwaite
    combination ``1 / (1 / (n - k) + 2 / n_eff)`` with ``n_eff`` the baseline's effective
    days (:func:`effective_days`): under a persistent drift a year of baseline holds only a
    few dozen independent looks at the long-run variance. (Satterthwaite: ``df = 2 / CV^2``
    of the variance estimate, and the squared coefficients of variation of independent
    factors add: ``2 / (n - k)`` for the window's scale, and, by the delta method, ``4 / n_eff``
    for the long-run variance ``s^2 / (1 - phi)^2`` of an AR(1) whose ``phi`` was estimated
    on the baseline: ``Var(phi) = (1 - phi^2) / n``.)
    """
    s, n = y.shape
    k = x.shape[1]
    observed = np.isfinite(y)
    z = np.where(observed, np.log(np.where(observed, y, 0.0) + 0.5), 0.0)
    params = np.empty((s, k))
    cov = np.empty((s, k, k))
    n_obs = observed.sum(axis=1)
    k_id = _identified(observed, x)
    absent = ~_identified_columns(observed, x)
    for start in range(0, s, chunk):
        rows = slice(start, min(s, start + chunk))
        chol = _toeplitz_chol(acf[rows], n, observed[rows])
        data = np.concatenate(
            [np.where(observed[rows, :, None], x[None], 0.0), z[rows, :, None]], axis=-1
        )
        white = np.linalg.solve(chol, data)  # L^-1 [X y]
        cross = np.einsum("sni,snj->sij", white, white)
        xtx = cross[:, :k, :k] + absent[rows, :, None] * np.eye(k)
        beta = np.linalg.solve(xtx, cross[:, :k, k, None])[..., 0]
        rss = np.maximum(cross[:, k, k] - np.einsum("sk,sk->s", beta, cross[:, :k, k]), 1e-300)
        sigma2 = rss / np.maximum(n_obs[rows] - k_id[rows], 1)
        params[rows] = beta
        cov[rows] = sigma2[:, None, None] * np.linalg.inv(xtx)
    df = np.maximum(n_obs - k_id, 1).astype(np.float64)
    if baseline_days is not None:
        df = 1.0 / (1.0 / df + 2.0 / effective_days(acf, baseline_days))
    return BatchFit(
        params=params,
        cov=cov,
        critical=_critical(confidence, (s,), df),
        mu=np.exp(params @ x.T),
        dispersion=acf[:, 1],
        persistence=noise_persistence(acf),
        n_obs=n_obs,
        converged=np.ones(s, dtype=bool),
        cov_type="GLS, noise autocorrelation from the noise baseline",
    )


def log_arma_batch(
    y: np.ndarray,
    x: np.ndarray,
    *,
    confidence: float = 0.95,
    noise_y: np.ndarray | None = None,
    noise_x: np.ndarray | None = None,
) -> BatchFit:
    """Log-linear ITS with ARMA(1,1) errors (an AR(1) drift plus white noise) per row of ``y``.

    ``log(y + 0.5) = X b + a_t + e_t`` with ``a_t`` AR(1) and ``e_t`` white: the ARMA(1,1)
    that a persistent log-volume drift under count noise produces. The error parameters are
    not fixed at one estimate (on short windows their estimate is biased towards no
    persistence, and intervals that ignore it are too narrow): the GLS fits on a grid of
    (AR coefficient, variance ratio) are averaged with weights proportional to the restricted
    (REML) likelihood, and the covariance adds the spread of the grid's estimates to their
    average GLS covariance ``s^2 (X' S^-1 X)^-1``, ``s^2 = RSS / (n - k)`` (law of total
    variance). Critical values: Student-t on ``n - k - 2`` degrees of freedom. ``dispersion``
    is the weighted mean AR coefficient.

    ``noise_y`` (S, n_base) and ``noise_x`` (n_base, k_base): a long *noise baseline* of the
    same series (days outside every event window, on consecutive calendar days, NaN = left
    out) with its own design (:func:`noise_design`). On a 120-180-day window alone a
    persistent drift's AR coefficient is estimated too low, and a Gaussian ARMA(1,1) reads
    multi-day campaign bursts as a weaker drift: the intervals come out too narrow. With a
    baseline the noise autocorrelation is learnt there instead (:func:`noise_autocorrelation`:
    empirical short lags, a fitted AR(1) tail) and the window is fitted by GLS with it fixed
    (:func:`_gls_fixed_noise`).
    """
    s = y.shape[0]
    if (noise_y is None) != (noise_x is None):
        raise ValueError("give both noise_y and noise_x, or neither")
    if noise_y is not None and noise_x is not None:
        if noise_y.shape != (s, noise_x.shape[0]):
            raise ValueError(
                f"noise_y {noise_y.shape} must be (n_series={s}, n_days={noise_x.shape[0]})"
            )
        acf = noise_autocorrelation(noise_y, noise_x, y.shape[1])
        n_base = np.isfinite(noise_y).sum(axis=1)
        return _gls_fixed_noise(y, x, acf, confidence, baseline_days=n_base)
    data, observed = _log_data(y, x)
    k = x.shape[1]
    grid = np.meshgrid(_PHI_GRID, _LOG_Q_GRID, indexing="ij")
    phi, logq = (np.tile(a.ravel(), (s, 1)) for a in grid)
    reml, beta, xtx, rss = _gls_profile(data, observed, phi, np.exp(logq), k)
    weights = np.exp(reml - reml.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    n_obs = observed.sum(axis=1)
    k_id = _identified(observed, x)
    sigma2 = rss / np.maximum(n_obs - k_id, 1)[:, None]
    cov_g = sigma2[..., None, None] * np.linalg.inv(xtx)
    params = np.einsum("sg,sgk->sk", weights, beta)
    spread = beta - params[:, None, :]
    outer = spread[..., :, None] * spread[..., None, :]
    cov = np.einsum("sg,sgij->sij", weights, cov_g + outer)
    return BatchFit(
        params=params,
        cov=cov,
        critical=_critical(confidence, (s,), n_obs - k_id - 2),
        mu=np.exp(params @ x.T),
        dispersion=np.einsum("sg,sg->s", weights, phi),
        n_obs=n_obs,
        converged=np.ones(s, dtype=bool),
        cov_type="ARMA(1,1) errors (GLS averaged over the REML likelihood)",
    )


# ---------------------------------------------------------------------------------------------
# Estimands
# ---------------------------------------------------------------------------------------------

ESTIMANDS = ("immediate", "window_average", "window_average_flat", "end", "end_flat")


def estimands(fit: BatchFit, design: Design) -> dict[str, np.ndarray]:
    """The relative effects of the takedown and their intervals, per series.

    For each estimand ``e`` in :data:`ESTIMANDS` the keys ``e``, ``e_low``, ``e_high`` hold
    the estimate and the bounds (relative changes: -0.6 = 60 % less) and ``e_se`` the
    standard error of its log:

    - ``immediate``: ``exp(b_level) - 1``, the change on day t0;
    - ``window_average``: ``sum(mu_hat) / sum(mu_hat_cf) - 1`` over the post days (every
      calendar day of the post window, also those left out of the fit), the counterfactual
      continuing the pre trend; ``window_average_flat`` with the pre trend frozen at t0;
    - ``end``: ``exp(b_level + b_slope H) - 1``, the change on the last post day H;
      ``end_flat``: against the frozen pre trend, ``exp(b_level + (b_trend + b_slope) H) - 1``.

    Intervals: Wald on the log scale with the fit's covariance and critical value (delta
    method for the window averages), back-transformed.
    """
    k = fit.params.shape[1]
    level, slope, trend = design.index("level"), design.index("slope_change"), design.index("trend")
    gradients: dict[str, np.ndarray] = {}
    values: dict[str, np.ndarray] = {}
    unit = np.eye(k)
    h = float(design.horizon)
    gradients["immediate"] = np.broadcast_to(unit[level], fit.params.shape)
    gradients["end"] = np.broadcast_to(unit[level] + h * unit[slope], fit.params.shape)
    gradients["end_flat"] = np.broadcast_to(
        unit[level] + h * (unit[slope] + unit[trend]), fit.params.shape
    )
    for name in ("immediate", "end", "end_flat"):
        values[name] = np.einsum("sk,sk->s", gradients[name], fit.params)
    post = design.post
    x_post = design.x[post]
    for name, pre_trend in (("window_average", True), ("window_average_flat", False)):
        x_cf = design.counterfactual(pre_trend=pre_trend)[post]
        eta, eta_cf = fit.params @ x_post.T, fit.params @ x_cf.T
        shift = eta.max(axis=1, keepdims=True)
        w, w_cf = np.exp(eta - shift), np.exp(eta_cf - shift)
        values[name] = np.log(w.sum(axis=1)) - np.log(w_cf.sum(axis=1))
        gradients[name] = (w @ x_post) / w.sum(axis=1, keepdims=True) - (w_cf @ x_cf) / w_cf.sum(
            axis=1, keepdims=True
        )
    out: dict[str, np.ndarray] = {}
    for name in ESTIMANDS:
        g = gradients[name]
        se = np.sqrt(np.maximum(np.einsum("si,sij,sj->s", g, fit.cov, g), 0.0))
        out[name] = np.expm1(values[name])
        out[f"{name}_low"] = np.expm1(values[name] - fit.critical * se)
        out[f"{name}_high"] = np.expm1(values[name] + fit.critical * se)
        out[f"{name}_se"] = se
    return out


@dataclass(frozen=True)
class ItsEffect:
    """The fitted interrupted time series of one event and family (see :func:`its_effect`).

    ``relative_change`` / ``ci_low`` / ``ci_high`` are the immediate effect ``exp(b_level) -
    1`` on day t0. ``window_average*``: ``sum(mu_hat) / sum(mu_hat_cf) - 1`` over the post
    window (the counterfactual continuing the pre trend; ``*_flat`` with the pre trend frozen
    at t0). ``end_of_window*``: the effect on the last post day (``end_horizon_days`` after
    t0), ``exp(b_level + b_slope H) - 1`` (``*_flat``: against the frozen pre trend).
    """

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
    window_average: float
    window_average_ci_low: float
    window_average_ci_high: float
    window_average_flat: float
    window_average_flat_ci_low: float
    window_average_flat_ci_high: float
    end_of_window: float
    end_of_window_ci_low: float
    end_of_window_ci_high: float
    end_of_window_flat: float
    end_of_window_flat_ci_low: float
    end_of_window_flat_ci_high: float
    end_horizon_days: int
    post_end: dt.date
    dispersion: float
    dispersion_kind: str
    n_days_pre: int
    n_days_post: int
    n_days_missing_pre: int
    n_days_missing_post: int
    n_days_outage: int
    n_days_donut: int
    n_zero_days: int
    transition_day_dropped: bool
    pearson_chi2_per_df: float
    residual_autocorrelation_lag1: float
    converged: bool
    cov_type: str
    critical_value: float
    gof_note: str
    noise_persistence: float | None = None  # log_arma with a noise baseline: its tail's AR

    def as_row(self) -> dict[str, Any]:
        """The effect as one flat record (for a results table)."""
        return asdict(self)


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
    """Fit the NB2 family: (params, covariance, fitted means, alpha, converged, how)."""
    poisson = sm.GLM(y, x, family=sm.families.Poisson())
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


def negative_binomial_fit(
    y: np.ndarray,
    x: np.ndarray,
    *,
    cov_type: Literal["hac", "model"] = "hac",
    lag_days: int = 7,
    confidence: float = 0.95,
) -> tuple[BatchFit, str]:
    """NB2 maximum-likelihood ITS of one series ``y`` (n_days, NaN = left out) as a batch of 1.

    ``cov_type='hac'``: Newey-West sandwich in days of the NB2 scores ``x (y - mu) / (1 +
    alpha mu)`` around the inverse information of the coefficients, factor ``n/(n-k)``,
    normal critical values; ``'model'``: the inverse information. Returns the fit and how
    alpha was found.
    """
    observed = np.isfinite(y)
    keep = _identified_columns(observed[None], x)[0]
    xo = x[observed][:, keep]
    params_o, cov_o, _, alpha, converged, how = _fit(y[observed], xo, "negative_binomial", {})
    k = x.shape[1]
    params = np.zeros(k)
    params[keep] = params_o
    mu = np.exp(x @ params)
    cov = np.zeros((k, k))
    if cov_type == "hac":
        w = np.where(observed, 1.0 / (1.0 + alpha * mu), 0.0)
        info = (x * (mu * w)[:, None]).T @ x + np.diag(~keep).astype(float)
        bread = np.linalg.inv(info)
        scores = (np.where(observed, y - mu, 0.0) * w)[:, None] * x
        n, k_id = int(observed.sum()), int(keep.sum())
        cov = n / max(n - k_id, 1) * bread @ hac_meat(scores[None], lag_days)[0] @ bread
        cov[~keep] = 0.0
        cov[:, ~keep] = 0.0
        kind = f"HAC(lag_days={lag_days}, normal)"
    else:
        cov[np.ix_(keep, keep)] = cov_o
        kind = "model"
    fit = BatchFit(
        params=params[None],
        cov=cov[None],
        critical=_critical(confidence, (1,)),
        mu=mu[None],
        dispersion=np.array([alpha]),
        n_obs=np.array([int(observed.sum())]),
        converged=np.array([converged]),
        cov_type=kind,
    )
    return fit, how


def _fit_family(
    y: np.ndarray,
    design: Design,
    family: str,
    cov_type: Literal["hac", "model"],
    lag_days: int,
    confidence: float,
    noise: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[BatchFit, str]:
    """Fit one family to one series on the design: (fit as a batch of 1, dispersion kind).

    ``noise``: the noise baseline's counts and design (:func:`noise_baseline_series`), used
    by ``log_arma`` only.
    """
    if family == "negative_binomial":
        return negative_binomial_fit(
            y, design.x, cov_type=cov_type, lag_days=lag_days, confidence=confidence
        )
    if family == "quasi_poisson":
        fit = quasi_poisson_batch(
            y[None],
            design.x,
            cov_type=cov_type,
            lag_days=lag_days,
            critical="normal",
            confidence=confidence,
        )
        return fit, "Pearson scale (floored at 1)"
    if noise is not None:
        fit = log_arma_batch(
            y[None], design.x, confidence=confidence, noise_y=noise[0][None], noise_x=noise[1]
        )
        return fit, "lag-1 noise autocorrelation (noise baseline)"
    return log_arma_batch(y[None], design.x, confidence=confidence), "AR coefficient (mean)"


# Fewer observed noise-baseline days than this cannot pin the noise autocorrelation down.
MIN_NOISE_DAYS = 120


def noise_baseline_series(
    noise_baseline: pl.DataFrame,
    windows: Windows,
    *,
    day_col: str = "day",
    count_col: str = "count",
    covered_col: str | None = None,
    holidays: bool = True,
    outage_share: float | None = None,
    outage_window_days: int = 15,
    segment_gap_days: int = 14,
) -> tuple[np.ndarray, np.ndarray]:
    """The noise baseline's counts (NaN = left out) on consecutive days, and its design.

    ``noise_baseline``: daily counts like ``daily`` (typically the same table: days outside
    every event window of the study; the caller leaves the other events' windows out). The
    event's own windows are left out here; missing and uncovered days are NaN, outage days
    too when ``outage_share`` is given. Design: :func:`noise_design`.
    """
    first, last = noise_baseline[day_col].min(), noise_baseline[day_col].max()
    if first is None or last is None:
        raise InsufficientDataError("the noise baseline has no days")
    span = Windows(
        d0=first,  # type: ignore[arg-type]
        pre_first=first,  # type: ignore[arg-type]
        post_first=first,  # type: ignore[arg-type]
        post_end=last + dt.timedelta(days=1),  # type: ignore[operator]
        transition_day_dropped=False,
    )
    series = daily_series(
        noise_baseline, span, day_col=day_col, count_col=count_col, covered_col=covered_col
    )
    days = series["day"].to_numpy()
    y = series["count"].to_numpy().astype(np.float64)
    inside = (days >= np.datetime64(windows.pre_first)) & (days < np.datetime64(windows.post_end))
    y[inside] = np.nan
    if outage_share is not None:
        y[outage_mask(y, min_share=outage_share, window_days=outage_window_days)] = np.nan
    observed = np.isfinite(y)
    if observed.sum() < MIN_NOISE_DAYS:
        raise InsufficientDataError(
            f"the noise baseline has {int(observed.sum())} observed days outside the event "
            f"window; it needs {MIN_NOISE_DAYS}"
        )
    x = noise_design(days, observed, holidays=holidays, segment_gap_days=segment_gap_days)
    return y, x


def _prepare_series(
    series: pl.DataFrame,
    windows: Windows,
    *,
    donut_days: int,
    outage_share: float | None,
    outage_window_days: int,
) -> tuple[np.ndarray, dict[str, int]]:
    """The counts to fit (NaN = left out) and the days left out by kind.

    Missing days (no coverage) by window, donut days (``0 <= t < donut_days``), outage days
    (``count < outage_share x`` the centred rolling median, when ``outage_share`` is given).
    """
    y = series["count"].to_numpy().astype(np.float64)
    t = series["t"].to_numpy()
    post = series["post"].to_numpy()
    missing = ~np.isfinite(y)
    outage = (
        outage_mask(y, min_share=outage_share, window_days=outage_window_days)
        if outage_share is not None
        else np.zeros_like(missing)
    )
    donut = (t >= 0) & (t < donut_days) & ~missing
    y = np.where(outage | donut, np.nan, y)
    counts = {
        "missing_pre": int((missing & ~post).sum()),
        "missing_post": int((missing & post).sum()),
        "outage": int((outage & ~donut).sum()),
        "donut": int(donut.sum()),
    }
    return y, counts


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
    cov_type: Literal["hac", "model"] = "hac",
    min_days_pre: int = 14,
    min_days_post: int = 5,
    holidays: bool = True,
    pulse_dates: Sequence[dt.date] = (),
    end_date: dt.date | None = None,
    donut_days: int = 0,
    outage_share: float | None = None,
    outage_window_days: int = 15,
    noise_baseline: pl.DataFrame | None = None,
) -> ItsEffect:
    """Fit the interrupted time series of ``daily`` around ``t0`` (see the module docstring).

    ``daily``: one row per day with ``day_col`` (Date) and ``count_col`` (non-negative
    counts), optionally a boolean ``covered_col`` (false = no archive coverage, missing).
    ``cov_type='hac'`` (default): Newey-West intervals with ``hac_maxlags`` lags counted in
    *days* (default 7; a missing day leaves a gap, it does not shift the lags); ``'model'``:
    the family's own covariance (quasi-Poisson scale floored at 1). The ``log_arma`` family
    always uses its ARMA(1,1) error model. ``holidays``: dummies for US Thanksgiving and
    24 Dec - 2 Jan; ``pulse_dates``: a dummy for each known one-day shock. ``end_date``: the
    post window ends before this day (the next event's t0); ``donut_days``: the first days
    after t0 are left out of the fit (washout); ``outage_share``: days below that share of the
    centred ``outage_window_days``-day rolling median are trap outages, left out and counted.
    ``noise_baseline`` (``log_arma`` only; other families ignore it): daily counts with the
    same columns on days outside every event window (at least :data:`MIN_NOISE_DAYS`
    observed, a year or more is what the calibration study measured); the noise
    autocorrelation is then estimated there and the window fitted by GLS with it fixed
    (:func:`log_arma_batch`). Without it, ``log_arma`` intervals are too narrow under a
    strongly persistent drift.

    Raises :class:`InsufficientDataError` when a window has fewer fitted days than
    ``min_days_pre`` / ``min_days_post``, or when every fitted pre-window day is 0. When every
    fitted post day is 0 the level change has no finite estimate: the result then reports
    ``relative_change = -1`` with NaN bounds and says so in ``gof_note``.
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, not {family!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), not {confidence}")
    if cov_type not in ("hac", "model"):
        raise ValueError(f"cov_type must be 'hac' or 'model', not {cov_type!r}")
    if donut_days < 0:
        raise ValueError(f"donut_days must be non-negative, not {donut_days}")
    windows = event_windows(t0, pre_days, post_days, end_date=end_date)
    series = daily_series(
        daily, windows, day_col=day_col, count_col=count_col, covered_col=covered_col
    )
    y, left_out = _prepare_series(
        series,
        windows,
        donut_days=donut_days,
        outage_share=outage_share,
        outage_window_days=outage_window_days,
    )
    post = series["post"].to_numpy()
    fitted = np.isfinite(y)
    n_pre, n_post = int((fitted & ~post).sum()), int((fitted & post).sum())
    if n_pre < min_days_pre or n_post < min_days_post:
        raise InsufficientDataError(
            f"effect around {t0}: {n_pre} observed pre-window days (need {min_days_pre}) and "
            f"{n_post} observed post-window days (need {min_days_post})"
        )
    design = calendar_design(
        series["day"].to_numpy(), windows.d0, holidays=holidays, pulse_dates=pulse_dates
    )
    common = {
        "family": family,
        "confidence": confidence,
        "n_days_pre": n_pre,
        "n_days_post": n_post,
        "n_days_missing_pre": left_out["missing_pre"],
        "n_days_missing_post": left_out["missing_post"],
        "n_days_outage": left_out["outage"],
        "n_days_donut": left_out["donut"],
        "n_zero_days": int((y[fitted] == 0).sum()),
        "transition_day_dropped": windows.transition_day_dropped,
        "end_horizon_days": design.horizon,
        "post_end": windows.post_end,
    }
    if np.nansum(y[~post]) == 0:
        raise InsufficientDataError(
            f"effect around {t0}: every observed pre-window day is 0, there is no level to "
            "compare against"
        )
    if np.nansum(y[post]) == 0:
        return _all_zero_post(common)
    lag_days = 7 if hac_maxlags is None else hac_maxlags
    noise = None
    if noise_baseline is not None and family == "log_arma":
        noise = noise_baseline_series(
            noise_baseline,
            windows,
            day_col=day_col,
            count_col=count_col,
            covered_col=covered_col,
            holidays=holidays,
            outage_share=outage_share,
            outage_window_days=outage_window_days,
        )
    fit, how = _fit_family(y, design, family, cov_type, lag_days, confidence, noise)
    return _effect_from_fit(fit, design, y, how, common)


def _effect_from_fit(
    fit: BatchFit, design: Design, y: np.ndarray, how: str, common: dict[str, Any]
) -> ItsEffect:
    """The result record of a fit of one series (a batch of 1)."""
    est = {k: float(v[0]) for k, v in estimands(fit, design).items()}
    params, cov, crit = fit.params[0], fit.cov[0], float(fit.critical[0])
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    i_level, i_slope, i_trend = (design.index(n) for n in ("level", "slope_change", "trend"))
    b2, s2, b3, s3 = params[i_level], se[i_level], params[i_slope], se[i_slope]
    fitted = np.isfinite(y)
    mu = fit.mu[0][fitted]
    family = common["family"]
    if family == "log_arma":
        chi2_df = float("nan")
        residuals = np.log(y[fitted] + 0.5) - np.log(mu)
    else:
        variance = mu + fit.dispersion[0] * mu**2 if family == "negative_binomial" else mu
        residuals = (y[fitted] - mu) / np.sqrt(variance)
        df_resid = max(1, int(fitted.sum()) - design.x.shape[1])
        chi2_df = float(np.sum(residuals**2) / df_resid)
    acf1 = _lag1_autocorrelation(residuals, design.t[fitted])
    p_value = 2 * stats.norm.sf(abs(b2 / s2) * 1.959963984540054 / crit) if s2 > 0 else math.nan
    converged = bool(fit.converged[0])
    return ItsEffect(
        relative_change=est["immediate"],
        ci_low=est["immediate_low"],
        ci_high=est["immediate_high"],
        level_log=float(b2),
        level_se=float(s2),
        level_p_value=float(p_value),
        slope_change_log_per_day=float(b3),
        slope_change_ci_low=float(b3 - crit * s3),
        slope_change_ci_high=float(b3 + crit * s3),
        pre_trend_log_per_day=float(params[i_trend]),
        window_average=est["window_average"],
        window_average_ci_low=est["window_average_low"],
        window_average_ci_high=est["window_average_high"],
        window_average_flat=est["window_average_flat"],
        window_average_flat_ci_low=est["window_average_flat_low"],
        window_average_flat_ci_high=est["window_average_flat_high"],
        end_of_window=est["end"],
        end_of_window_ci_low=est["end_low"],
        end_of_window_ci_high=est["end_high"],
        end_of_window_flat=est["end_flat"],
        end_of_window_flat_ci_low=est["end_flat_low"],
        end_of_window_flat_ci_high=est["end_flat_high"],
        dispersion=float(fit.dispersion[0]),
        dispersion_kind=how,
        pearson_chi2_per_df=chi2_df,
        residual_autocorrelation_lag1=acf1,
        converged=converged,
        cov_type=fit.cov_type,
        critical_value=crit,
        gof_note=_gof_note(family, chi2_df, acf1, converged, fit.cov_type),
        noise_persistence=float(fit.persistence[0]) if fit.persistence is not None else None,
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
        window_average=-1.0,
        window_average_ci_low=nan,
        window_average_ci_high=nan,
        window_average_flat=-1.0,
        window_average_flat_ci_low=nan,
        window_average_flat_ci_high=nan,
        end_of_window=-1.0,
        end_of_window_ci_low=nan,
        end_of_window_ci_high=nan,
        end_of_window_flat=-1.0,
        end_of_window_flat_ci_low=nan,
        end_of_window_flat_ci_high=nan,
        dispersion=nan,
        dispersion_kind="",
        pearson_chi2_per_df=nan,
        residual_autocorrelation_lag1=nan,
        converged=False,
        cov_type="",
        critical_value=nan,
        gof_note=(
            "every observed post-window day is 0: the level change is -100 % and has no "
            "finite estimate or Wald interval"
        ),
        **common,
    )


def _gof_note(family: str, chi2_df: float, acf1: float, converged: bool, cov_type: str) -> str:
    """A short goodness-of-fit note for the report."""
    parts = [f"Pearson chi2/df = {chi2_df:.2f}"] if math.isfinite(chi2_df) else []
    if family == "quasi_poisson":
        parts.append("(the quasi-Poisson scale; over-dispersion is absorbed into it)")
    elif family == "log_arma":
        parts.append("log-linear model with ARMA(1,1) errors")
    elif chi2_df > 1.5:
        parts.append("(above 1.5: more variation than the NB2 model expects)")
    elif chi2_df < 0.67:
        parts.append("(below 0.67: less variation than the NB2 model expects)")
    if math.isfinite(acf1):
        parts.append(f"lag-1 residual autocorrelation = {acf1:.2f}")
        if abs(acf1) > 0.2 and cov_type == "model":
            parts.append(
                "(autocorrelated residuals: the model-based interval may be too narrow; "
                "use HAC or the log_arma family)"
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
