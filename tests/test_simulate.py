"""The realistic series generator: its moments match the model, its truth is right."""

from __future__ import annotations

import numpy as np
import pytest

from takedowns.analysis.simulate import (
    SeriesModel,
    simulate_daily_counts,
    simulate_network_activity,
    wdq,
    weekday_factors,
)

QUIET = {"burst_rate": 0.0, "outage_rate": 0.0}


def test_mean_and_weekly_pattern() -> None:
    model = SeriesModel(n_days=140, t0=139, mean=2000.0, rho=0.5, weekly_amplitude=0.2, **QUIET)
    sim = simulate_daily_counts(model, 2000, np.random.default_rng(1))
    assert sim.counts.dtype == np.int64 and sim.counts.shape == (2000, 140)
    assert sim.counts.mean() == pytest.approx(2000.0, rel=0.01)
    by_weekday = np.array([sim.counts[:, d::7].mean() for d in range(7)]) / sim.counts.mean()
    np.testing.assert_allclose(by_weekday, weekday_factors(0.2), rtol=0.01)
    assert by_weekday[5] < 0.9 < 1.1 < by_weekday[1]  # quiet weekend, busy Tuesday


@pytest.mark.parametrize("rho", [0.0, 0.7, 0.9])
def test_log_volume_drift_is_ar1(rho: float) -> None:
    model = SeriesModel(n_days=200, t0=199, rho=rho, drift_sd=0.1, weekly_amplitude=0.0, **QUIET)
    sim = simulate_daily_counts(model, 3000, np.random.default_rng(2))
    drift = np.log(sim.expected)  # no weekly pattern, no bursts: the log-drift plus a constant
    drift -= drift.mean(axis=1, keepdims=True)
    lag1 = np.mean(drift[:, 1:] * drift[:, :-1]) / np.mean(drift**2)
    assert lag1 == pytest.approx(rho, abs=0.03)
    assert np.var(np.log(sim.expected[:, 0])) == pytest.approx(0.01 / (1 - rho**2), rel=0.1)


def test_negative_binomial_dispersion() -> None:
    model = SeriesModel(mean=500.0, dispersion=10.0, drift_sd=0.0, weekly_amplitude=0.0, **QUIET)
    sim = simulate_daily_counts(model, 500, np.random.default_rng(3))
    counts = sim.counts[:, : model.t0]
    assert counts.var() == pytest.approx(500 + 500**2 / 10, rel=0.05)


def test_planted_effect_and_truth() -> None:
    model = SeriesModel(level_effect=-0.6, slope_effect=0.01, drift_sd=0.0, **QUIET)
    sim = simulate_daily_counts(model, 400, np.random.default_rng(4))
    post, pre = sim.counts[:, model.t0], sim.counts[:, model.t0 - 7]  # same weekday
    assert post.mean() / pre.mean() == pytest.approx(0.4, rel=0.03)
    assert sim.immediate == -0.6
    assert sim.end_of_window == pytest.approx(0.4 * np.exp(0.01 * 89) - 1)
    ratio = sim.with_effect[:, model.t0 :].sum(1) / sim.expected[:, model.t0 :].sum(1) - 1
    np.testing.assert_allclose(sim.window_average, ratio)
    assert -0.6 < sim.window_average.mean() < sim.end_of_window


def test_outages_thin_the_day() -> None:
    model = SeriesModel(outage_rate=0.05, outage_loss=0.8, burst_rate=0.0, drift_sd=0.0)
    sim = simulate_daily_counts(model, 300, np.random.default_rng(5))
    assert sim.outage.mean() == pytest.approx(0.05, abs=0.005)
    kept = sim.counts[sim.outage].sum() / sim.expected[sim.outage].sum()
    assert 0.05 < kept < 0.15  # between 0 and 20 % of the day arrives, 10 % on average


def test_bursts_raise_the_mean() -> None:
    model = SeriesModel(burst_rate=0.05, burst_size=1.0, burst_days=4, outage_rate=0.0)
    sim = simulate_daily_counts(model, 1000, np.random.default_rng(6))
    assert sim.expected.mean() == pytest.approx(3000 * (1 + 0.05 * 4 * 1.0), rel=0.03)


def test_bad_model_is_rejected() -> None:
    with pytest.raises(ValueError, match="rho must lie"):
        SeriesModel(rho=1.0)
    with pytest.raises(ValueError, match="t0 must lie"):
        SeriesModel(n_days=10, t0=10)


@pytest.mark.parametrize(("movers", "weights"), [(0, "even"), (1, "even"), (3, "random")])
def test_network_activity_truth(movers: int, weights: str) -> None:
    model = SeriesModel(level_effect=-0.6, outage_rate=0.0)
    act = simulate_network_activity(
        model,
        50,
        np.random.default_rng(7),
        n_buffer=4,
        n_control=20,
        movers=movers,
        moved_share=0.5,
        mover_weights=weights,  # type: ignore[arg-type]
    )
    assert act.activity.shape == (50, 25, 180)
    assert act.gainers[:, 1 : movers + 1].all() and act.gainers.sum() == 50 * movers
    np.testing.assert_allclose(act.gain_share.sum(axis=1), 1.0 if movers else 0.0)
    np.testing.assert_allclose(act.true_wdq, -0.5 if movers else 0.0, atol=1e-12)
    target = act.expected[:, 0]
    assert target[:, 90:].sum() / target[:, :90].sum() == pytest.approx(0.4, rel=1e-3)
    # the realized counts follow the structural truth on average
    observed = wdq(
        act.activity[:, 0].astype(float),
        act.activity[:, 1:5].sum(1).astype(float),
        act.activity[:, 5:].sum(1).astype(float),
        model.t0,
    )
    assert np.median(observed) == pytest.approx(-0.5 if movers else 0.0, abs=0.2)
