"""Calibration of the displacement statistics on simulated activity with a known truth.

Series come from :func:`takedowns.analysis.simulate.simulate_network_activity`: a target, ten buffer
and forty control networks, 90 pre days and 30 or 90 post days, a planted drop of the
target (0, -30 %, -60 %) of which half (``MOVED_SHARE``) reappears at 0, 1 or 10 buffer
networks (true WDQ ``-0.5``; none when nothing moved). Every cell runs the package's own
estimators (:func:`takedowns.analysis.displacement.estimate_displacement`,
:func:`takedowns.analysis.concentration.bootstrap_indices`) and reports, per estimator:

- ``coverage``: share of 95 % intervals containing the true value;
- ``false_positive_rate`` (cells where nothing moved): share of intervals excluding 0, or
  of classes other than ``none``;
- ``power`` (cells where something moved): share of intervals excluding 0 on the side of
  displacement, or of the correct class (``displaced`` for one mover, ``dispersed`` for ten);
- ``bias``: mean estimate minus truth; for the WDQ the *median* (a ratio with a noisy
  denominator has no useful mean).

Estimators: ``wdq`` (the default plan), ``wdq_plain_blocks`` (the same blocks without the
persistence correction), ``buffer_share_change``, ``displacement_class``; and, under
persistent drift with nothing changed, the pre/post HHI change of
:func:`takedowns.analysis.concentration.bootstrap_indices` with independent days
(``hhi_change_iid_days``), blocks (``hhi_change_block_days``) or blocks with the
persistence correction (``hhi_change_block_days_corrected``), vectorized over series here
(the same computation as :func:`takedowns.analysis.concentration.bootstrap_indices` per series).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

import numpy as np
import polars as pl

from takedowns.analysis import resampling
from takedowns.analysis.displacement import (
    BootstrapPlan,
    classify_gains,
    collapse_roles,
    estimate_displacement,
)

COLUMNS: tuple[str, ...] = (
    "estimator",
    "scenario",
    "rho",
    "planted_effect",
    "n_series",
    "coverage",
    "false_positive_rate",
    "power",
    "bias",
)
N_BUFFER, N_CONTROL, PRE_DAYS = 10, 40, 90
POST_DAYS: tuple[int, ...] = (30, 90)
DROPS: tuple[float, ...] = (0.0, -0.3, -0.6)
MOVERS: tuple[int, ...] = (0, 1, 10)
MOVED_SHARE = 0.5
N_RESAMPLES = 499
PLAN = BootstrapPlan(n_resamples=N_RESAMPLES)


def _row(estimator: str, scenario: str, rho: float, effect: float, n: int, **v: float) -> dict:
    """One output row; the measures not given are NaN."""
    nan = float("nan")
    return {
        "estimator": estimator,
        "scenario": scenario,
        "rho": float(rho),
        "planted_effect": float(effect),
        "n_series": int(n),
        **{k: float(v.get(k, nan)) for k in ("coverage", "false_positive_rate", "power", "bias")},
    }


def _simulate(rho: float, drop: float, movers: int, post_days: int, n: int, rng):
    """Simulated activity of one cell and its daily role matrices (pre, post)."""
    from takedowns.analysis.simulate import SeriesModel, simulate_network_activity

    model = SeriesModel(n_days=PRE_DAYS + post_days, t0=PRE_DAYS, rho=rho, level_effect=drop)
    sim = simulate_network_activity(
        model,
        n,
        rng,
        n_buffer=N_BUFFER,
        n_control=N_CONTROL,
        movers=movers,
        moved_share=MOVED_SHARE if drop != 0 else 0.0,
    )
    roles = ["target"] + ["buffer"] * N_BUFFER + ["control"] * N_CONTROL
    daily = collapse_roles(np.swapaxes(sim.activity, 1, 2), roles)
    expected = collapse_roles(np.swapaxes(sim.expected, 1, 2), roles)
    return sim, daily[:, :PRE_DAYS], daily[:, PRE_DAYS:], expected


def _pooled_share(totals: np.ndarray) -> np.ndarray:
    """Buffers' share of the non-target activity from role totals ``(..., K)``."""
    return totals[..., 1:-1].sum(-1) / totals[..., 1:].sum(-1)


