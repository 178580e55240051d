"""The calibration study: do the intervals of the volume estimators hold their 95 %?

Series are drawn by :mod:`takedowns.analysis.simulate` (negative-binomial counts, weekly pattern,
AR(1) log-volume drift, campaign bursts, trap outages) on a late-2008 calendar (t0 = 11 Nov
2008, so the holiday terms fall inside the window as they do for a November cut-off; 90 pre
days, 30 or 90 post days) with a planted level effect of 0, -30 % or -60 % and no slope
change, and run through the estimators of :mod:`takedowns.analysis.effects` with the design the
study
uses (weekday, holiday terms, level and slope change; outage days detected and left out).
Each series also has :data:`NOISE_DAYS` days before its pre window: the *noise baseline* (the
real study has three years of daily counts, most of them outside any event window), which
``log_arma_baseline`` uses to learn the noise autocorrelation
(:func:`takedowns.analysis.effects.log_arma_batch` with ``noise_y``, ``noise_x``); the other
estimators see the event window only.

Per estimator and estimand (``estimator`` = ``<estimator>:<estimand>``), scenario, rho and
planted effect: ``coverage`` of the 95 % interval (the truth: the planted level for
``immediate``, the series' own window-average effect for ``window_average``, the planted
effect on the window's last day for ``end``),
``false_positive_rate`` (interval excludes 0 when nothing was planted), ``power`` (interval
excludes 0 when an effect was planted) and ``bias`` (mean estimate minus truth). An estimator
passes when at every rho its false-positive rate is at most 0.06 and its coverage lies in
[0.93, 0.97], with at least 500 series per cell. With 500 series a rate near 0.05 has a Monte
Carlo standard error of about 0.01 (``mc_se`` in verdict.csv: the binomial s.e. at the
nominal rate), so a cell just outside the goal may be noise: ``within_2se`` says whether
every cell is within two standard errors of the goal.

Run: ``python -m takedowns.analysis.calibration --out data/calibration``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from takedowns.analysis import displacement_calibration, effects
from takedowns.analysis.simulate import SeriesModel, simulate_daily_counts

log = logging.getLogger(__name__)

#: The summary's columns: one definition for the volume and the displacement studies.
COLUMNS = displacement_calibration.COLUMNS
RHOS = (0.0, 0.5, 0.7, 0.9)
PLANTED = (0.0, -0.3, -0.6)
POST_DAYS = (30, 90)
PRE_DAYS = 90
NOISE_DAYS = 365
D0 = dt.date(2008, 11, 11)
CALIBRATED_ESTIMANDS = ("immediate", "window_average", "end")
# The goal an estimator must meet at every rho to be used.
MAX_FPR = 0.06
COVERAGE_RANGE = (0.93, 0.97)
MIN_SERIES = 500
#: Series per cell of ``make calibrate`` (twice the minimum: a Monte Carlo s.e. of 0.007 at 0.05).
STUDY_SERIES = 1000

# An estimator: (window counts (S, n), window design, baseline counts (S, m), baseline design).
Estimator = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], effects.BatchFit]

ESTIMATORS: dict[str, Estimator] = {
    "qp_model": lambda y, x, ny, nx: effects.quasi_poisson_batch(y, x, cov_type="model"),
    "qp_hac7": lambda y, x, ny, nx: effects.quasi_poisson_batch(
        y, x, lag_days=7, critical="normal"
    ),
    "qp_hac_fixed_b": lambda y, x, ny, nx: effects.quasi_poisson_batch(y, x, critical="fixed_b"),
    "log_arma": lambda y, x, ny, nx: effects.log_arma_batch(y, x),
    "log_arma_baseline": lambda y, x, ny, nx: effects.log_arma_batch(y, x, noise_y=ny, noise_x=nx),
}
PRIMARY = "log_arma_baseline"
"""The volume estimator the study uses (its rows decide whether the volume axis is reported)."""


@dataclass(frozen=True)
class Cell:
    """One cell of the study: a window, a rho, a planted effect, a seed."""

    post_days: int
    rho: float
    planted_effect: float
    n_series: int
    seed: int

    @property
    def scenario(self) -> str:
        """The scenario label: the window lengths."""
        return f"pre{PRE_DAYS}_post{self.post_days}"


def cell_model(cell: Cell) -> SeriesModel:
    """The generator's parameters for a cell (defaults otherwise), on the study's calendar."""
    first = D0 - dt.timedelta(days=NOISE_DAYS + PRE_DAYS)
    return SeriesModel(
        n_days=NOISE_DAYS + PRE_DAYS + cell.post_days,
        t0=NOISE_DAYS + PRE_DAYS,
        rho=cell.rho,
        level_effect=cell.planted_effect,
        start_weekday=first.weekday(),
    )


@functools.lru_cache(maxsize=8)
def _designs(post_days: int) -> tuple[effects.Design, np.ndarray]:
    """The study's design of the event window and the noise baseline's design (cached)."""
    first = D0 - dt.timedelta(days=NOISE_DAYS + PRE_DAYS)
    days = [first + dt.timedelta(days=i) for i in range(NOISE_DAYS + PRE_DAYS + post_days)]
    window = effects.calendar_design(days[NOISE_DAYS:], D0)
    return window, effects.noise_design(days[:NOISE_DAYS])


def _summarize(
    name: str, cell: Cell, est: dict[str, np.ndarray], truth: dict[str, np.ndarray]
) -> list[dict[str, object]]:
    """Coverage, false-positive rate or power, and bias of each calibrated estimand."""
    rows = []
    for estimand in CALIBRATED_ESTIMANDS:
        low, high, value = est[f"{estimand}_low"], est[f"{estimand}_high"], est[estimand]
        target = truth[estimand]
        ok = np.isfinite(low) & np.isfinite(high)
        excludes_zero = float(np.mean((high < 0) | (low > 0)))
        rows.append(
            {
                "estimator": f"{name}:{estimand}",
                "scenario": cell.scenario,
                "rho": cell.rho,
                "planted_effect": cell.planted_effect,
                "n_series": int(ok.sum()),
                "coverage": float(np.mean((low <= target) & (target <= high))),
                "false_positive_rate": excludes_zero if cell.planted_effect == 0 else np.nan,
                "power": excludes_zero if cell.planted_effect != 0 else np.nan,
                "bias": float(np.mean(value - target)),
            }
        )
    return rows


def run_cell(cell: Cell) -> list[dict[str, object]]:
    """Simulate one cell's series and summarize every estimator on them."""
    model = cell_model(cell)
    sim = simulate_daily_counts(model, cell.n_series, np.random.default_rng(cell.seed))
    y = sim.counts.astype(np.float64)
    y[effects.outage_mask(y)] = np.nan
    design, noise_x = _designs(cell.post_days)
    noise_y, y = y[:, :NOISE_DAYS], y[:, NOISE_DAYS:]
    truth = {
        "immediate": np.full(cell.n_series, sim.immediate),
        "window_average": sim.window_average,
        "end": np.full(cell.n_series, sim.end_of_window),
    }
    rows = []
    for name, estimator in ESTIMATORS.items():
        est = effects.estimands(estimator(y, design.x, noise_y, noise_x), design)
        rows.extend(_summarize(name, cell, est, truth))
    return rows


