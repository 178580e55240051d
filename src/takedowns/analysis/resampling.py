"""Bootstrap resampling plans over days: independent days, moving, circular and stationary blocks.

A *plan* draws, for each of ``n_resamples`` bootstrap resamples, a sequence of ``n_days`` day
indices. The same day indices are applied to every owner's series, so the correlation between
owners on the same day (a shared outage, a shared campaign) survives the resampling. With
blocks of consecutive days the day-to-day persistence inside a block survives too, which is
what an independent-days bootstrap loses (and why it is too narrow under persistent drift).

Schemes (``block_days`` = ``L``):

- ``"iid"``: independent days (``L`` is ignored), the classical bootstrap;
- ``"moving"``: Kuensch's moving-block bootstrap: ``ceil(n / L)`` blocks of ``L`` consecutive
  days with starts uniform on ``0 .. n - L``, concatenated and cut to ``n`` days;
- ``"circular"``: Politis & Romano's circular blocks: starts uniform on ``0 .. n - 1``, the
  series wrapped around, so every day is drawn equally often on average;
- ``"stationary"``: Politis & Romano's stationary bootstrap: blocks of geometric length with
  mean ``L`` on the wrapped series.

A plan is returned as counts (resamples x days: how often each day is drawn), so that a
resample's totals are one matrix product ``counts @ day_by_owner``.

Blocks of a week keep weekly patterns and multi-day bursts, but not a drift that persists for
weeks; and re-centring on a short window's own mean loses a share ``L/n`` of the variance
even without persistence. :func:`persistence_factor` measures what the blocks miss under an
autocorrelation estimated from the data (:func:`persistence_acf`: empirical short lags and an
AR(1) tail fitted to the variogram), and the callers scale each resample's deviation from the
observed window total by it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

Scheme = Literal["iid", "moving", "circular", "stationary"]
SCHEMES: tuple[str, ...] = ("iid", "moving", "circular", "stationary")


def _check(n_days: int, n_resamples: int, block_days: int, scheme: str) -> None:
    """Refuse impossible plans with a message naming the argument."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, not {scheme!r}")
    if n_days < 1:
        raise ValueError(f"n_days must be at least 1, not {n_days}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, not {n_resamples}")
    if block_days < 1:
        raise ValueError(f"block_days must be at least 1, not {block_days}")


