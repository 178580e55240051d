"""Displacement: did the activity lost by a takedown's target move, and where to?

Each owner of activity (an origin AS, or ``unrouted`` space) has a role: the ``target`` (A),
a ``buffer`` network (B: where the business could plausibly go) or ``control`` (C: all
else). From daily activity per owner in a pre and a post window:

- **Weighted Displacement Quotient** (Bowers & Johnson 2003), on window totals::

      WDQ = (B_post/C_post - B_pre/C_pre) / (A_post/C_post - A_pre/C_pre)

  The denominator (the *success measure*) is negative when the target fell relative to the
  control; the numerator (the *buffer displacement measure*) is positive when the buffer grew
  relative to the control. Hence, exactly as in Bowers & Johnson, **WDQ < 0 reads as
  displacement** (WDQ = -m when a share m of the target's loss reappeared in the buffer;
  -1: all of it) and **WDQ > 0 as diffusion of benefit** (the buffer fell too). The WDQ is
  undefined (NaN) when the target did not change relative to the control (denominator 0),
  or a control total is 0; it is only meaningful where the target lost activity.
- **Buffer gains**: each buffer network's share of the *non-target* activity (B + C), pre
  and post; the target's own fall does not inflate anybody's share. The pooled buffer share
  change says whether anything moved; the per-buffer changes say where. A buffer is a
  *gainer* when its change's bootstrap interval (Bonferroni-adjusted over the buffers by
  default) lies above 0. The HHI of the positive point gains (the *gains*, not what is left)
  separates a move to one or two networks (``displaced``) from a spread (``dispersed``).
- **Intervals** come from a block bootstrap over days (:mod:`takedowns.analysis.resampling`): the
pre
  and post windows are resampled separately, the same drawn days for every owner (cross-owner
  correlation kept), in blocks of consecutive days (day-to-day persistence kept). Blocks
  alone are too narrow when activity drifts for weeks and the post window is short, so by
  default each resample's deviation from the observed totals is stretched by the variance
  the blocks miss under the persistence estimated from the data (:class:`BootstrapPlan`).
  :mod:`takedowns.analysis.displacement_calibration` measures coverage and false positives on
  simulated series with a known truth.

Arrays: a window is a ``(..., n_days, K)`` matrix whose columns are ``[target, buffer_1 ..
buffer_k, control]`` (control owners summed: only their total enters), built from a day by
owner matrix with :func:`collapse_roles`. Leading axes are independent series (the
calibration runs hundreds at once). Polars: :func:`displacement_by` on a long table
(group..., window, day, owner, role, weight).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from takedowns.analysis import resampling
from takedowns.analysis.concentration import concentration_by, group_seed

ROLES: tuple[str, ...] = ("target", "buffer", "control")
"""Owner roles, in the order of their integer codes 0, 1, 2."""

CLASSES: tuple[str, ...] = ("displaced", "dispersed", "none")
"""The displacement classes of :func:`classify_gains`."""

UNROUTED = "unrouted"
"""The owner label of activity in address space no AS originated."""

# Resample x day cells processed at once in the batched bootstrap (bounds memory).
_MAX_CELLS = 1 << 24


# ---------------------------------------------------------------------------------------------
# Point estimates
# ---------------------------------------------------------------------------------------------


def wdq(
    a_pre: np.ndarray | float,
    a_post: np.ndarray | float,
    b_pre: np.ndarray | float,
    b_post: np.ndarray | float,
    c_pre: np.ndarray | float,
    c_post: np.ndarray | float,
) -> np.ndarray:
    """Weighted Displacement Quotient, elementwise (broadcasting); NaN where undefined.

    Undefined where the target did not change relative to the control
    (``A_post/C_post == A_pre/C_pre``) or a control total is not positive.

    >>> float(wdq(100, 50, 200, 225, 1000, 1000))  # buffer +25 of the target's -50: -0.5
    -0.5
    """
    a_pre, a_post, b_pre, b_post, c_pre, c_post = (
        np.asarray(x, dtype=np.float64) for x in (a_pre, a_post, b_pre, b_post, c_pre, c_post)
    )
    ok = (c_pre > 0) & (c_post > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        success = a_post / c_post - a_pre / c_pre
        buffer = b_post / c_post - b_pre / c_pre
        out = buffer / success
    return np.where(ok & (success != 0) & np.isfinite(success), out, np.nan)


def wdq_of_totals(pre: np.ndarray, post: np.ndarray) -> np.ndarray:
    """WDQ of window totals ``(..., K)`` with columns ``[target, buffers..., control]``."""
    return wdq(
        pre[..., 0],
        post[..., 0],
        pre[..., 1:-1].sum(axis=-1),
        post[..., 1:-1].sum(axis=-1),
        pre[..., -1],
        post[..., -1],
    )


def buffer_shares(totals: np.ndarray) -> np.ndarray:
    """Each buffer's share of the non-target activity: ``(..., K) -> (..., K - 2)``.

    NaN where there is no non-target activity.
    """
    non_target = totals[..., 1:].sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(non_target > 0, totals[..., 1:-1] / non_target, np.nan)


def gains_hhi(share_change: np.ndarray) -> np.ndarray:
    """HHI of the gains: ``sum(g**2) / sum(g)**2`` over the positive changes, along the last axis.

    1 when one network took all the gain, ``1/k`` for ``k`` equal gains; NaN without any gain.
    """
    gains = np.where(np.isfinite(share_change), np.maximum(share_change, 0.0), 0.0)
    total = gains.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, (gains * gains).sum(axis=-1) / total**2, np.nan)


def classify_gains(
    moved: np.ndarray | bool,
    n_gainers: np.ndarray | int,
    hhi_of_gains: np.ndarray | float,
    *,
    max_gainers: int = 2,
    min_gains_hhi: float = 0.4,
) -> np.ndarray:
    """``displaced`` / ``dispersed`` / ``none``, elementwise.

    ``none`` unless something moved (the pooled buffer share change is above 0);
    ``displaced`` when at most ``max_gainers`` buffers gained significantly, or when the HHI of
    the gains is at least ``min_gains_hhi`` whatever the number of small gainers beside (the
    gain sits with one or two networks: ``1 / HHI`` is the effective number of gainers);
    ``dispersed`` otherwise (many gainers holding gains spread thin).
    """
    moved, n_gainers, hhi_g = np.broadcast_arrays(
        np.asarray(moved, dtype=bool), np.asarray(n_gainers), np.asarray(hhi_of_gains, float)
    )
    concentrated = (n_gainers <= max_gainers) | (np.nan_to_num(hhi_g, nan=0.0) >= min_gains_hhi)
    return np.where(moved, np.where(concentrated, "displaced", "dispersed"), "none")


# ---------------------------------------------------------------------------------------------
# Roles and matrices
# ---------------------------------------------------------------------------------------------


def role_codes(roles: Sequence[str] | np.ndarray) -> np.ndarray:
    """Role names -> codes 0 (target), 1 (buffer), 2 (control); errors on anything else."""
    names = np.asarray(roles, dtype=object)
    codes = np.full(names.shape, -1, dtype=np.int64)
    for code, name in enumerate(ROLES):
        codes[names == name] = code
    if np.any(codes < 0):
        bad = sorted({str(r) for r in names[codes < 0]})
        raise ValueError(f"unknown role(s) {bad}; roles are {ROLES}")
    return codes


def collapse_roles(day_by_owner: np.ndarray, roles: Sequence[str] | np.ndarray) -> np.ndarray:
    """``(..., n_days, n_owners)`` -> ``(..., n_days, 2 + n_buffer)``: target, buffers, control.

    Target and control owners are summed into one column each; buffers keep their own
    columns in their order in ``roles``.
    """
    codes = role_codes(roles)
    if day_by_owner.shape[-1] != codes.size:
        raise ValueError(
            f"{day_by_owner.shape[-1]} owner columns but {codes.size} roles; give one per owner"
        )
    buffers = np.flatnonzero(codes == 1)
    mix = np.zeros((codes.size, 2 + buffers.size))
    mix[codes == 0, 0] = 1.0
    mix[buffers, 1 + np.arange(buffers.size)] = 1.0
    mix[codes == 2, -1] = 1.0
    return np.asarray(day_by_owner, dtype=np.float64) @ mix


# ---------------------------------------------------------------------------------------------
# Block bootstrap over days
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BootstrapPlan:
    """How the days are resampled: ``n_resamples`` resamples in blocks of ``block_days`` days
    (``scheme``: see :mod:`takedowns.analysis.resampling`), percentile intervals at ``confidence``.

    With ``persistence_correction`` each window's resampled deviations from its total are
    scaled by :func:`takedowns.analysis.resampling.persistence_factor` (the variance the blocks
    miss,
    under the persistence :func:`persistence_acf` estimates from the daily log ratios of both
    windows; derived for circular blocks, an approximation for the other schemes); without
    it the plain block bootstrap is used. Blocks of 7 days keep the weekly pattern and
    multi-day campaign bursts inside a block. The defaults are the calibrated ones.
    """

    n_resamples: int = 2000
    block_days: int = 7
    scheme: resampling.Scheme = "circular"
    confidence: float = 0.95
    persistence_correction: bool = True

    def __post_init__(self) -> None:
        """Reject plans that cannot be drawn."""
        if self.n_resamples < 1 or self.block_days < 1:
            raise ValueError(f"n_resamples and block_days must be at least 1 ({self})")
        if self.scheme not in resampling.SCHEMES:
            raise ValueError(f"scheme must be one of {resampling.SCHEMES}, not {self.scheme!r}")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), not {self.confidence}")


def _log_ratio_series(daily: np.ndarray) -> np.ndarray:
    """``log(A/C)`` and ``log(B/C)`` per day: ``(S, n, K)`` -> ``(S, 2, n)``.

    Counts are floored at 0.5 so that an empty day has a finite logarithm.
    """
    control = np.maximum(daily[..., -1], 0.5)
    target = np.maximum(daily[..., 0], 0.5)
    buffer = np.maximum(daily[..., 1:-1].sum(axis=-1), 0.5)
    return np.log(np.stack([target / control, buffer / control], axis=1))


#: The variogram of the log ratios is read up to this many days apart ...
PERSISTENCE_MAX_LAG = 50
#: ... and fitted as an AR(1) tail from this lag on (shorter lags keep their empirical values).
PERSISTENCE_TAIL_FROM = 3


def persistence_acf(pre: np.ndarray, post: np.ndarray, n_lags: int) -> np.ndarray:
    """Autocorrelation ``(S, 2, n_lags + 1)`` of the daily log ratios target/control and
    buffer/control, from both windows (:func:`takedowns.analysis.resampling.persistence_acf`).

    The lags (:data:`PERSISTENCE_MAX_LAG`, :data:`PERSISTENCE_TAIL_FROM`) were chosen by the
    calibration study: a tail read to 20 days from lag 5 left the WDQ interval over-covering
    without drift (0.96-0.97) and under-covering at AR(1) 0.9 (0.93); read to 50 days from
    lag 3 both moved towards 0.95 (1,000 series per cell; ``benchmarks/README.md``).
    """
    return resampling.persistence_acf(
        [_log_ratio_series(pre), _log_ratio_series(post)],
        n_lags,
        max_lag=PERSISTENCE_MAX_LAG,
        tail_from=PERSISTENCE_TAIL_FROM,
    )


def _window_factor(acf: np.ndarray, n_days: int, block_days: int) -> np.ndarray:
    """Per series, the persistence factor of a window averaged over the two log ratios."""
    return resampling.persistence_factor(acf, n_days, block_days).mean(axis=-1)


def resample_totals(daily: np.ndarray, plan: BootstrapPlan, rng: np.random.Generator) -> np.ndarray:
    """Window totals of every resample: ``(S, n_days, K)`` -> ``(S, n_resamples, K)``.

    Each series draws its own plan; within a series, resample ``b`` applies the same drawn
    days to every column.
    """
    daily = np.ascontiguousarray(daily, dtype=np.float64)
    n_series, n_days, _ = daily.shape
    out = np.empty((n_series, plan.n_resamples, daily.shape[-1]))
    step = max(1, _MAX_CELLS // max(1, plan.n_resamples * n_days))
    for start in range(0, n_series, step):
        stop = min(n_series, start + step)
        counts = resampling.batched_day_counts(
            rng, stop - start, n_days, plan.n_resamples, plan.block_days, plan.scheme
        )
        # einsum's own loop, not BLAS: multi-threaded BLAS crawls on a busy machine
        out[start:stop] = np.einsum("sbn,snk->sbk", counts, daily[start:stop])
    return out


@dataclass(frozen=True)
class DisplacementEstimate:
    """Point estimates and bootstrap intervals for ``S`` series (leading axis of every array).

    ``wdq*``: the WDQ; ``buffer_change*``: the pooled buffer share (of non-target activity)
    post minus pre; ``share_change*`` ``(S, n_buffer)``: per buffer, with ``gainer`` its lower
    bound (at ``gainer_confidence``) above 0; ``n_gainers``, ``gains_hhi`` (HHI of the positive
    point changes) and ``n_valid`` (resamples with a defined WDQ).
    """

    wdq: np.ndarray
    wdq_low: np.ndarray
    wdq_high: np.ndarray
    buffer_change: np.ndarray
    buffer_low: np.ndarray
    buffer_high: np.ndarray
    share_change: np.ndarray
    share_low: np.ndarray
    share_high: np.ndarray
    gainer: np.ndarray
    n_gainers: np.ndarray
    gains_hhi: np.ndarray
    n_valid: np.ndarray
    gainer_confidence: float


def _pooled_buffer_share(totals: np.ndarray) -> np.ndarray:
    """Share of the buffers together in the non-target activity, ``(..., K) -> (...)``."""
    return np.nansum(buffer_shares(totals), axis=-1) if totals.shape[-1] > 2 else totals[..., 0] * 0


def estimate_displacement(
    pre: np.ndarray,
    post: np.ndarray,
    plan: BootstrapPlan,
    rng: np.random.Generator,
    *,
    bonferroni: bool = True,
) -> DisplacementEstimate:
    """WDQ, pooled and per-buffer share changes with block-bootstrap intervals, per series.

    ``pre`` ``(S, n_pre, K)`` and ``post`` ``(S, n_post, K)`` are daily role matrices
    (:func:`collapse_roles`). Pre and post are resampled separately (pre first, from ``rng``).
    The per-buffer intervals are at ``1 - (1 - confidence) / n_buffer`` when ``bonferroni``.
    With ``plan.persistence_correction`` the resampled window totals are pulled away from
    (or towards) the observed totals by that factor (floored at 0).
    """
    if pre.ndim != 3 or post.ndim != 3 or pre.shape[::2] != post.shape[::2]:
        raise ValueError(f"pre {pre.shape} and post {post.shape} must be (S, days, K) alike")
    if pre.shape[-1] < 3:
        raise ValueError("need columns [target, buffer..., control]: at least one buffer")
    tot_pre, tot_post = pre.sum(axis=1), post.sum(axis=1)
    boot_pre = resample_totals(pre, plan, rng)
    boot_post = resample_totals(post, plan, rng)
    if plan.persistence_correction:
        acf = persistence_acf(pre, post, max(pre.shape[1], post.shape[1]))
        for boot, total, days in (
            (boot_pre, tot_pre, pre.shape[1]),
            (boot_post, tot_post, post.shape[1]),
        ):
            scale = _window_factor(acf, days, plan.block_days)[:, None, None]
            boot[...] = np.maximum(total[:, None, :] + scale * (boot - total[:, None, :]), 0.0)
    conf = plan.confidence
    n_buffer = pre.shape[-1] - 2
    gainer_conf = 1.0 - (1.0 - conf) / n_buffer if bonferroni else conf

    w_boot = wdq_of_totals(boot_pre, boot_post)
    w_low, w_high = resampling.percentile_interval(w_boot, conf, axis=1)
    pooled_boot = _pooled_buffer_share(boot_post) - _pooled_buffer_share(boot_pre)
    p_low, p_high = resampling.percentile_interval(pooled_boot, conf, axis=1)
    share_boot = buffer_shares(boot_post) - buffer_shares(boot_pre)
    s_low, s_high = resampling.percentile_interval(share_boot, gainer_conf, axis=1)
    share_change = buffer_shares(tot_post) - buffer_shares(tot_pre)
    gainer = s_low > 0
    return DisplacementEstimate(
        wdq=wdq_of_totals(tot_pre, tot_post),
        wdq_low=w_low,
        wdq_high=w_high,
        buffer_change=_pooled_buffer_share(tot_post) - _pooled_buffer_share(tot_pre),
        buffer_low=p_low,
        buffer_high=p_high,
        share_change=share_change,
        share_low=s_low,
        share_high=s_high,
        gainer=gainer,
        n_gainers=gainer.sum(axis=-1),
        gains_hhi=gains_hhi(share_change),
        n_valid=np.isfinite(w_boot).sum(axis=1),
        gainer_confidence=gainer_conf,
    )


def wdq_reading(point: float, low: float, high: float) -> str:
    """Plain reading of a WDQ and its interval (see the module docstring for the sign)."""
    if not np.isfinite(point):
        return "undefined: the target did not change relative to the control"
    if np.isfinite(high) and high < 0:
        return "displacement"
    if np.isfinite(low) and low > 0:
        return "diffusion of benefit"
    return "no clear displacement or diffusion"


# ---------------------------------------------------------------------------------------------
# Long tables (polars): the workflow's interface
# ---------------------------------------------------------------------------------------------

_SUMMARY_SCHEMA: dict[str, pl.DataType] = {
    "a_pre": pl.Float64(),
    "a_post": pl.Float64(),
    "b_pre": pl.Float64(),
    "b_post": pl.Float64(),
    "c_pre": pl.Float64(),
    "c_post": pl.Float64(),
    "wdq": pl.Float64(),
    "wdq_low": pl.Float64(),
    "wdq_high": pl.Float64(),
    "wdq_reading": pl.String(),
    "buffer_share_change": pl.Float64(),
    "buffer_low": pl.Float64(),
    "buffer_high": pl.Float64(),
    "n_buffers": pl.Int64(),
    "n_gainers": pl.Int64(),
    "gains_hhi": pl.Float64(),
    "displacement": pl.String(),
    "n_days_pre": pl.Int64(),
    "n_days_post": pl.Int64(),
    "n_valid": pl.Int64(),
    "note": pl.String(),
}


def _check_long(frame: pl.DataFrame, cols: Sequence[str]) -> None:
    """Refuse missing columns, null days/roles/weights and negative or non-finite weights."""
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ValueError(f"frame has no column(s) {missing}; it has {frame.columns}")
    day, role, weight = cols[1], cols[3], cols[4]
    for col in (day, role, weight):
        if frame.get_column(col).null_count():
            raise ValueError(f"column '{col}' has null values")
    w = frame.get_column(weight).cast(pl.Float64).to_numpy()
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"column '{weight}' must be finite and non-negative")
    role_codes(frame.get_column(role).unique().to_list())


def window_matrices(
    frame: pl.DataFrame,
    *,
    window_col: str = "window",
    day_col: str = "day",
    owner_col: str = "owner",
    role_col: str = "role",
    weight_col: str = "weight",
    pre_label: Any = "pre",
    post_label: Any = "post",
) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """The daily role matrices ``(n_days, K)`` of one comparison, and the buffer owners.

    Columns ``[target, buffer owners (sorted)..., control]``; days are the sorted distinct
    days of each window (a day with only zero weights is still a day). An owner with more
    than one role is an error.
    """
    roles = frame.select(owner_col, role_col).unique()
    doubled = roles.group_by(owner_col).len().filter(pl.col("len") > 1)
    if doubled.height:
        raise ValueError(f"owners with more than one role: {doubled[owner_col].to_list()[:5]}")
    buffers = roles.filter(pl.col(role_col) == "buffer").get_column(owner_col).sort().to_list()
    column = {owner: 1 + i for i, owner in enumerate(buffers)}
    k = len(buffers) + 2
    out = []
    for label in (pre_label, post_label):
        rows = frame.filter(pl.col(window_col) == label)
        days = rows.get_column(day_col).unique().sort()
        day_index = {d: i for i, d in enumerate(days.to_list())}
        matrix = np.zeros((days.len(), k))
        role = rows.get_column(role_col).to_numpy()
        col = np.where(role == "target", 0, k - 1)
        is_buffer = role == "buffer"
        owners = rows.get_column(owner_col).to_list()
        col[is_buffer] = [column[o] for o, b in zip(owners, is_buffer, strict=True) if b]
        day_pos = np.array([day_index[d] for d in rows.get_column(day_col).to_list()], dtype=int)
        weights = rows.get_column(weight_col).cast(pl.Float64).to_numpy()
        np.add.at(matrix, (day_pos, col), weights)
        out.append(matrix)
    return out[0], out[1], buffers


def _summary_row(
    pre: np.ndarray,
    post: np.ndarray,
    plan: BootstrapPlan,
    rng: np.random.Generator,
    *,
    max_gainers: int,
    min_gains_hhi: float,
    min_days: int,
) -> tuple[dict[str, Any], DisplacementEstimate | None]:
    """One comparison's summary row (and its estimate, None when it could not be made)."""
    tot_pre, tot_post = pre.sum(axis=0), post.sum(axis=0)
    row: dict[str, Any] = {
        "a_pre": tot_pre[0],
        "a_post": tot_post[0],
        "b_pre": tot_pre[1:-1].sum(),
        "b_post": tot_post[1:-1].sum(),
        "c_pre": tot_pre[-1],
        "c_post": tot_post[-1],
        "n_buffers": pre.shape[1] - 2,
        "n_days_pre": pre.shape[0],
        "n_days_post": post.shape[0],
    }
    problems = []
    if pre.shape[1] < 3:
        problems.append("no buffer network")
    if min(pre.shape[0], post.shape[0]) < max(2, min_days):
        problems.append(f"fewer than {max(2, min_days)} days in a window")
    if min(row["c_pre"], row["c_post"]) <= 0:
        problems.append("no control activity in a window")
    if problems:
        return {**row, "note": "; ".join(problems)}, None
    est = estimate_displacement(pre[None], post[None], plan, rng)
    point = float(est.wdq[0])
    moved = est.buffer_low[0] > 0
    label = classify_gains(
        moved,
        est.n_gainers[0],
        est.gains_hhi[0],
        max_gainers=max_gainers,
        min_gains_hhi=min_gains_hhi,
    )
    row.update(
        wdq=point,
        wdq_low=float(est.wdq_low[0]),
        wdq_high=float(est.wdq_high[0]),
        wdq_reading=wdq_reading(point, float(est.wdq_low[0]), float(est.wdq_high[0])),
        buffer_share_change=float(est.buffer_change[0]),
        buffer_low=float(est.buffer_low[0]),
        buffer_high=float(est.buffer_high[0]),
        n_gainers=int(est.n_gainers[0]),
        gains_hhi=float(est.gains_hhi[0]),
        displacement=str(label),
        n_valid=int(est.n_valid[0]),
        note=None if np.isfinite(point) else "target did not change relative to control",
    )
    return row, est