def _displacement_cells(
    rho: float, drop: float, movers: int, post_days: int, n: int, rng: np.random.Generator
) -> list[dict]:
    """Rows of the WDQ, buffer-share and class estimators for one cell."""
    sim, pre, post, expected = _simulate(rho, drop, movers, post_days, n, rng)
    moved = movers > 0 and drop != 0
    scenario = f"post{post_days}_moved_to_{movers if moved else 0}"
    rows = []
    true_wdq = sim.true_wdq
    true_share = _pooled_share(expected[:, PRE_DAYS:].sum(1)) - _pooled_share(
        expected[:, :PRE_DAYS].sum(1)
    )
    for name, plan in (
        ("wdq", PLAN),
        ("wdq_plain_blocks", replace(PLAN, persistence_correction=False)),
    ):
        est = estimate_displacement(pre, post, plan, rng)
        excludes = (est.wdq_low > 0) | (est.wdq_high < 0)
        measures: dict[str, float] = {}
        if drop != 0:
            measures["coverage"] = np.mean((est.wdq_low <= true_wdq) & (true_wdq <= est.wdq_high))
            measures["bias"] = np.nanmedian(est.wdq - true_wdq)
        if moved:
            measures["power"] = np.mean(est.wdq_high < 0)
        else:
            measures["false_positive_rate"] = np.mean(excludes)
        rows.append(_row(name, scenario, rho, drop, n, **measures))
        if name != "wdq":
            continue
        share_excl = (est.buffer_low > 0) | (est.buffer_high < 0)
        share = {
            "coverage": np.mean((est.buffer_low <= true_share) & (true_share <= est.buffer_high)),
            "bias": np.mean(est.buffer_change - true_share),
        }
        share["power" if moved else "false_positive_rate"] = np.mean(
            est.buffer_low > 0 if moved else share_excl
        )
        rows.append(_row("buffer_share_change", scenario, rho, drop, n, **share))
        label = classify_gains(est.buffer_low > 0, est.n_gainers, est.gains_hhi)
        if moved:
            want = "displaced" if movers <= 2 else "dispersed"
            cls = {"power": np.mean(label == want)}
        else:
            cls = {"false_positive_rate": np.mean(label != "none")}
        rows.append(_row("displacement_class", scenario, rho, drop, n, **cls))
    return rows


def _hhi(totals: np.ndarray) -> np.ndarray:
    """HHI (sum of squared shares) along the last axis; NaN without any weight."""
    total = totals.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = totals / total[..., None]
        return np.where(total > 0, (shares * shares).sum(axis=-1), np.nan)


def _daily_hhi(days: np.ndarray) -> np.ndarray:
    """HHI of every day ``(S, n, owners) -> (S, n)``; a day without weight takes its mean."""
    h = _hhi(days)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a series without any weight
        mean = np.nanmean(h, axis=1, keepdims=True)
    return np.where(np.isfinite(h), h, np.nan_to_num(mean, nan=0.0))


def hhi_persistence_factors(
    pre: np.ndarray, post: np.ndarray, block_days: int
) -> tuple[np.ndarray, np.ndarray]:
    """Persistence factors (pre, post), each ``(S,)``, of day-by-owner windows ``(S, n, O)``.

    Vectorized over series, as :func:`takedowns.analysis.concentration.persistence_factor_of_days`
    computes them for one: the autocorrelation of the daily HHI series of both windows
    (:func:`takedowns.analysis.resampling.persistence_acf`), then
    :func:`takedowns.analysis.resampling.persistence_factor` for blocks of ``block_days``.
    """
    series = [_daily_hhi(pre), _daily_hhi(post)]
    n_pre, n_post = pre.shape[1], post.shape[1]
    acf = resampling.persistence_acf(series, max(n_pre, n_post))
    return (
        resampling.persistence_factor(acf, n_pre, block_days),
        resampling.persistence_factor(acf, n_post, block_days),
    )


def _hhi_draws(
    days: np.ndarray,
    block_days: int | None,
    scale: np.ndarray,
    rng: np.random.Generator,
    chunk: int = 64,
) -> np.ndarray:
    """Bootstrap HHI of one window per series: ``(S, n, O) -> (S, N_RESAMPLES)``.

    Independent days (``block_days`` None) or circular blocks; each resample's owner totals
    are stretched from the observed ones by ``scale`` (S,) and floored at 0, as
    :func:`takedowns.analysis.concentration.bootstrap_indices` does for one series.
    """
    n_series, n_days, _ = days.shape
    scheme = "iid" if block_days is None else "circular"
    observed = days.sum(axis=1)[:, None, :]
    out = np.empty((n_series, N_RESAMPLES))
    for start in range(0, n_series, chunk):
        rows = slice(start, min(n_series, start + chunk))
        counts = resampling.batched_day_counts(
            rng, rows.stop - start, n_days, N_RESAMPLES, block_days or 1, scheme
        )
        drawn = np.einsum("sbn,sno->sbo", counts, days[rows])
        stretched = observed[rows] + scale[rows, None, None] * (drawn - observed[rows])
        out[rows] = _hhi(np.maximum(stretched, 0.0))
    return out


