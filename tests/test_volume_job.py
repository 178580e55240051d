"""The volume fit as the workflow runs it: the noise baseline of the log-ARMA fit is the trap's
days outside every event window, and without enough of them the fit says it fell back."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from takedowns.analysis.simulate import SeriesModel, simulate_daily_counts
from takedowns.config import load_config
from takedowns.jobs.analysis import _effect_kwargs, _EventFit, _fit_effect, _noise_baseline

START = dt.date(2007, 1, 1)


def trap(n_days: int, t0_index: int, effect: float, seed: int) -> pl.DataFrame:
    """A simulated trap series (day, count, covered) with a planted level change."""
    model = SeriesModel(n_days=n_days, t0=t0_index, level_effect=effect, rho=0.7)
    sim = simulate_daily_counts(model, 1, np.random.default_rng(seed))
    days = [START + dt.timedelta(days=i) for i in range(n_days)]
    return pl.DataFrame({"day": days, "count": sim.counts[0], "covered": True})


def fit_for(t0: dt.date) -> _EventFit:
    when = dt.datetime.combine(t0, dt.time(12), tzinfo=dt.UTC)
    return _EventFit("e", "E", when, None, 0, ())


def test_the_baseline_leaves_out_every_event_window_and_empty_days() -> None:
    config = load_config()
    study = trap(730, 400, 0.0, 1).with_columns(
        count=pl.when(pl.col("day") == dt.date(2007, 3, 1)).then(0).otherwise(pl.col("count"))
    )
    fits = [fit_for(START + dt.timedelta(days=200)), fit_for(START + dt.timedelta(days=500))]
    baseline = _noise_baseline(study, fits, config)
    pre, post = config["windows"]["pre_days"], max(config["windows"]["post_days"])
    assert baseline.height == 730 - 2 * (pre + post)
    for fit in fits:
        d0 = fit.t0.date()
        window = pl.col("day").is_between(
            d0 - dt.timedelta(days=pre), d0 + dt.timedelta(days=post), closed="left"
        )
        assert baseline.filter(window).is_empty()
    day = baseline.filter(pl.col("day") == dt.date(2007, 3, 1)).row(0, named=True)
    assert day["covered"] is False  # a spam trap without any mail was down


def test_log_arma_learns_its_noise_on_the_baseline_or_says_it_could_not() -> None:
    config = load_config()
    study = trap(730, 500, -0.6, 3)
    t0 = START + dt.timedelta(days=500)
    fit = fit_for(t0)
    kwargs = _effect_kwargs(config, fit, family="log_arma", post_days=90)
    baseline = _noise_baseline(study, [fit], config)
    effect, model = _fit_effect(study, fit, kwargs, baseline)
    assert model == "baseline"
    assert effect.ci_low <= -0.6 <= effect.ci_high
    short = baseline.filter(pl.col("day") > dt.date(2008, 10, 1))  # far fewer than 120 days
    effect, model = _fit_effect(study, fit, kwargs, short)
    assert model.startswith("window (") and "noise baseline" in model
    _, model = _fit_effect(study, fit, {**kwargs, "family": "quasi_poisson"}, baseline)
    assert model == "window"  # the count models never use it