def cells(
    n_series: int,
    rhos: Sequence[float],
    seed: int,
    *,
    post_days: Sequence[int] = POST_DAYS,
    planted: Sequence[float] = PLANTED,
) -> list[Cell]:
    """Every cell of the study, each with its own seed."""
    grid = [(p, r, e) for p in post_days for r in rhos for e in planted]
    seeds = np.random.SeedSequence(seed).generate_state(len(grid))
    return [
        Cell(post_days=p, rho=r, planted_effect=e, n_series=n_series, seed=int(s))
        for (p, r, e), s in zip(grid, seeds, strict=True)
    ]


def volume_rows(study: Sequence[Cell], processes: int = 2) -> pl.DataFrame:
    """The summary rows of the volume estimators over the cells (``processes`` workers)."""
    if processes > 1:
        with ProcessPoolExecutor(max_workers=processes) as pool:
            results = [f.result() for f in _submit_cells(pool, study)]
    else:
        results = [run_cell(c) for c in study]
    return _volume_frame(results)


def _submit_cells(pool: ProcessPoolExecutor, study: Sequence[Cell]) -> list[Future]:
    """Submit every cell, the slowest (longest post window) first; futures in study order."""
    order = sorted(range(len(study)), key=lambda i: -study[i].post_days)
    futures: dict[int, Future] = {i: pool.submit(run_cell, study[i]) for i in order}
    return [futures[i] for i in range(len(study))]


def _volume_frame(results: Sequence[list[dict[str, object]]]) -> pl.DataFrame:
    """The volume rows of every cell as one table."""
    return pl.DataFrame([row for rows in results for row in rows], schema=_schema())


def _schema() -> dict[str, pl.DataType]:
    """The summary table's column types."""
    return {
        "estimator": pl.String(),
        "scenario": pl.String(),
        "rho": pl.Float64(),
        "planted_effect": pl.Float64(),
        "n_series": pl.Int64(),
        "coverage": pl.Float64(),
        "false_positive_rate": pl.Float64(),
        "power": pl.Float64(),
        "bias": pl.Float64(),
    }


def displacement_rows(
    n_series: int, rhos: Sequence[float], seed: int, *, processes: int = 1
) -> pl.DataFrame:
    """The displacement estimators' rows (:mod:`takedowns.analysis.displacement_calibration`)."""
    frame = displacement_calibration.calibration_rows(n_series, rhos, seed, processes=processes)
    return _displacement_frame([frame])


