"""Placebo cut-offs: the grid, its exclusions, and the real effect's rank on simulated series."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from takedowns.analysis.effects import its_effect
from takedowns.analysis.placebo import placebo_dates, placebo_effects, placebo_ranks
from takedowns.analysis.simulate import SeriesModel, simulate_daily_counts

START = dt.date(2007, 6, 1)
N_DAYS, T0 = 730, 365
REAL_T0 = START + dt.timedelta(days=T0)
KW = {"pre_days": 60, "post_days": 30, "family": "quasi_poisson", "covered_col": "covered"}


def simulated(level: float, seed: int) -> pl.DataFrame:
    """Two years of realistic trap counts (day/count/covered) with ``level`` planted at T0."""
    model = SeriesModel(n_days=N_DAYS, t0=T0, level_effect=level)
    sim = simulate_daily_counts(model, 1, np.random.default_rng(seed))
    days = pl.date_range(START, START + dt.timedelta(days=N_DAYS - 1), eager=True)
    return pl.DataFrame({"day": days, "count": sim.counts[0], "covered": np.ones(N_DAYS, bool)})


def real_rank(level: float, seed: int) -> dict:
    """The immediate effect's rank row for the real date of one simulated series."""
    daily = simulated(level, seed)
    placebos = placebo_effects(daily, {"x": REAL_T0}, outage_share=0.3, **KW)
    real = its_effect(daily, REAL_T0, outage_share=0.3, **KW).as_row()
    ranks = placebo_ranks(placebos, pl.DataFrame([{"event_id": "x", **real}]))
    return ranks.filter(pl.col("estimand") == "relative_change").row(0, named=True)


def test_grid_excludes_windows_near_an_event() -> None:
    event = dt.datetime(2008, 3, 1, 22, 0)
    dates = placebo_dates(
        dt.date(2008, 1, 1),
        dt.date(2008, 6, 30),
        {"ev": event},
        pre_days=20,
        post_days=10,
        step_days=7,
        exclusion_days=5,
    )
    first = dates["placebo_t0"][0]
    assert first == dt.date(2008, 1, 21)
    assert dates["placebo_t0"][-1] == dt.date(2008, 6, 16)  # 16 Jun + 9 days <= 30 Jun
    assert (dates["placebo_t0"].diff().drop_nulls().dt.total_days() == 7).all()
    excluded = dates.filter("excluded")["placebo_t0"].to_list()
    # excluded iff d0 (1 Mar) in [p - 25, p + 15): p in (15 Feb, 26 Mar]
    assert excluded == [
        dt.date(2008, m, d) for m, d in ((2, 18), (2, 25), (3, 3), (3, 10), (3, 17), (3, 24))
    ]
    assert set(dates.filter("excluded")["excluded_by"]) == {"ev"}
    assert dates.filter(~pl.col("excluded"))["excluded_by"].null_count() == dates.height - 6


def test_placebo_effects_skip_excluded_dates_and_report_missing_data() -> None:
    daily = simulated(0.0, 1).with_columns(
        covered=~pl.col("day").is_between(dt.date(2007, 9, 1), dt.date(2007, 10, 31))
    )
    placebos = placebo_effects(daily, {"x": REAL_T0}, **KW)
    grid = placebo_dates(START, daily["day"].max(), {"x": REAL_T0}, pre_days=60, post_days=30)
    assert (
        placebos["placebo_t0"].to_list() == grid.filter(~pl.col("excluded"))["placebo_t0"].to_list()
    )
    lo, hi = REAL_T0 - dt.timedelta(days=30 + 30), REAL_T0 + dt.timedelta(days=60 + 30)
    assert not placebos["placebo_t0"].is_between(lo, hi, closed="right").any()
    short = placebos.filter(pl.col("status") == "insufficient_data")
    assert short.height >= 3
    assert short["relative_change"].null_count() == short.height
    assert short["reason"].str.contains("observed pre-window days").all()
    ok = placebos.filter(pl.col("status") == "ok")
    assert ok.height > 40
    assert (ok["ci_low"] < ok["relative_change"]).all()
    assert (ok["relative_change"] < ok["ci_high"]).all()
    direct = its_effect(daily, ok["placebo_t0"][0], **KW)
    assert ok["window_average"][0] == pytest.approx(direct.window_average)


def test_no_effect_ranks_spread_over_the_placebos() -> None:
    rows = [real_rank(0.0, seed) for seed in range(10)]
    shares = np.array([r["rank_share"] for r in rows])
    p_values = np.array([r["p_value"] for r in rows])
    assert all(r["n_placebos"] == 71 for r in rows)
    assert 0.25 < shares.mean() < 0.75
    assert (shares < 0.5).any() and (shares > 0.5).any()
    assert (p_values < 0.05).sum() <= 2
    assert np.median(p_values) > 0.3


def test_planted_drop_ranks_at_the_extreme() -> None:
    for seed in range(3):
        row = real_rank(-0.6, seed)
        assert row["rank"] == 1
        assert row["p_value"] == pytest.approx(1 / 72)
        assert row["share_as_extreme"] == 0.0
        assert row["outside_empirical"]
        assert row["empirical_low"] > -0.4 and row["empirical_high"] < 0.6
        assert row["effect"] == pytest.approx(-0.6, abs=0.12)


def test_ranks_on_a_constructed_distribution() -> None:
    effects = [-0.5, -0.2, -0.1, 0.0, 0.1, 0.3, 1.0, None]
    placebos = pl.DataFrame(
        {
            "status": ["ok"] * 7 + ["insufficient_data"],
            "relative_change": effects,
            "window_average": effects,
            "end_of_window": effects,
        }
    )
    real = pl.DataFrame({"event_id": ["a", "b"], "relative_change": [-0.2, 0.5]})
    out = placebo_ranks(placebos, real, estimands=["relative_change"])
    a, b = out.rows(named=True)
    assert a["n_placebos"] == 7 and a["rank"] == 2 and a["rank_share"] == pytest.approx(2 / 8)
    # |log 0.8| = 0.223: as extreme are -0.5, -0.2, 0.3 (|log 1.3| = 0.262) and 1.0
    assert a["share_as_extreme"] == pytest.approx(4 / 7)
    assert a["p_value"] == pytest.approx(5 / 8)
    assert a["empirical_low"] == pytest.approx(np.quantile(effects[:7], 0.025))
    assert not a["outside_empirical"]
    assert b["rank"] == 7 and b["share_as_extreme"] == pytest.approx(2 / 7)  # -0.5 and 1.0