def displacement_by(
    frame: pl.DataFrame,
    group_cols: Sequence[str],
    *,
    window_col: str = "window",
    day_col: str = "day",
    owner_col: str = "owner",
    role_col: str = "role",
    weight_col: str = "weight",
    pre_label: Any = "pre",
    post_label: Any = "post",
    plan: BootstrapPlan | None = None,
    seed: int = 0,
    max_gainers: int = 2,
    min_gains_hhi: float = 0.4,
    min_days: int = 7,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """WDQ, buffer gains and the displacement class per group, from a long table.

    ``frame``: one row per (group..., window, day, owner) or finer (summed), with ``role`` in
    :data:`ROLES` (one role per owner within a group). Returns ``(summary, buffers)``:
    ``summary`` has one row per group (group columns, then the columns of the schema: window
    totals of A, B, C; ``wdq`` with its interval and reading; the pooled buffer share change
    with its interval; ``n_gainers``, ``gains_hhi`` and ``displacement`` in :data:`CLASSES`;
    the thresholds ``max_gainers`` and ``min_gains_hhi``; ``note`` when something is
    undefined). ``buffers`` has one row per group and buffer owner: ``share_pre``,
    ``share_post`` (of the non-target activity), ``share_change`` with its interval (at
    ``gainer_confidence``, Bonferroni over the group's buffers) and ``gainer``.
    Each group draws from ``numpy.random.default_rng(group_seed(seed, key))``.
    """
    plan = plan or BootstrapPlan()
    groups = list(group_cols)
    _check_long(frame, [window_col, day_col, owner_col, role_col, weight_col, *groups])
    work = frame if groups else frame.with_columns(pl.lit(0).alias("__all"))
    keys = groups or ["__all"]
    summaries, buffer_rows = [], []
    for key, rows in work.group_by(keys, maintain_order=True):
        pre, post, buffers = window_matrices(
            rows,
            window_col=window_col,
            day_col=day_col,
            owner_col=owner_col,
            role_col=role_col,
            weight_col=weight_col,
            pre_label=pre_label,
            post_label=post_label,
        )
        rng = np.random.default_rng(group_seed(seed, key))
        row, est = _summary_row(
            pre,
            post,
            plan,
            rng,
            max_gainers=max_gainers,
            min_gains_hhi=min_gains_hhi,
            min_days=min_days,
        )
        named = dict(zip(keys, key, strict=True))
        summaries.append({**named, **row})
        if est is None:
            continue
        share_pre = buffer_shares(pre.sum(axis=0))
        share_post = buffer_shares(post.sum(axis=0))
        for i, owner in enumerate(buffers):
            buffer_rows.append(
                {
                    **named,
                    owner_col: owner,
                    "share_pre": float(share_pre[i]),
                    "share_post": float(share_post[i]),
                    "share_change": float(est.share_change[0, i]),
                    "ci_low": float(est.share_low[0, i]),
                    "ci_high": float(est.share_high[0, i]),
                    "gainer_confidence": est.gainer_confidence,
                    "gainer": bool(est.gainer[0, i]),
                }
            )
    key_schema = {c: work.schema[c] for c in keys}
    summary = pl.DataFrame(summaries, schema={**key_schema, **_SUMMARY_SCHEMA}, orient="row")
    summary = summary.with_columns(
        max_gainers=pl.lit(max_gainers, dtype=pl.Int64),
        min_gains_hhi=pl.lit(min_gains_hhi, dtype=pl.Float64),
        block_days=pl.lit(plan.block_days, dtype=pl.Int64),
        scheme=pl.lit(plan.scheme),
    ).with_columns(pl.col(pl.Float64).fill_nan(None))
    buffer_schema = {
        **key_schema,
        owner_col: work.schema[owner_col],
        "share_pre": pl.Float64(),
        "share_post": pl.Float64(),
        "share_change": pl.Float64(),
        "ci_low": pl.Float64(),
        "ci_high": pl.Float64(),
        "gainer_confidence": pl.Float64(),
        "gainer": pl.Boolean(),
    }
    per_buffer = pl.DataFrame(buffer_rows, schema=buffer_schema, orient="row")
    if not groups:
        summary, per_buffer = summary.drop("__all"), per_buffer.drop("__all")
    return summary, per_buffer


# ---------------------------------------------------------------------------------------------
# Descriptive concentration, target included and excluded, unrouted space kept
# ---------------------------------------------------------------------------------------------


def with_unrouted_owner(
    frame: pl.DataFrame, owner_col: str = "owner", label: str = UNROUTED
) -> pl.DataFrame:
    """The owner column as text, with null owners (no origin AS) named ``label``.

    Unrouted space is then an owner of its own in every index; it is never lost to a
    comparison with a null owner.
    """
    if owner_col not in frame.columns:
        raise ValueError(f"frame has no column '{owner_col}'; it has {frame.columns}")
    return frame.with_columns(pl.col(owner_col).cast(pl.String).fill_null(label))


def indices_with_and_without_target(
    frame: pl.DataFrame,
    group_cols: Sequence[str],
    *,
    owner_col: str = "owner",
    role_col: str = "role",
    weight_col: str = "weight",
    unrouted_label: str = UNROUTED,
) -> pl.DataFrame:
    """Concentration indices per group, once with the target's owners and once without.

    Returns the rows of :func:`takedowns.analysis.concentration.concentration_by` with a column
    ``target`` (``included`` / ``excluded``) after the group columns; null owners count as
    ``unrouted_label`` (see :func:`with_unrouted_owner`).
    """
    work = with_unrouted_owner(frame, owner_col, unrouted_label)
    if work.get_column(role_col).null_count():
        raise ValueError(f"column '{role_col}' has null roles")
    parts = []
    for scope, rows in (
        ("included", work),
        ("excluded", work.filter(pl.col(role_col) != "target")),
    ):
        # a group whose only owner was the target keeps its row (no weight, null indices)
        keys = work.select(list(group_cols)).unique(maintain_order=True) if group_cols else None
        got = concentration_by(rows, group_cols, owner_col, weight_col)
        if keys is not None:
            got = keys.join(got, on=list(group_cols), how="left", nulls_equal=True).with_columns(
                pl.col("total_weight").fill_null(0.0), pl.col("n_owners").fill_null(0)
            )
        parts.append(got.with_columns(target=pl.lit(scope)))
    out = pl.concat(parts, how="vertical_relaxed")
    return out.select(*group_cols, "target", pl.exclude(*group_cols, "target"))


# ---------------------------------------------------------------------------------------------
# Blocklist versions -> daily rows
# ---------------------------------------------------------------------------------------------


def versions_to_days(
    versions: pl.DataFrame,
    *,
    time_col: str,
    calendar: pl.DataFrame | None = None,
    group_cols: Sequence[str] = (),
    day_col: str = "day",
) -> pl.DataFrame:
    """Daily rows from list versions: each version stands from its day until the next one.

    ``versions`` holds the rows of every captured version (group..., ``time_col`` (date or
    datetime), owner, weight, ...). On a day ``d`` the version in force is the latest
    captured on or before ``d`` (of several on one day, the last); its rows are repeated with
    ``day_col = d``, so a version weighs as many days as it stood. ``calendar`` (group...,
    ``day_col``) lists the wanted days per group; by default every day from a group's first
    to its last capture. Days before a group's first capture have no rows.
    """
    groups = list(group_cols)
    if time_col not in versions.columns:
        raise ValueError(f"versions have no column '{time_col}'; they have {versions.columns}")
    if versions.get_column(time_col).null_count():
        raise ValueError(f"column '{time_col}' has null capture times")
    stamped = versions.with_columns(pl.col(time_col).cast(pl.Date).alias("__version_day"))
    per_day = (
        stamped.group_by([*groups, "__version_day"])
        .agg(pl.col(time_col).max().alias("__in_force"))
        .sort("__version_day")
    )
    if calendar is None:
        bounds = per_day.group_by(groups or pl.lit(0).alias("__all")).agg(
            pl.date_ranges(pl.col("__version_day").min(), pl.col("__version_day").max()).first()
        )
        calendar = bounds.explode("__version_day").rename({"__version_day": day_col})
        calendar = calendar.drop("__all") if "__all" in calendar.columns else calendar
    calendar = calendar.with_columns(pl.col(day_col).cast(pl.Date)).sort(day_col)
    chosen = calendar.join_asof(
        per_day,
        left_on=day_col,
        right_on="__version_day",
        by=groups or None,
        strategy="backward",
    ).filter(pl.col("__in_force").is_not_null())
    out = chosen.select(*groups, day_col, "__in_force").join(
        stamped.drop("__version_day"),
        left_on=[*groups, "__in_force"],
        right_on=[*groups, time_col],
        how="inner",
    )
    return out.rename({"__in_force": time_col}).sort([*groups, day_col])