def _displacement_frame(frames: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """The displacement rows in the summary's columns and types."""
    frame = pl.concat(frames)
    missing = set(COLUMNS) - set(frame.columns)
    if missing:
        raise ValueError(f"displacement calibration rows lack columns {sorted(missing)}")
    return frame.select(list(COLUMNS)).cast(_schema())  # type: ignore[arg-type]


def _run_study(
    study: Sequence[Cell],
    n_series: int,
    rhos: Sequence[float],
    seed: int,
    *,
    processes: int,
    displacement: bool,
) -> list[pl.DataFrame]:
    """Volume cells and (``displacement``) the displacement jobs, in one pool of ``processes``.

    The displacement jobs (one per rho, the longest) are submitted first so that the volume
    cells fill the workers around them.
    """
    jobs = displacement_calibration.rho_jobs(rhos, seed) if displacement else []
    if processes <= 1:
        frames = [volume_rows(study, 1)]
        if jobs:
            frames.append(
                _displacement_frame(
                    [displacement_calibration.rows_for_rho(n_series, r, s) for r, s in jobs]
                )
            )
        return frames
    with ProcessPoolExecutor(max_workers=processes) as pool:
        moved = [
            pool.submit(displacement_calibration.rows_for_rho, n_series, r, s) for r, s in jobs
        ]
        volume = _submit_cells(pool, study)
        frames = [_volume_frame([f.result() for f in volume])]
        if moved:
            frames.append(_displacement_frame([f.result() for f in moved]))
    return frames


def _meets_goal() -> pl.Expr:
    """Per cell: the false-positive rate and coverage goals and enough series."""
    low, high = COVERAGE_RANGE
    return (
        (pl.col("false_positive_rate").fill_nan(None).fill_null(0.0) <= MAX_FPR)
        # a cell without a truth to cover (nothing planted for that measure) has no coverage
        & pl.col("coverage").fill_nan(None).fill_null((low + high) / 2).is_between(low, high)
        & (pl.col("n_series") >= MIN_SERIES)
    )


PRIMARY_ESTIMATORS = (*(f"{PRIMARY}:{e}" for e in CALIBRATED_ESTIMANDS), "wdq")
"""The estimator of each axis (volume estimands, displacement) that the report relies on."""


def _within_2se() -> pl.Expr:
    """Per cell: the goal missed by at most two Monte Carlo standard errors (at 0.05)."""
    se = (0.05 * 0.95 / pl.col("n_series").clip(1)).sqrt()
    low, high = COVERAGE_RANGE
    return (
        (pl.col("false_positive_rate").fill_nan(None).fill_null(0.0) <= MAX_FPR + 2 * se)
        & pl.col("coverage").fill_nan(None).fill_null(0.95).is_between(low - 2 * se, high + 2 * se)
        & (pl.col("n_series") >= MIN_SERIES)
    )


STATUSES = ("calibrated", "calibrated within Monte Carlo error", "not calibrated")
"""The calibration status of an estimator (``status`` in verdict.csv), best first."""


def verdict(summary: pl.DataFrame) -> pl.DataFrame:
    """Per estimator: the worst false-positive rate and coverage, and whether it passes.

    Passes: every cell has at least :data:`MIN_SERIES` series, the false-positive rate is at
    most :data:`MAX_FPR` and the coverage within :data:`COVERAGE_RANGE` in every cell.
    ``passes_up_to_rho``: the largest rho such that every cell at that rho or below meets
    the goal (null: not even the smallest); ``calibrated_up_to_rho`` the same within two
    Monte Carlo standard errors (the answer may use an estimator where the data's own noise
    persistence is at most this); ``max_rho_studied`` the study's largest rho.
    ``cells_failing``: cells that miss the goal;
    ``mc_se``: the Monte Carlo standard error of a 5 % rate with the fewest series;
    ``within_2se``: every cell within two such errors of the goal (a miss that may be
    simulation noise); ``primary``: one of :data:`PRIMARY_ESTIMATORS`; ``status``: what the
    answer makes of it (:data:`STATUSES`: ``calibrated`` when it passes, ``calibrated within
    Monte Carlo error`` when it misses only by simulation noise, else ``not calibrated``, and
    the answer keeps such an estimator out).
    """
    cells = summary.with_columns(ok=_meets_goal(), near=_within_2se())
    by_rho = (
        cells.group_by("estimator", "rho")
        .agg(pl.col("ok").all(), pl.col("near").all())
        .sort("estimator", "rho")
    )
    up_to = by_rho.group_by("estimator").agg(
        passes_up_to_rho=pl.col("rho").filter(pl.col("ok").cum_min()).max(),
        calibrated_up_to_rho=pl.col("rho").filter(pl.col("near").cum_min()).max(),
        max_rho_studied=pl.col("rho").max(),
    )
    return (
        cells.group_by("estimator")
        .agg(
            passes=pl.col("ok").all(),
            worst_false_positive_rate=pl.col("false_positive_rate").fill_nan(None).max(),
            min_coverage=pl.col("coverage").fill_nan(None).min(),
            max_coverage=pl.col("coverage").fill_nan(None).max(),
            min_n_series=pl.col("n_series").min(),
            cells_failing=(~pl.col("ok")).sum(),
            within_2se=pl.col("near").all(),
        )
        .with_columns(
            mc_se=(0.05 * 0.95 / pl.col("min_n_series").clip(1)).sqrt(),
            primary=pl.col("estimator").is_in(list(PRIMARY_ESTIMATORS)),
        )
        .join(up_to, on="estimator")
        .with_columns(
            status=pl.when("passes")
            .then(pl.lit(STATUSES[0]))
            .when("within_2se")
            .then(pl.lit(STATUSES[1]))
            .otherwise(pl.lit(STATUSES[2]))
        )
        .select(
            "estimator",
            "passes",
            "passes_up_to_rho",
            "calibrated_up_to_rho",
            "max_rho_studied",
            "worst_false_positive_rate",
            "min_coverage",
            "max_coverage",
            "min_n_series",
            "cells_failing",
            "mc_se",
            "within_2se",
            "primary",
            "status",
        )
        .sort("estimator")
    )


def plot(summary: pl.DataFrame, path: Path) -> None:
    """Coverage (all cells) and false-positive rate (no effect) by rho, one line per estimator
    and scenario (mean over the planted effects for coverage)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    coverage = summary.group_by("estimator", "scenario", "rho").agg(pl.col("coverage").mean())
    fpr = summary.filter(pl.col("planted_effect") == 0)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharex=True)
    for ax, frame, column, goal in (
        (axes[0], coverage, "coverage", COVERAGE_RANGE),
        (axes[1], fpr, "false_positive_rate", (0.0, MAX_FPR)),
    ):
        for (estimator, scenario), part in frame.sort("rho").group_by(
            "estimator", "scenario", maintain_order=True
        ):
            style = "-" if str(scenario).endswith("post90") else "--"
            ax.plot(part["rho"], part[column], style, marker="o", label=f"{estimator} {scenario}")
        ax.axhspan(*goal, color="0.9", zorder=0)
        ax.set_xlabel("rho (AR(1) of log-volume drift)")
        ax.set_ylabel(column.replace("_", " "))
    axes[1].legend(fontsize=6, loc="upper left")
    fig.suptitle("95 % intervals on simulated series (grey: the goal)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_calibration(
    out: Path,
    *,
    n_series: int = STUDY_SERIES,
    rhos: Sequence[float] = RHOS,
    seed: int = 20081111,
    post_days: Sequence[int] = POST_DAYS,
    planted: Sequence[float] = PLANTED,
    processes: int = 2,
    displacement: bool = True,
) -> pl.DataFrame:
    """Run the study; write summary.csv, verdict.csv and coverage_fpr.png under ``out``.

    ``displacement``: also run the displacement estimators'
    (:mod:`takedowns.analysis.displacement_calibration`, one job per rho, in the same pool).
    """
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    study = cells(n_series, rhos, seed, post_days=post_days, planted=planted)
    frames = _run_study(study, n_series, rhos, seed, processes=processes, displacement=displacement)
    log.info(
        "%d volume cells and the displacement jobs in %.1f s",
        len(study),
        time.perf_counter() - started,
    )
    summary = pl.concat(frames).sort("estimator", "scenario", "rho", "planted_effect")
    summary.write_csv(out / "summary.csv")
    verdict(summary).write_csv(out / "verdict.csv")
    plot(summary, out / "coverage_fpr.png")
    seconds = time.perf_counter() - started
    provenance = {
        "command": "python -m takedowns.analysis.calibration",
        "package_version": _package_version(),
        "seed": seed,
        "n_series": n_series,
        "rhos": list(rhos),
        "post_days": list(post_days),
        "planted": list(planted),
        "processes": processes,
        "displacement": displacement,
        "seconds": round(seconds, 1),
    }
    (out / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
    log.info("calibration written to %s in %.1f s", out, seconds)
    return summary


def _package_version() -> str:
    """The installed package's version (the code that produced the study)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("takedowns")
    except PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``python -m takedowns.analysis.calibration --out data/calibration``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--n-series", type=int, default=STUDY_SERIES, help="series per cell")
    parser.add_argument("--seed", type=int, default=20081111)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    summary = run_calibration(
        args.out, n_series=args.n_series, seed=args.seed, processes=args.processes
    )
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=160):
        print(verdict(summary))


if __name__ == "__main__":
    main()
