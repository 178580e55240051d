"""Concentration of "badness" over owners (origin ASNs or countries), and its pre/post change.

The owners of a window are those with a positive total weight in it (weight: listed addresses,
spam messages, ...). With shares ``s_i = w_i / sum(w)`` over the ``N`` owners present:

- ``hhi``: Herfindahl-Hirschman index ``sum(s_i**2)`` on the 0..1 scale (x 10,000 for the
  antitrust scale); ``1/N`` for ``N`` equal shares, 1 for a single owner.
- ``entropy``: normalized Shannon entropy ``H / ln(N)`` with ``H = -sum(s_i ln s_i)``; 1 for
  equal shares, 0 for a single owner (``N = 1`` is defined as 0).
- ``gini``: the Gini coefficient *over the owners present*, in its plain (population) form
  ``sum_i sum_j |s_i - s_j| / (2 N**2 mean(s))``, computed from the ascending order as
  ``2 sum_i i s_(i) / N - (N + 1) / N``. It is 0 for equal shares and at most ``(N - 1)/N``
  (not rescaled to reach 1). Owners with zero weight are not counted: the universe of "all
  ASNs that could have held badness" is not defined, so the index describes inequality among
  the holders only; read it together with ``n_owners``.
- ``cr1``, ``cr5``, ``cr10``: concentration ratios, the summed shares of the 1, 5 and 10
  largest owners (1 when there are fewer owners than ``k``).
- ``n_owners``: number of distinct owners with positive weight.

A window without any positive weight has ``n_owners = 0`` and no index (NaN in numpy,
null in polars). Weights must be finite and non-negative, owners non-null: the caller decides
whether unattributed weight (e.g. unrouted space) is an owner of its own or is left out, and
counts it.

The bootstrap (:func:`bootstrap_change`, :func:`bootstrap_change_by`) resamples *units*
(days, snapshots) with replacement within each window; a window's statistic is the index of
the pooled weights of its (resampled) units. By default the units are drawn independently,
which is too narrow when the owners' activity drifts persistently from day to day; with
``block_days`` the units must be days (blocklist versions expanded to the days each was in
force, :func:`takedowns.analysis.displacement.versions_to_days`) and blocks of consecutive days are
drawn (:mod:`takedowns.analysis.resampling`), the same days for every owner.

The resampling is a count matrix ``C`` (resamples x units) times the unit-by-owner weight
matrix ``W``: ``C @ W`` holds every resample's owner totals at once, and the indices are
computed row-wise on that matrix.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from takedowns.analysis import resampling

INDICES: tuple[str, ...] = ("hhi", "entropy", "gini", "cr1", "cr5", "cr10", "n_owners")
"""The indices every function here returns, in this order."""

TOP_K: tuple[int, ...] = (1, 5, 10)

# Rows of the resample matrix processed at once: bounds memory to about this many cells.
_MAX_CELLS = 1 << 22


# ---------------------------------------------------------------------------------------------
# Scalar indices over one vector of weights
# ---------------------------------------------------------------------------------------------


def _positive_weights(weights: npt.ArrayLike) -> np.ndarray:
    """The positive weights of a 1-D vector, as float64; errors on negative or non-finite."""
    w = np.asarray(weights, dtype=np.float64).ravel()
    if not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite (no NaN or infinity)")
    if np.any(w < 0):
        raise ValueError("weights must be non-negative")
    return w[w > 0]


def hhi(weights: npt.ArrayLike) -> float:
    """Herfindahl-Hirschman index ``sum(share**2)`` (0..1); NaN without positive weight."""
    w = _positive_weights(weights)
    if w.size == 0:
        return float("nan")
    s = w / w.sum()
    return float(np.sum(s * s))


def normalized_entropy(weights: npt.ArrayLike) -> float:
    """Shannon entropy of the shares divided by ``ln N``; 0 for ``N = 1``, NaN for ``N = 0``."""
    w = _positive_weights(weights)
    if w.size == 0:
        return float("nan")
    if w.size == 1:
        return 0.0
    s = w / w.sum()
    return float(-np.sum(s * np.log(s)) / np.log(w.size))


def gini(weights: npt.ArrayLike) -> float:
    """Gini coefficient over the owners with positive weight (population form, max (N-1)/N)."""
    w = _positive_weights(weights)
    if w.size == 0:
        return float("nan")
    s = np.sort(w / w.sum())
    n = s.size
    ranks = np.arange(1, n + 1, dtype=np.float64)
    return float(2.0 * np.dot(ranks, s) / n - (n + 1.0) / n)


def concentration_ratio(weights: npt.ArrayLike, k: int) -> float:
    """Summed share of the ``k`` largest owners (CRk); 1 when fewer than ``k`` owners."""
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    w = _positive_weights(weights)
    if w.size == 0:
        return float("nan")
    top = np.sort(w)[::-1][:k]
    return float(top.sum() / w.sum())


def concentration_indices(weights: npt.ArrayLike) -> dict[str, float]:
    """All indices of :data:`INDICES` for one vector of owner weights (zeros are ignored).

    >>> concentration_indices([1, 1, 1, 1])["hhi"]
    0.25
    """
    w = _positive_weights(weights)
    out: dict[str, float] = {
        "hhi": hhi(w),
        "entropy": normalized_entropy(w),
        "gini": gini(w),
    }
    for k in TOP_K:
        out[f"cr{k}"] = concentration_ratio(w, k)
    out["n_owners"] = float(w.size)
    return out


# ---------------------------------------------------------------------------------------------
# Grouped, vectorized polars version
# ---------------------------------------------------------------------------------------------


def _check_columns(frame: pl.DataFrame, owner_col: str, weight_col: str) -> None:
    """Refuse null owners and null, non-finite or negative weights, naming the column."""
    missing = [c for c in (owner_col, weight_col) if c not in frame.columns]
    if missing:
        raise ValueError(f"frame has no column(s) {missing}; it has {frame.columns}")
    w = pl.col(weight_col).cast(pl.Float64)
    bad = frame.select(
        owner_null=pl.col(owner_col).is_null().sum(),
        weight_null=pl.col(weight_col).is_null().sum(),
        weight_bad=(~w.is_finite() | (w < 0)).sum(),
    ).row(0, named=True)
    if bad["owner_null"]:
        raise ValueError(
            f"column '{owner_col}' has {bad['owner_null']} null owners; map unattributed "
            "weight to an explicit owner or drop it (and count it) before the analysis"
        )
    if bad["weight_null"]:
        raise ValueError(f"column '{weight_col}' has {bad['weight_null']} null weights")
    if bad["weight_bad"]:
        raise ValueError(
            f"column '{weight_col}' has {bad['weight_bad']} negative or non-finite weights"
        )


def concentration_by(
    frame: pl.DataFrame,
    group_cols: Sequence[str],
    owner_col: str,
    weight_col: str,
) -> pl.DataFrame:
    """Every index of :data:`INDICES` per group, vectorized in polars.

    ``frame`` is long: one row per (group..., owner) or finer (rows of the same group and owner
    are summed first). Returns one row per distinct group with the group columns,
    ``total_weight`` and the indices; a group without positive weight keeps its row with
    ``n_owners = 0`` and null indices. ``group_cols`` may be empty (one row for the frame).
    """
    _check_columns(frame, owner_col, weight_col)
    groups = list(group_cols)
    work = frame
    if not groups:
        work = frame.with_columns(pl.lit(0).alias("__all"))
        groups = ["__all"]
    keys = work.select(groups).unique(maintain_order=True)
    per_owner = (
        work.group_by([*groups, owner_col])
        .agg(pl.col(weight_col).cast(pl.Float64).sum().alias("_w"))
        .filter(pl.col("_w") > 0)
    )
    s = pl.col("_w") / pl.col("_w").sum().over(groups)
    per_owner = per_owner.with_columns(
        _s=s,
        _rank_asc=pl.col("_w").rank("ordinal").over(groups).cast(pl.Float64),
        _rank_desc=pl.col("_w").rank("ordinal", descending=True).over(groups),
    )
    n = pl.len().cast(pl.Float64)
    sums = per_owner.group_by(groups).agg(
        total_weight=pl.col("_w").sum(),
        n_owners=pl.len(),
        hhi=(pl.col("_s") ** 2).sum(),
        _h=-(pl.col("_s") * pl.col("_s").log()).sum(),
        _g=2.0 * (pl.col("_rank_asc") * pl.col("_s")).sum() / n - (n + 1.0) / n,
        **{f"cr{k}": pl.col("_s").filter(pl.col("_rank_desc") <= k).sum() for k in TOP_K},
    )
    sums = sums.with_columns(
        entropy=pl.when(pl.col("n_owners") > 1)
        .then(pl.col("_h") / pl.col("n_owners").cast(pl.Float64).log())
        .otherwise(0.0),
        gini=pl.col("_g"),
    )
    out = keys.join(sums, on=groups, how="left", nulls_equal=True).select(
        *groups,
        pl.col("total_weight").fill_null(0.0),
        *[pl.col(name) for name in INDICES if name != "n_owners"],
        pl.col("n_owners").fill_null(0).cast(pl.UInt32),
    )
    return out.drop("__all") if "__all" in out.columns else out


# ---------------------------------------------------------------------------------------------
# Row-wise indices on a matrix of owner totals (the bootstrap's core)
# ---------------------------------------------------------------------------------------------


def indices_of_rows(totals: np.ndarray) -> dict[str, np.ndarray]:
    """Every index for each row of ``totals`` (rows: resamples or windows, columns: owners).

    Columns with zero in a row are owners absent from that row. Rows without positive weight
    get NaN (and ``n_owners`` 0).
    """
    t = np.asarray(totals, dtype=np.float64)
    if t.ndim != 2:
        raise ValueError("totals must be a 2-D matrix (rows x owners)")
    n_cols = t.shape[1]
    row_total = t.sum(axis=1)
    n = (t > 0).sum(axis=1).astype(np.float64)
    empty = n == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        s = t / row_total[:, None]
        s[empty] = 0.0
        plogp = np.where(s > 0, s * np.log(np.where(s > 0, s, 1.0)), 0.0)
        out: dict[str, np.ndarray] = {"hhi": np.einsum("ij,ij->i", s, s)}
        h = -plogp.sum(axis=1)
        out["entropy"] = np.where(n > 1, h / np.log(np.maximum(n, 2.0)), 0.0)
        s_sorted = np.sort(s, axis=1)  # ascending: the absent owners (zeros) come first
        positions = np.arange(1, n_cols + 1, dtype=np.float64)
        # rank among the present owners = position - number of zeros; sum(s) = 1 per row
        rank_sum = s_sorted @ positions - (n_cols - n)
        out["gini"] = 2.0 * rank_sum / n - (n + 1.0) / n
        top = np.cumsum(s_sorted[:, ::-1][:, : max(TOP_K)], axis=1)
        for k in TOP_K:
            out[f"cr{k}"] = top[:, min(k, n_cols) - 1] if n_cols else np.zeros(len(t))
    for name in out:
        out[name] = np.where(empty, np.nan, out[name])
    out["n_owners"] = n
    return {name: out[name] for name in INDICES}


# ---------------------------------------------------------------------------------------------
# Bootstrap of the pre/post difference
# ---------------------------------------------------------------------------------------------


def unit_owner_matrix(
    frame: pl.DataFrame, unit_col: str, owner_col: str, weight_col: str
) -> tuple[pl.Series, np.ndarray]:
    """The dense unit-by-owner weight matrix of one window, units in sorted order.

    Returns the sorted distinct units and the matrix (units x owners, float64). A unit whose
    rows all have weight 0 is still a unit (an empty day or snapshot counts when resampling).
    """
    units = frame.get_column(unit_col).unique().sort()
    owners = frame.get_column(owner_col).unique().sort()
    cells = (
        frame.group_by([unit_col, owner_col])
        .agg(pl.col(weight_col).cast(pl.Float64).sum().alias("_w"))
        .join(units.to_frame().with_row_index("_u"), on=unit_col)
        .join(owners.to_frame().with_row_index("_o"), on=owner_col)
    )
    matrix = np.zeros((units.len(), owners.len()), dtype=np.float64)
    matrix[cells["_u"].to_numpy(), cells["_o"].to_numpy()] = cells["_w"].to_numpy()
    return units, matrix


def resample_counts(rng: np.random.Generator, n_units: int, n_resamples: int) -> np.ndarray:
    """How often each unit is drawn in each resample (resamples x units, float64).

    The draws are ``rng.integers(0, n_units, size=(n_resamples, n_units))``: row ``b`` holds the
    units of resample ``b`` (with replacement), so a loop over resamples can reproduce them.
    """
    idx = rng.integers(0, n_units, size=(n_resamples, n_units))
    offsets = (np.arange(n_resamples) * n_units)[:, None]
    flat = np.bincount((idx + offsets).ravel(), minlength=n_resamples * n_units)
    return flat.reshape(n_resamples, n_units).astype(np.float64)


def bootstrap_indices(
    unit_weights: np.ndarray,
    n_resamples: int,
    rng: np.random.Generator,
    *,
    block_days: int | None = None,
    block_scheme: resampling.Scheme = "moving",
    scale: float = 1.0,
) -> dict[str, np.ndarray]:
    """Every index for each of ``n_resamples`` unit resamples of one window (vectorized).

    ``unit_weights`` is the units x owners matrix; resample ``b``'s owner totals are row ``b``
    of ``resample_counts(...) @ unit_weights``, computed in row blocks that bound memory.
    With ``block_days`` the rows are consecutive days and the counts come from
    :func:`takedowns.analysis.resampling.day_counts` (blocks of ``block_days`` days,
    ``block_scheme``).
    ``scale`` stretches each resample's owner totals away from the observed ones
    (``T + scale * (T_b - T)``, floored at 0): the persistence correction.
    """
    if block_days is None:
        counts = resample_counts(rng, unit_weights.shape[0], n_resamples)
    else:
        counts = resampling.day_counts(
            rng, unit_weights.shape[0], n_resamples, block_days, block_scheme
        )
    block = max(1, _MAX_CELLS // max(1, unit_weights.shape[1]))
    # einsum's own loop rather than BLAS: multi-threaded BLAS crawls on a busy machine
    observed = unit_weights.sum(axis=0)

    def totals(start: int) -> np.ndarray:
        drawn = np.einsum("bu,uo->bo", counts[start : start + block], unit_weights)
        return drawn if scale == 1.0 else np.maximum(observed + scale * (drawn - observed), 0.0)

    parts = [indices_of_rows(totals(start)) for start in range(0, n_resamples, block)]
    return {name: np.concatenate([p[name] for p in parts]) for name in INDICES}


def persistence_factor_of_days(
    pre_days: np.ndarray, post_days: np.ndarray, block_days: int
) -> tuple[float, float]:
    """Persistence factors (pre, post) of day-by-owner matrices for blocks of ``block_days``.

    The autocorrelation is that of the daily HHI series of both windows
    (:func:`takedowns.analysis.resampling.persistence_acf`; a day without weight takes its window's
    mean HHI), the factors :func:`takedowns.analysis.resampling.persistence_factor`.
    """

    def daily_hhi(days: np.ndarray) -> np.ndarray:
        h = indices_of_rows(days)["hhi"]
        return np.where(np.isfinite(h), h, np.nanmean(h) if np.isfinite(h).any() else 0.0)

    series = [daily_hhi(pre_days), daily_hhi(post_days)]
    n_pre, n_post = len(series[0]), len(series[1])
    acf = resampling.persistence_acf(series, max(n_pre, n_post))
    return (
        float(resampling.persistence_factor(acf, n_pre, block_days)),
        float(resampling.persistence_factor(acf, n_post, block_days)),
    )


def _window_rows(frame: pl.DataFrame, window_col: str, label: Any) -> pl.DataFrame:
    return frame.filter(pl.col(window_col) == label)


def bootstrap_change(
    frame: pl.DataFrame,
    *,
    unit_col: str,
    owner_col: str,
    weight_col: str,
    window_col: str = "window",
    pre_label: Any = "pre",
    post_label: Any = "post",
    n_resamples: int = 2000,
    seed: int | Sequence[int] | np.random.Generator = 0,
    confidence: float = 0.95,
    min_units: int = 2,
    block_days: int | None = None,
    block_scheme: resampling.Scheme = "moving",
    persistence_correction: bool = False,
) -> pl.DataFrame:
    """Point estimates and percentile bootstrap intervals of post - pre, one row per index.

    ``frame`` is long: (window, unit, owner, weight) rows of one comparison (one event, one
    measure, one post window). Each window's estimate is the index of its pooled weights; the
    interval resamples the units of each window independently with replacement
    (``n_resamples`` times; the pre window is drawn first, then the post window, from one
    ``numpy.random.default_rng(seed)``) and takes the ``(1 - confidence)/2`` and
    ``(1 + confidence)/2`` quantiles of the resampled differences. Resamples whose index is
    undefined (no positive weight) are left out and ``n_valid`` says how many remained.
    A window with fewer than ``min_units`` units gets no interval (null bounds); an index
    undefined in a window (no positive weight) is null, as is its difference.

    ``block_days`` (default None: independent units, as above) switches to a block bootstrap
    over days: the sorted units of each window are taken as consecutive days and resampled in
    blocks of ``block_days`` (``block_scheme``: "moving", "circular" or "stationary"; see
    :mod:`takedowns.analysis.resampling`), the same drawn days for every owner. Use it whenever the
    units are days: under persistent day-to-day drift the independent-units interval is far
    too narrow.
    With ``block_days`` and ``persistence_correction`` the resampled owner totals of each
    window are stretched by :func:`persistence_factor_of_days` (the variance blocks miss under
    the persistence of the daily HHI series).

    Columns: index, pre, post, difference, ci_low, ci_high, confidence, n_units_pre,
    n_units_post, n_resamples, n_valid.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), not {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, not {n_resamples}")
    if block_days is not None and block_days < 1:
        raise ValueError(f"block_days must be at least 1 (or None), not {block_days}")
    if block_scheme not in resampling.SCHEMES:
        raise ValueError(f"block_scheme must be one of {resampling.SCHEMES}, not {block_scheme!r}")
    _check_columns(frame, owner_col, weight_col)
    for col in (unit_col, window_col):
        if col not in frame.columns:
            raise ValueError(f"frame has no column '{col}'; it has {frame.columns}")
    if frame.get_column(unit_col).null_count():
        raise ValueError(f"column '{unit_col}' has null units")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    windows = {}
    for name, label in (("pre", pre_label), ("post", post_label)):
        rows = _window_rows(frame, window_col, label)
        units, matrix = unit_owner_matrix(rows, unit_col, owner_col, weight_col)
        windows[name] = (units.len(), matrix)
    n_pre, w_pre = windows["pre"]
    n_post, w_post = windows["post"]
    point_pre = indices_of_rows(w_pre.sum(axis=0, keepdims=True))
    point_post = indices_of_rows(w_post.sum(axis=0, keepdims=True))
    enough = min(n_pre, n_post) >= max(1, min_units)
    if enough:
        blocks = {"block_days": block_days, "block_scheme": block_scheme}
        scale_pre = scale_post = 1.0
        if block_days is not None and persistence_correction:
            scale_pre, scale_post = persistence_factor_of_days(w_pre, w_post, block_days)
        boot_pre = bootstrap_indices(w_pre, n_resamples, rng, scale=scale_pre, **blocks)
        boot_post = bootstrap_indices(w_post, n_resamples, rng, scale=scale_post, **blocks)
    q = ((1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0)
    rows_out = []
    for name in INDICES:
        pre, post = float(point_pre[name][0]), float(point_post[name][0])
        low = high = None
        n_valid = 0
        if enough:
            diff = boot_post[name] - boot_pre[name]
            diff = diff[np.isfinite(diff)]
            n_valid = int(diff.size)
            if n_valid:
                low, high = (float(v) for v in np.quantile(diff, q))
        rows_out.append(
            {
                "index": name,
                "pre": pre,
                "post": post,
                "difference": post - pre,
                "ci_low": low,
                "ci_high": high,
                "confidence": confidence,
                "n_units_pre": n_pre,
                "n_units_post": n_post,
                "n_resamples": n_resamples,
                "n_valid": n_valid,
            }
        )
    frame_out = pl.DataFrame(rows_out, schema=_BOOTSTRAP_SCHEMA)
    return frame_out.with_columns(pl.col("pre", "post", "difference").fill_nan(None))


_BOOTSTRAP_SCHEMA: Mapping[str, pl.DataType] = {
    "index": pl.String(),
    "pre": pl.Float64(),
    "post": pl.Float64(),
    "difference": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
    "confidence": pl.Float64(),
    "n_units_pre": pl.Int64(),
    "n_units_post": pl.Int64(),
    "n_resamples": pl.Int64(),
    "n_valid": pl.Int64(),
}


def group_seed(seed: int, key: Sequence[Any]) -> list[int]:
    """The generator seed of one group: ``[seed, crc32(repr(key))]``.

    It depends on the group's key only, not on the order of the groups, so adding an event
    or a window to the study leaves the other groups' intervals unchanged.
    """
    return [int(seed), zlib.crc32(repr(tuple(key)).encode("utf-8"))]


def bootstrap_change_by(
    frame: pl.DataFrame,
    group_cols: Sequence[str],
    *,
    unit_col: str,
    owner_col: str,
    weight_col: str,
    window_col: str = "window",
    pre_label: Any = "pre",
    post_label: Any = "post",
    n_resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
    min_units: int = 2,
    block_days: int | None = None,
    block_scheme: resampling.Scheme = "moving",
    persistence_correction: bool = False,
) -> pl.DataFrame:
    """:func:`bootstrap_change` for each group (e.g. event, measure, post window), stacked.

    Each group draws from ``numpy.random.default_rng(group_seed(seed, key))``. The loop runs
    over the few groups; the resamples inside a group are vectorized.
    """
    groups = list(group_cols)
    if not groups:
        return bootstrap_change(
            frame,
            unit_col=unit_col,
            owner_col=owner_col,
            weight_col=weight_col,
            window_col=window_col,
            pre_label=pre_label,
            post_label=post_label,
            n_resamples=n_resamples,
            seed=seed,
            confidence=confidence,
            min_units=min_units,
            block_days=block_days,
            block_scheme=block_scheme,
            persistence_correction=persistence_correction,
        )
    parts = []
    for key, rows in frame.group_by(groups, maintain_order=True):
        result = bootstrap_change(
            rows,
            unit_col=unit_col,
            owner_col=owner_col,
            weight_col=weight_col,
            window_col=window_col,
            pre_label=pre_label,
            post_label=post_label,
            n_resamples=n_resamples,
            seed=group_seed(seed, key),
            confidence=confidence,
            min_units=min_units,
            block_days=block_days,
            block_scheme=block_scheme,
            persistence_correction=persistence_correction,
        )
        keys = [pl.lit(v, dtype=frame.schema[c]).alias(c) for c, v in zip(groups, key, strict=True)]
        parts.append(result.select(*keys, pl.all()))
    if not parts:
        return pl.DataFrame(schema={**{c: frame.schema[c] for c in groups}, **_BOOTSTRAP_SCHEMA})
    return pl.concat(parts)


# ---------------------------------------------------------------------------------------------
# Who gained share
# ---------------------------------------------------------------------------------------------


def share_gainers(
    frame: pl.DataFrame,
    *,
    owner_col: str,
    weight_col: str,
    window_col: str = "window",
    pre_label: Any = "pre",
    post_label: Any = "post",
    group_cols: Sequence[str] = (),
    top: int = 10,
) -> pl.DataFrame:
    """The owners whose pooled share grew most from the pre to the post window, per group.

    Shares are of each window's pooled weight; an owner absent from a window has share 0
    there (``new_owner`` is true when it had no weight before). Returns at most ``top`` rows
    per group with a positive share change, ranked 1.. by the change (ties: larger post share,
    then owner): group columns, owner, weight_pre, weight_post, share_pre, share_post,
    share_change, new_owner, rank.
    """
    _check_columns(frame, owner_col, weight_col)
    groups = list(group_cols)
    work = frame.filter(pl.col(window_col).is_in([pre_label, post_label]))
    work = work.with_columns(
        pl.when(pl.col(window_col) == pre_label)
        .then(pl.lit("pre"))
        .otherwise(pl.lit("post"))
        .alias("_window")
    )
    per = work.group_by([*groups, owner_col, "_window"]).agg(
        pl.col(weight_col).cast(pl.Float64).sum().alias("_w")
    )
    window_total = pl.col("_w").sum().over([*groups, "_window"])
    per = per.with_columns(_share=pl.when(window_total > 0).then(pl.col("_w") / window_total))
    wide = per.pivot(
        on="_window", index=[*groups, owner_col], values=["_w", "_share"], aggregate_function=None
    )
    for col in ("_w_pre", "_w_post", "_share_pre", "_share_post"):
        if col not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Float64).alias(col))
    wide = wide.select(
        *groups,
        owner_col,
        weight_pre=pl.col("_w_pre").fill_null(0.0),
        weight_post=pl.col("_w_post").fill_null(0.0),
        share_pre=pl.col("_share_pre").fill_null(0.0),
        share_post=pl.col("_share_post").fill_null(0.0),
    ).with_columns(
        share_change=pl.col("share_post") - pl.col("share_pre"),
        new_owner=pl.col("weight_pre") == 0,
    )
    ranked = wide.filter(pl.col("share_change") > 0).sort(
        [*groups, "share_change", "share_post", owner_col],
        descending=[*([False] * len(groups)), True, True, False],
    )
    rank = pl.int_range(1, pl.len() + 1, dtype=pl.UInt32)
    ranked = ranked.with_columns(rank=rank.over(groups) if groups else rank)
    return ranked.filter(pl.col("rank") <= top)
