"""The calibration runner on a small seeded study (the full one is `make calibrate`)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl
import pytest

from takedowns.analysis.calibration import COLUMNS, run_calibration, verdict


def test_runner_writes_the_summary_and_a_plausible_coverage(tmp_path: Path) -> None:
    summary = run_calibration(
        tmp_path,
        n_series=40,
        rhos=(0.5,),
        post_days=(30,),
        planted=(0.0, -0.6),
        processes=1,
        displacement=False,
    )
    written = pl.read_csv(tmp_path / "summary.csv")
    assert tuple(written.columns) == COLUMNS
    assert written.height == summary.height == 5 * 3 * 2  # estimators x estimands x effects
    assert set(written["scenario"]) == {"pre90_post30"} and set(written["rho"]) == {0.5}
    assert (written["n_series"] == 40).all()
    for row in written.iter_rows(named=True):
        null = row["planted_effect"] == 0
        assert math.isnan(row["power"]) == null
        assert math.isnan(row["false_positive_rate"]) != null
        assert 0.0 <= row["coverage"] <= 1.0 and abs(row["bias"]) < 0.1
    arma = written.filter(pl.col("estimator") == "log_arma_baseline:immediate")
    assert arma["coverage"].min() >= 0.8  # 40 series: a 95 % interval covers 34-40 of them
    drop = arma.filter(pl.col("planted_effect") == -0.6)
    assert drop["power"].item() > 0.9  # a 60 % drop is seen
    assert (tmp_path / "coverage_fpr.png").stat().st_size > 10_000
    verdicts = pl.read_csv(tmp_path / "verdict.csv")
    assert set(verdicts["estimator"]) == set(written["estimator"])
    assert not verdicts["passes"].any()  # 40 series per cell can never pass (needs 500)
    assert not verdicts["within_2se"].any()
    assert verdicts["mc_se"].to_list() == pytest.approx([(0.05 * 0.95 / 40) ** 0.5] * 15)
    assert set(verdicts["status"]) == {"not calibrated"}
    provenance = json.loads((tmp_path / "provenance.json").read_text())
    assert (provenance["n_series"], provenance["seed"], provenance["rhos"]) == (40, 20081111, [0.5])
    primary = verdicts.filter(pl.col("primary"))["estimator"].to_list()
    assert primary == [f"log_arma_baseline:{e}" for e in ("end", "immediate", "window_average")]


def test_verdict_applies_the_goal() -> None:
    def cell(estimator: str, coverage: float, fpr: float, rho: float = 0.9) -> dict[str, object]:
        return {
            "estimator": estimator,
            "scenario": "s",
            "rho": rho,
            "planted_effect": 0.0,
            "n_series": 500,
            "coverage": coverage,
            "false_positive_rate": fpr,
            "power": float("nan"),
            "bias": 0.0,
        }

    cells = [("good", 0.95, 0.05, 0.5), ("good", 0.94, 0.06), ("narrow", 0.95, 0.05, 0.5)]
    cells += [("narrow", 0.90, 0.10), ("wide", 0.99, 0.01)]
    summary = pl.DataFrame([cell(*c) for c in cells])
    out = {r["estimator"]: r for r in verdict(summary).iter_rows(named=True)}
    assert out["good"]["passes"] and out["good"]["worst_false_positive_rate"] == 0.06
    assert out["good"]["passes_up_to_rho"] == 0.9
    assert not out["narrow"]["passes"] and out["narrow"]["min_coverage"] == 0.90
    assert out["narrow"]["passes_up_to_rho"] == 0.5  # meets the goal at rho 0.5, not at 0.9
    assert not out["wide"]["passes"]  # over-covering wastes power: outside [0.93, 0.97]
    assert out["wide"]["passes_up_to_rho"] is None
    assert out["good"]["cells_failing"] == 0 and out["narrow"]["cells_failing"] == 1
    # 0.90 is 4 s.e. (0.0097 at 500 series) below 0.93: not noise; 0.99 is 2.05 s.e. above
    assert out["good"]["within_2se"] and not out["narrow"]["within_2se"]
    assert out["good"]["status"] == "calibrated" and out["narrow"]["status"] == "not calibrated"
    assert not out["wide"]["within_2se"]
    # a cell with no truth to cover (nothing planted for that measure) is judged on its
    # false-positive rate alone
    fpr_only = verdict(pl.DataFrame([cell("fpr_only", float("nan"), 0.04)]))
    assert fpr_only["passes"].item() and fpr_only["status"].item() == "calibrated"
    assert fpr_only["calibrated_up_to_rho"].item() == 0.9 == fpr_only["max_rho_studied"].item()
    near = verdict(pl.DataFrame([cell("near", 0.925, 0.07)]))
    assert near["within_2se"].item() and not near["passes"].item()
    assert near["status"].item() == "calibrated within Monte Carlo error"