def _hhi_false_positives(rho: float, n: int, rng: np.random.Generator) -> list[dict]:
    """FPR of the pre/post HHI change interval when nothing changes, three bootstraps.

    Independent days (the old default), circular blocks of ``PLAN.block_days`` days, and
    those blocks with the persistence correction (:func:`hhi_persistence_factors`); the same
    simulated series for all three, every series at once.
    """
    sim, *_ = _simulate(rho, 0.0, 0, 30, n, rng)
    days = np.swapaxes(sim.activity, 1, 2).astype(np.float64)  # (S, days, networks)
    pre, post = days[:, :PRE_DAYS], days[:, PRE_DAYS:]
    ones = np.ones(n)
    corrected = hhi_persistence_factors(pre, post, PLAN.block_days)
    variants = {
        "hhi_change_iid_days": (None, (ones, ones)),
        "hhi_change_block_days": (PLAN.block_days, (ones, ones)),
        "hhi_change_block_days_corrected": (PLAN.block_days, corrected),
    }
    rows = []
    for name, (block, (scale_pre, scale_post)) in variants.items():
        change = _hhi_draws(post, block, scale_post, rng) - _hhi_draws(pre, block, scale_pre, rng)
        low, high = resampling.percentile_interval(change, PLAN.confidence, axis=1)
        excluded = (low > 0) | (high < 0)
        rows.append(
            _row(name, "post30_no_change_drift", rho, 0.0, n, false_positive_rate=excluded.mean())
        )
    return rows


def rho_jobs(rhos: Sequence[float], seed: int) -> list[tuple[float, int]]:
    """The study's independent jobs: one ``(rho, seed)`` per rho, seeds drawn from ``seed``."""
    seeds = np.random.SeedSequence(seed).generate_state(len(rhos))
    return [(float(rho), int(s)) for rho, s in zip(rhos, seeds, strict=True)]


def rows_for_rho(n_series: int, rho: float, seed: int) -> pl.DataFrame:
    """Every cell of one rho (see :func:`calibration_rows`), reproducible by ``seed``."""
    if n_series < 2:
        raise ValueError(f"n_series must be at least 2, not {n_series}")
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    for post_days in POST_DAYS:
        for drop in DROPS:
            for movers in MOVERS if drop != 0 else (0,):
                rows.extend(_displacement_cells(rho, drop, movers, post_days, n_series, rng))
    rows.extend(_hhi_false_positives(rho, n_series, rng))
    return pl.DataFrame(rows, schema=dict.fromkeys(COLUMNS)).select(
        pl.col("estimator", "scenario").cast(pl.String),
        pl.col("rho", "planted_effect").cast(pl.Float64),
        pl.col("n_series").cast(pl.Int64),
        pl.col("coverage", "false_positive_rate", "power", "bias").cast(pl.Float64),
    )


def calibration_rows(
    n_series: int, rhos: Sequence[float], seed: int, *, processes: int = 1
) -> pl.DataFrame:
    """The displacement calibration table (columns :data:`COLUMNS`), reproducible by ``seed``.

    Cells: every rho x post window (30, 90 days) x planted drop x number of movers (a drop
    of 0 moves nothing, so it is run once per rho and window), plus the HHI-change
    false-positive cells per rho. Each rho is an independent job (:func:`rho_jobs`), run
    in ``processes`` worker processes; the table does not depend on ``processes``.
    """
    if n_series < 2:
        raise ValueError(f"n_series must be at least 2, not {n_series}")
    jobs = rho_jobs(rhos, seed)
    if processes > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=processes) as pool:
            rhos_, seeds = [rho for rho, _ in jobs], [s for _, s in jobs]
            frames = list(pool.map(rows_for_rho, [n_series] * len(jobs), rhos_, seeds))
    else:
        frames = [rows_for_rho(n_series, rho, s) for rho, s in jobs]
    return pl.concat(frames)