def day_indices(
    rng: np.random.Generator,
    n_days: int,
    n_resamples: int,
    block_days: int = 7,
    scheme: Scheme = "moving",
) -> np.ndarray:
    """The drawn day indices, ``(n_resamples, n_days)`` int64, one resample per row.

    A moving block longer than the series is cut to the series (``L = min(L, n_days)``).
    """
    _check(n_days, n_resamples, block_days, scheme)
    if scheme == "iid":
        return rng.integers(0, n_days, size=(n_resamples, n_days))
    length = min(block_days, n_days)
    if scheme == "stationary":
        return _stationary_indices(rng, n_days, n_resamples, length)
    n_blocks = -(-n_days // length)
    high = n_days - length + 1 if scheme == "moving" else n_days
    starts = rng.integers(0, high, size=(n_resamples, n_blocks, 1))
    idx = (starts + np.arange(length)).reshape(n_resamples, n_blocks * length)[:, :n_days]
    return idx % n_days if scheme == "circular" else idx


def _stationary_indices(
    rng: np.random.Generator, n_days: int, n_resamples: int, mean_block: int
) -> np.ndarray:
    """Stationary bootstrap: a new block starts with probability ``1 / mean_block`` each day."""
    new_block = rng.random((n_resamples, n_days)) < 1.0 / mean_block
    new_block[:, 0] = True
    starts = rng.integers(0, n_days, size=(n_resamples, n_days))
    pos = np.arange(n_days)
    block_begin = np.maximum.accumulate(np.where(new_block, pos, 0), axis=1)
    first_day = np.take_along_axis(starts, block_begin, axis=1)
    return (first_day + pos - block_begin) % n_days


def counts_of(indices: np.ndarray, n_days: int) -> np.ndarray:
    """How often each day occurs in each row of ``indices``: ``(rows, n_days)`` float64."""
    rows = indices.shape[0]
    offsets = (np.arange(rows) * n_days)[:, None]
    flat = np.bincount((indices + offsets).ravel(), minlength=rows * n_days)
    return flat.reshape(rows, n_days).astype(np.float64)


def day_counts(
    rng: np.random.Generator,
    n_days: int,
    n_resamples: int,
    block_days: int = 7,
    scheme: Scheme = "moving",
) -> np.ndarray:
    """The plan as counts ``(n_resamples, n_days)``: row ``b`` @ day-by-owner = resample ``b``.

    Every row sums to ``n_days``.
    """
    return counts_of(day_indices(rng, n_days, n_resamples, block_days, scheme), n_days)


def batched_day_counts(
    rng: np.random.Generator,
    n_series: int,
    n_days: int,
    n_resamples: int,
    block_days: int = 7,
    scheme: Scheme = "moving",
) -> np.ndarray:
    """Independent plans for ``n_series`` series at once: ``(n_series, n_resamples, n_days)``."""
    counts = day_counts(rng, n_days, n_series * n_resamples, block_days, scheme)
    return counts.reshape(n_series, n_resamples, n_days)


def percentile_interval(
    draws: np.ndarray, confidence: float = 0.95, axis: int = -1
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of bootstrap ``draws`` along ``axis``, ignoring non-finite draws.

    Returns the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles (linear
    interpolation, as :func:`numpy.nanquantile`, but one sort for every row at once); NaN
    where no draw is finite.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), not {confidence}")
    finite = np.moveaxis(np.where(np.isfinite(draws), draws, np.nan), axis, -1)
    ordered = np.sort(finite, axis=-1)  # NaN last
    count = np.isfinite(ordered).sum(axis=-1)
    bounds = []
    for q in ((1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0):
        pos = q * np.maximum(count - 1, 0)
        below = np.floor(pos).astype(np.int64)
        above = np.minimum(below + 1, np.maximum(count - 1, 0))
        low = np.take_along_axis(ordered, below[..., None], axis=-1)[..., 0]
        high = np.take_along_axis(ordered, above[..., None], axis=-1)[..., 0]
        value = low + (pos - below) * (high - low)
        bounds.append(np.where(count > 0, value, np.nan))
    return bounds[0], bounds[1]


# ---------------------------------------------------------------------------------------------
# What the blocks miss: persistence estimated from the data
# ---------------------------------------------------------------------------------------------

_PHI_GRID = np.linspace(0.0, 0.98, 99)


def variogram(windows: Sequence[np.ndarray], max_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Empirical variogram ``G(h) = mean((z[t+h] - z[t])**2) / 2``, ``h = 1 .. max_lag``.

    ``windows``: arrays ``(..., n_w)`` (same leading shape) of one daily series cut into
    windows; pairs are taken within a window only, so a level change between windows does not
    enter, and no mean is subtracted (a variogram has no demeaning bias, unlike an
    autocorrelation). Returns ``G`` ``(..., max_lag)`` and the pair counts ``(max_lag,)``.
    """
    sums = np.zeros((*windows[0].shape[:-1], max_lag))
    pairs = np.zeros(max_lag)
    for z in windows:
        n = z.shape[-1]
        for lag in range(1, min(max_lag, n - 1) + 1):
            diff = z[..., lag:] - z[..., :-lag]
            sums[..., lag - 1] += 0.5 * (diff * diff).sum(axis=-1)
            pairs[lag - 1] += n - lag
    return sums / np.maximum(pairs, 1.0), pairs


def fit_tail(
    gamma: np.ndarray, pairs: np.ndarray, tail_from: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted least squares ``G(h) = sill - b * phi**h`` on ``h >= tail_from`` (phi on a grid).

    ``gamma``: a variogram ``(..., max_lag)``; weights: the pair counts; ``b >= 0``.
    Returns ``(phi, sill, b)`` with the leading shape of ``gamma``.
    """
    lags = np.arange(tail_from, gamma.shape[-1] + 1)
    g = gamma[..., tail_from - 1 :]
    w = pairs[tail_from - 1 :] / max(pairs[tail_from - 1 :].sum(), 1.0)
    g_mean = (g * w).sum(axis=-1)
    best_sse = np.full(g_mean.shape, np.inf)
    best = np.zeros((*g_mean.shape, 3))
    for phi in _PHI_GRID:
        x = phi**lags
        x_mean = (w * x).sum()
        sxx = (w * (x - x_mean) ** 2).sum()
        if sxx > 0:
            slope = ((g - g_mean[..., None]) * w * (x - x_mean)).sum(axis=-1) / sxx
        else:  # phi = 0: no tail, a flat sill
            slope = np.zeros_like(g_mean)
        b = np.maximum(-slope, 0.0)
        sill = g_mean + b * x_mean
        sse = (w * (g - (sill[..., None] - b[..., None] * x)) ** 2).sum(axis=-1)
        better = sse < best_sse
        best_sse = np.where(better, sse, best_sse)
        best = np.where(better[..., None], np.stack([np.full_like(sill, phi), sill, b], -1), best)
    return best[..., 0], best[..., 1], best[..., 2]


def persistence_acf(
    windows: Sequence[np.ndarray], n_lags: int, *, max_lag: int = 20, tail_from: int = 5
) -> np.ndarray:
    """Autocorrelation at lags ``0 .. n_lags`` of a daily series cut into ``windows``.

    From :func:`variogram`: the tail ``h >= tail_from`` is fitted as ``sill - b phi**h`` (a
    noise floor plus an AR(1) drift, :func:`fit_tail`), which gives the variance (``sill``)
    and the long lags (``b phi**h``, extrapolated beyond ``max_lag``); the short lags keep
    their empirical values ``sill - G(h)`` (bursts, weekly effects, whatever they are).
    Returns ``(..., n_lags + 1)``; a constant series has no autocorrelation beyond lag 0.
    """
    if not 2 <= tail_from <= max_lag:
        raise ValueError(f"need 2 <= tail_from <= max_lag, not {tail_from}, {max_lag}")
    gamma, pairs = variogram(windows, max_lag)
    phi, sill, b = fit_tail(gamma, pairs, tail_from)
    lags = np.arange(n_lags + 1)
    cov = b[..., None] * phi[..., None] ** lags
    short = min(tail_from, n_lags + 1)
    cov[..., 1:short] = sill[..., None] - gamma[..., : short - 1]
    cov[..., 0] = sill
    with np.errstate(divide="ignore", invalid="ignore"):
        acf = cov / sill[..., None]
    return np.where(sill[..., None] > 0, acf, np.where(lags == 0, 1.0, 0.0))


def _sum_variance(acf: np.ndarray, days: int) -> np.ndarray:
    """Variance of a ``days``-day sum of a unit-variance series with autocorrelation ``acf``."""
    lags = np.arange(1, days)
    return days + 2.0 * ((days - lags) * acf[..., 1:days]).sum(axis=-1)


def persistence_factor(acf: np.ndarray, n_days: int, block_days: int) -> np.ndarray:
    """Scale of circular-block deviations that restores a window's variance, ``acf.shape[:-1]``.

    ``acf`` ``(..., lags)`` with at least ``n_days`` lags. Circular blocks of ``L`` days from
    ``n`` days give, in expectation, the variance ``(n/L) V(L) - (L/n) V(n)`` of the window
    sum instead of ``V(n)`` (``V(m)``: variance of an ``m``-day sum under ``acf``): they lose
    the covariances beyond a block, and re-centring on the window's own mean loses ``L/n`` of
    it even without persistence. The factor is ``sqrt(V(n) / that)``, at least 1.
    """
    if acf.shape[-1] < n_days:
        raise ValueError(f"acf has {acf.shape[-1]} lags; a {n_days}-day window needs {n_days}")
    length = min(block_days, n_days)
    v_n = _sum_variance(acf, n_days)
    v_l = _sum_variance(acf, length)
    expected = (n_days / length) * v_l - (length / n_days) * v_n
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.sqrt(v_n / expected)
    return np.where(np.isfinite(factor) & (expected > 0), np.maximum(factor, 1.0), 1.0)
