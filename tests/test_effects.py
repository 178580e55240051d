"""The interrupted time series (planted effects), the coverage mask and recovery times."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from takedowns.analysis.effects import (
    FAMILIES,
    InsufficientDataError,
    calendar_design,
    effective_days,
    estimands,
    event_windows,
    hac_meat,
    its_effect,
    log_arma_batch,
    noise_autocorrelation,
    noise_design,
    outage_mask,
    quasi_poisson_batch,
    recovery_times,
    thanksgiving,
)
from takedowns.analysis.simulate import SeriesModel, simulate_daily_counts
from takedowns.analysis.verdicts import (
    Calibration,
    EventEvidence,
    decide_all,
    rule_from_config,
    volume_from_effect,
)
from takedowns.config import load_config

D0 = dt.date(2008, 11, 11)  # a Tuesday
WEEKDAY = np.array([1.0, 1.1, 1.05, 1.0, 0.95, 0.6, 0.5])  # Monday .. Sunday


def simulate(
    seed: int,
    *,
    drop: float = -0.65,
    slope: float = 0.0,
    pre: int = 90,
    post: int = 90,
    mean: float = 200.0,
    alpha: float = 0.05,
    missing: float = 0.05,
) -> pl.DataFrame:
    """Daily NB2 counts with a weekday pattern, a step ``drop`` and a post log-slope.

    Uncovered days (share ``missing``) carry count 0 and ``covered = false``, as a table of
    daily counts built by a left join onto a calendar would.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(-pre, post)
    days = [D0 + dt.timedelta(days=int(i)) for i in t]
    weekday = WEEKDAY[[d.weekday() for d in days]]
    post_mask = t >= 0
    mu = mean * weekday * np.exp(np.where(post_mask, np.log1p(drop) + slope * t, 0.0))
    counts = rng.poisson(rng.gamma(1.0 / alpha, alpha * mu))
    covered = rng.random(len(t)) >= missing
    return pl.DataFrame(
        {"day": days, "count": np.where(covered, counts, 0), "covered": covered},
        schema={"day": pl.Date, "count": pl.Int64, "covered": pl.Boolean},
    )


# ---------------------------------------------------------------------------------------------
# Planted effects
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_planted_drop_is_covered(family: str) -> None:
    daily = simulate(1)
    e = its_effect(daily, D0, pre_days=90, post_days=90, family=family, covered_col="covered")
    assert e.ci_low <= -0.65 <= e.ci_high
    assert e.ci_high < -0.5  # and the interval is informative
    assert e.converged
    assert e.family == family and e.confidence == 0.95
    missing = daily.filter(~pl.col("covered"))
    assert e.n_days_missing_pre == missing.filter(pl.col("day") < D0).height
    assert e.n_days_pre + e.n_days_missing_pre == 90
    assert e.n_days_post + e.n_days_missing_post == 90
    assert ("Pearson chi2/df" in e.gof_note) == (family != "log_arma")
    assert e.window_average_ci_low <= -0.65 <= e.window_average_ci_high
    if family == "negative_binomial":
        assert e.dispersion == pytest.approx(0.05, rel=0.5)  # the planted alpha
        assert 0.7 < e.pearson_chi2_per_df < 1.4
    elif family == "quasi_poisson":
        # the quasi-Poisson scale is about 1 + alpha * mean(mu) ~ 6 here
        assert 3 < e.dispersion < 12


@pytest.mark.parametrize("family", FAMILIES)
def test_interval_coverage_over_replicates(family: str) -> None:
    """40 simulated events: the 95 % interval covers -65 % at least 34 times.

    For a correct interval P(X <= 33) = 0.3 %; a Poisson interval that ignores the planted
    over-dispersion (variance about 11 x the mean) covers far less often and fails.
    """
    hits = 0
    for seed in range(100, 140):
        daily = simulate(seed, post=30)
        e = its_effect(
            daily,
            D0,
            pre_days=90,
            post_days=30,
            family=family,
            covered_col="covered",
            cov_type="model",
        )
        hits += e.ci_low <= -0.65 <= e.ci_high
    assert hits >= 34, hits


def test_planted_slope_change_is_covered() -> None:
    daily = simulate(4, slope=0.01)
    e = its_effect(daily, D0, pre_days=90, post_days=90, covered_col="covered")
    assert e.slope_change_ci_low <= 0.01 <= e.slope_change_ci_high
    assert e.slope_change_ci_low > 0  # a real recovery slope is detected
    assert e.ci_low <= -0.65 <= e.ci_high
    assert abs(e.pre_trend_log_per_day) < 0.005


RULE = rule_from_config(load_config())


def answer_for(daily: pl.DataFrame):
    """The volume chain for one simulated event: the fit, then the two-axis answer."""
    rule = replace(RULE, post_days=90, family="negative_binomial")
    effect = its_effect(
        daily, D0, pre_days=90, post_days=90, family="negative_binomial", covered_col="covered"
    )
    evidence = EventEvidence("sim", "simulated", volume_from_effect(effect.as_row()), None)
    calibrated = Calibration(
        dict.fromkeys(("negative_binomial:immediate", "negative_binomial:end"), "calibrated")
    )
    return decide_all([evidence], rule, calibrated)[0]


def test_nothing_planted_gives_no_effect() -> None:
    daily = simulate(7, drop=0.0)
    effect = its_effect(daily, D0, pre_days=90, post_days=90, covered_col="covered")
    assert effect.ci_low <= 0.0 <= effect.ci_high
    got = answer_for(daily)
    assert (got.volume_answer, got.displacement_answer) == ("no effect", "not asked")
    assert "[V] drop: no" in got.explanation()


def test_the_same_chain_gives_other_answers_when_effects_are_planted() -> None:
    """The counterpart of the test above: it shows that test can fail."""
    assert answer_for(simulate(7, drop=-0.65)).volume_answer == "stayed down"
    # a drop that recovers (log-slope 0.03/day: back at the counterfactual by day ~35)
    recovering = answer_for(simulate(7, drop=-0.65, slope=0.03))
    assert recovering.volume_answer in {"recovered", "inconclusive"}
    assert recovering.volume.end_of_window > recovering.volume.immediate


# ---------------------------------------------------------------------------------------------
# Missing is not zero; the transition day; bad input
# ---------------------------------------------------------------------------------------------


def test_uncovered_days_are_missing_not_zero() -> None:
    daily = simulate(3, missing=0.15)
    masked = its_effect(daily, D0, pre_days=90, post_days=30, covered_col="covered")
    absent = its_effect(
        daily.filter(pl.col("covered")).drop("covered"), D0, pre_days=90, post_days=30
    )
    null_count = its_effect(
        daily.with_columns(pl.when(pl.col("covered")).then(pl.col("count")).alias("count")),
        D0,
        pre_days=90,
        post_days=30,
    )
    for other in (absent, null_count):
        assert other.relative_change == pytest.approx(masked.relative_change, rel=1e-9)
        assert (other.n_days_pre, other.n_days_post) == (masked.n_days_pre, masked.n_days_post)
    # ignoring the mask turns the gaps into zero days, and the estimate moves
    as_zero = its_effect(daily, D0, pre_days=90, post_days=30)
    assert as_zero.n_zero_days > masked.n_zero_days
    assert as_zero.n_days_pre + as_zero.n_days_post == 120
    assert abs(as_zero.relative_change - masked.relative_change) > 1e-3


@pytest.mark.parametrize("family", ["negative_binomial", "quasi_poisson"])
def test_hac_intervals(family: str) -> None:
    daily = simulate(6)
    kw = {"pre_days": 90, "post_days": 90, "family": family, "covered_col": "covered"}
    model = its_effect(daily, D0, cov_type="model", **kw)
    hac = its_effect(daily, D0, hac_maxlags=14, **kw)
    assert hac.cov_type == "HAC(lag_days=14, normal)" and model.cov_type.startswith("model")
    assert hac.relative_change == pytest.approx(model.relative_change, rel=1e-6)
    assert hac.ci_low != pytest.approx(model.ci_low, rel=1e-6)
    assert hac.ci_low <= -0.65 <= hac.ci_high


def test_poisson_data_put_alpha_at_its_boundary() -> None:
    daily = simulate(1, alpha=1e-7)  # practically Poisson: the NB2 alpha MLE is ~0
    e = its_effect(daily, D0, pre_days=90, post_days=7, covered_col="covered")
    assert e.converged and e.dispersion < 1e-3
    assert e.dispersion_kind == "alpha (NB2, profile likelihood)"
    assert e.ci_low <= -0.65 <= e.ci_high


def test_low_counts_with_real_zero_days() -> None:
    daily = simulate(5, mean=4.0, alpha=0.3, drop=-0.65, missing=0.0)
    e = its_effect(daily, D0, pre_days=90, post_days=90, covered_col="covered")
    assert e.n_zero_days > 20
    assert e.ci_low <= -0.65 <= e.ci_high


def test_transition_day() -> None:
    w = event_windows(dt.datetime(2008, 11, 11, 22, 0, tzinfo=dt.UTC), 90, 30)
    assert w.transition_day_dropped and w.post_first == dt.date(2008, 11, 12)
    assert w.pre_first == dt.date(2008, 8, 13) and w.post_end == dt.date(2008, 12, 11)
    midnight = event_windows(dt.datetime(2008, 11, 11, 0, 0, tzinfo=dt.UTC), 90, 30)
    assert not midnight.transition_day_dropped and midnight.post_first == D0
    daily = simulate(2, missing=0.0)
    e = its_effect(
        daily, dt.datetime(2008, 11, 11, 22, 0, tzinfo=dt.UTC), pre_days=90, post_days=30
    )
    assert e.transition_day_dropped and (e.n_days_pre, e.n_days_post) == (90, 29)


def test_insufficient_and_bad_input() -> None:
    daily = simulate(2, missing=0.0)
    few_post = daily.filter(pl.col("day") < D0 + dt.timedelta(days=3))
    with pytest.raises(InsufficientDataError, match="3 observed post-window days"):
        its_effect(few_post, D0, pre_days=90, post_days=30)
    with pytest.raises(ValueError, match="repeated days"):
        its_effect(pl.concat([daily, daily.head(1)]), D0, pre_days=90, post_days=30)
    with pytest.raises(ValueError, match="must be of type Date"):
        its_effect(daily.with_columns(pl.col("day").cast(pl.String)), D0, pre_days=9, post_days=9)
    with pytest.raises(ValueError, match="negative counts"):
        its_effect(daily.with_columns(count=pl.col("count") - 500), D0, pre_days=90, post_days=30)
    with pytest.raises(ValueError, match="family must be one of"):
        its_effect(daily, D0, pre_days=90, post_days=30, family="poisson")  # type: ignore[arg-type]
    all_zero = daily.with_columns(
        count=pl.when(pl.col("day") >= D0).then(0).otherwise(pl.col("count"))
    )
    e = its_effect(all_zero, D0, pre_days=90, post_days=30)
    assert e.relative_change == -1.0 and np.isnan(e.ci_high) and "-100 %" in e.gof_note
    zero_pre = daily.with_columns(
        count=pl.when(pl.col("day") < D0).then(0).otherwise(pl.col("count"))
    )
    with pytest.raises(InsufficientDataError, match="every observed pre-window day is 0"):
        its_effect(zero_pre, D0, pre_days=90, post_days=30)


# ---------------------------------------------------------------------------------------------
# Recovery times on a constructed series
# ---------------------------------------------------------------------------------------------


def constructed(day0_count: int = 20, missing_day: int | None = 21) -> pl.DataFrame:
    """Pre: 14 days of 100 (one uncovered). Post: 20 on days 0-9, 60 on 10-16, 100 after."""
    rows = []
    for t in range(-14, 30):
        count = 100 if t < 0 or t >= 17 else (20 if t < 10 else 60)
        if t == 0:
            count = day0_count
        covered = t not in (-5, missing_day)
        rows.append((D0 + dt.timedelta(days=t), 0 if not covered else count, covered))
    return pl.DataFrame(
        rows, schema={"day": pl.Date, "count": pl.Int64, "covered": pl.Boolean}, orient="row"
    )


def recovery_days(frame: pl.DataFrame) -> list[int | None]:
    return frame.sort("threshold")["days_after_cutoff"].to_list()


def test_recovery_times_by_hand() -> None:
    got = recovery_times(
        constructed(), D0, (0.5, 0.9, 1.0, 1.1), pre_days=14, post_days=30, covered_col="covered"
    )
    # pre mean 100 (the uncovered day is not a zero). Trailing means (days t-6..t):
    #   t=14: (2*20 + 5*60)/7 = 48.6; t=15: (20 + 6*60)/7 = 54.3 -> 50 % on day 15
    #   t=21 is uncovered; t=21: (2*60 + 4*100)/6 = 86.7; t=22: (60 + 5*100)/6 = 93.3 -> 90 %
    #   t=23: 6*100/6 = 100 -> 100 %; 110 % never
    assert recovery_days(got) == [15, 22, 23, None]
    assert got["pre_mean"][0] == 100.0
    assert got["day"].to_list()[:3] == [D0 + dt.timedelta(days=d) for d in (15, 22, 23)]
    assert got["trailing_mean"][1] == pytest.approx(560 / 6)
    assert got["last_evaluated_days_after_cutoff"][0] == 29

    # the same day read as a covered zero: t=22..27 include it, 100 % only on day 28
    as_zero = recovery_times(constructed(), D0, (0.5, 0.9, 1.0), pre_days=14, post_days=30)
    # pre mean (13*100 + 0)/14 = 92.9, so 50 % is 46.4 and t=14 (48.6) already meets it;
    # 90 % is 83.6: t=22: (60 + 4*100 + 0 + 100)/7 = 80, t=23: 600/7 = 85.7;
    # 100 % is 92.9: t=27: 600/7 = 85.7, t=28: 100
    assert as_zero["pre_mean"][0] == pytest.approx(1300 / 14)
    assert recovery_days(as_zero) == [14, 23, 28]


def test_recovery_ignores_the_transition_day_and_needs_covered_days() -> None:
    spike = constructed(day0_count=10_000)
    by_date = recovery_times(spike, D0, (0.5,), pre_days=14, post_days=30, covered_col="covered")
    assert recovery_days(by_date) == [6]  # (10000 + 6*20)/7 on day 6
    t0 = dt.datetime(2008, 11, 11, 22, 0, tzinfo=dt.UTC)
    by_time = recovery_times(spike, t0, (0.5,), pre_days=14, post_days=30, covered_col="covered")
    assert recovery_days(by_time) == [15]  # day 0 mixes both sides and is left out

    gaps = constructed().with_columns(
        covered=pl.col("covered")
        & ~pl.col("day").is_between(D0 + dt.timedelta(days=12), D0 + dt.timedelta(days=29))
    )
    got = recovery_times(gaps, D0, (0.5,), pre_days=14, post_days=30, covered_col="covered")
    # from day 12 on nothing is covered: the last trailing mean with >= 5 observed days is
    # that of day 13 (days 7..11 observed), and 50 % is not reached by then
    assert recovery_days(got) == [None]
    assert got["last_evaluated_days_after_cutoff"][0] == 13


# ---------------------------------------------------------------------------------------------
# The calibrated volume axis: scale floor, HAC in days, outages, windows, estimands
# ---------------------------------------------------------------------------------------------


def test_quasi_poisson_scale_is_floored_at_one() -> None:
    daily = simulate(3, alpha=1e-7, missing=0.0)  # Poisson: the Pearson scale is about 1
    kw = {"pre_days": 90, "post_days": 30, "cov_type": "model"}
    qp = its_effect(daily, D0, family="quasi_poisson", **kw)
    assert qp.dispersion >= 1.0
    y = daily["count"].to_numpy().astype(float)[None, :]
    design = calendar_design(daily["day"].to_numpy()[:120], D0)
    fit = quasi_poisson_batch(y[:, :120] * 0 + 1000.0, design.x, cov_type="model")
    assert fit.dispersion[0] == 1.0  # a constant series has Pearson scale 0, floored to 1


def test_hac_lags_count_days_not_rows() -> None:
    """Day 2 is missing (score 0): lag 1 pairs days 1 and 2, not days 1 and 3."""
    scores = np.array([1.0, 2.0, 0.0, 3.0, 4.0])[None, :, None]
    gamma0, gamma1 = 1 + 4 + 9 + 16, 1 * 2 + 2 * 0 + 0 * 3 + 3 * 4
    assert hac_meat(scores, 1)[0, 0, 0] == pytest.approx(gamma0 + 2 * 0.5 * gamma1)  # 44
    rows = np.array([1.0, 2.0, 3.0, 4.0])[None, :, None]  # the gap ignored: 50, not 44
    assert hac_meat(rows, 1)[0, 0, 0] == pytest.approx(30 + 2 * 0.5 * (2 + 6 + 12))


def test_outage_days_are_detected_and_left_out() -> None:
    daily = simulate(8, missing=0.0, alpha=0.01)
    outages = [D0 - dt.timedelta(days=40), D0 - dt.timedelta(days=39), D0 + dt.timedelta(10)]
    hit = daily.with_columns(
        count=pl.when(pl.col("day").is_in(outages))
        .then(pl.col("count") // 20)
        .otherwise(pl.col("count"))
    )
    mask = outage_mask(hit["count"].to_numpy().astype(float))
    assert set(hit.filter(pl.Series(mask))["day"].to_list()) == set(outages)
    kw = {"pre_days": 90, "post_days": 30, "family": "quasi_poisson"}
    e = its_effect(hit, D0, outage_share=0.3, **kw)
    assert e.n_days_outage == 3 and (e.n_days_pre, e.n_days_post) == (88, 29)
    dropped = its_effect(hit.filter(~pl.col("day").is_in(outages)), D0, **kw)
    assert e.relative_change == pytest.approx(dropped.relative_change, rel=1e-9)
    assert its_effect(hit, D0, **kw).n_days_outage == 0  # no rule, no outages


def test_window_end_date_and_donut() -> None:
    daily = simulate(9, missing=0.0)
    end = D0 + dt.timedelta(days=20)
    e = its_effect(daily, D0, pre_days=90, post_days=90, end_date=end, donut_days=3)
    assert e.post_end == end and e.end_horizon_days == 19
    assert e.n_days_donut == 3 and e.n_days_post == 17
    assert e.ci_low <= -0.65 <= e.ci_high


def test_calendar_design_holidays_and_pulses() -> None:
    assert thanksgiving(2008) == dt.date(2008, 11, 27)
    assert thanksgiving(2007) == dt.date(2007, 11, 22)
    days = [D0 + dt.timedelta(days=i) for i in range(-90, 90)]
    design = calendar_design(days, D0, pulse_dates=[dt.date(2008, 11, 15), dt.date(2001, 1, 1)])
    x = dict(zip(design.names, design.x.T, strict=True))
    assert x["holiday_thanksgiving"].sum() == 1 and x["holiday_year_end"].sum() == 10
    assert x["pulse_2008-11-15"].sum() == 1 and "pulse_2001-01-01" not in x
    assert design.horizon == 89 and x["level"].sum() == 90
    assert days[int(np.argmax(x["weekday_tue"]))].weekday() == 1
    flat = design.counterfactual(pre_trend=False)
    assert flat[design.post, design.index("trend")].max() == 0


@pytest.mark.parametrize("estimator", ["qp_hac", "log_arma"])
def test_estimands_recover_a_planted_effect_on_long_series(estimator: str) -> None:
    model = SeriesModel(n_days=730, t0=365, rho=0.5, level_effect=-0.6, slope_effect=0.002)
    sim = simulate_daily_counts(model, 40, np.random.default_rng(11))
    days = [D0 + dt.timedelta(days=i - 365) for i in range(730)]
    design = calendar_design(days, D0)
    y = sim.counts.astype(float)
    y[outage_mask(y)] = np.nan
    fit = (
        quasi_poisson_batch(y, design.x, lag_days=14, critical="normal")
        if estimator == "qp_hac"
        else log_arma_batch(y, design.x)
    )
    est = estimands(fit, design)
    assert np.mean(est["immediate"]) == pytest.approx(-0.6, abs=0.03)
    assert np.mean(est["end"]) == pytest.approx(sim.end_of_window, abs=0.1)
    assert np.mean(est["window_average"]) == pytest.approx(sim.window_average.mean(), abs=0.04)
    inside = (est["immediate_low"] <= -0.6) & (est["immediate_high"] >= -0.6)
    assert inside.mean() >= 0.8
    assert (est["immediate_high"] < 0).all()  # power: the drop is seen in every series


def test_flat_counterfactual_differs_with_a_pre_trend() -> None:
    rng = np.random.default_rng(12)
    t = np.arange(-90, 30)
    days = [D0 + dt.timedelta(days=int(i)) for i in t]
    mu = 1000 * np.exp(0.01 * t)  # growing 1 % a day, no takedown effect
    daily = pl.DataFrame({"day": days, "count": rng.poisson(mu)})
    e = its_effect(daily, D0, pre_days=90, post_days=30, family="quasi_poisson")
    assert e.window_average_ci_low <= 0 <= e.window_average_ci_high
    # against a pre trend frozen at t0 the growth shows as a rise of about exp(0.01*14.5)-1
    assert e.window_average_flat == pytest.approx(np.expm1(0.01 * 14.5), abs=0.03)
    assert e.end_of_window_flat == pytest.approx(np.expm1(0.01 * 29), abs=0.05)


# ---------------------------------------------------------------------------------------------
# The noise baseline of the log_arma family
# ---------------------------------------------------------------------------------------------


def test_noise_design_cuts_segments_at_long_gaps() -> None:
    days = [D0 + dt.timedelta(days=i) for i in range(100)]
    observed = np.ones(100, dtype=bool)
    observed[40:60] = False  # an event window left out: 20 days > 14
    observed[80:85] = False  # a short coverage gap stays inside its segment
    x = noise_design(days, observed, holidays=False)
    # two segments x (intercept, trend) + six weekdays
    assert x.shape == (100, 10)
    assert x[:40, 0].sum() == 40 and x[60:, 2].sum() == 40 and x[:, 0].sum() == 60
    assert x[:40, 1].mean() == pytest.approx(0.0)  # the trend is centred on its segment
    assert x[:, 4:].sum() == sum(1 for d in days if d.weekday() != 0)
    assert noise_design(days, holidays=False).shape == (100, 8)  # one segment
    with pytest.raises(ValueError, match="consecutive"):
        noise_design([D0, D0 + dt.timedelta(days=2)])


def test_effective_days_of_white_noise_and_of_an_ar1() -> None:
    white = np.zeros(400)
    white[0] = 1.0
    assert effective_days(white, 365) == pytest.approx(365.0)
    ar = 0.9 ** np.arange(400)
    # n (1 - phi) / (1 + phi) up to the taper's edge terms
    assert effective_days(ar, 365) == pytest.approx(365 * 0.1 / 1.9, rel=0.1)


def test_noise_autocorrelation_finds_the_drift_behind_the_bursts() -> None:
    """On a year of simulated counts the AR(1) tail of the log noise comes out right.

    The log noise is the drift (variance ``0.08**2 / (1 - 0.9**2)``) plus the NB noise
    (``trigamma(30)``) plus bursts; at lag 10 only the drift is left: ``var_d 0.9**10``.
    """
    from scipy.special import polygamma

    model = SeriesModel(n_days=365, t0=300, rho=0.9, burst_rate=0.0, outage_rate=0.0)
    sim = simulate_daily_counts(model, 200, np.random.default_rng(21))
    days = [D0 + dt.timedelta(days=i) for i in range(365)]
    acf = noise_autocorrelation(sim.counts.astype(float), noise_design(days), 30)
    var_drift = 0.08**2 / (1 - 0.81)
    var_total = var_drift + float(polygamma(1, 30.0)) + 1 / 3000
    assert acf[:, 0] == pytest.approx(1.0)
    assert np.median(acf[:, 10]) == pytest.approx(var_drift * 0.9**10 / var_total, abs=0.04)
    assert np.median(acf[:, 1]) == pytest.approx(var_drift * 0.9 / var_total, abs=0.05)


def test_log_arma_with_a_noise_baseline_holds_its_size_under_strong_drift() -> None:
    """rho 0.9, 120-day window, nothing planted: the window-only fit rejects too often, the
    fit with a year of baseline keeps near 5 % (300 series: s.e. 0.013)."""
    model = SeriesModel(n_days=485, t0=455, rho=0.9, start_weekday=D0.weekday())
    sim = simulate_daily_counts(model, 300, np.random.default_rng(3))
    y = sim.counts.astype(float)
    y[outage_mask(y)] = np.nan
    days = [D0 + dt.timedelta(days=i - 455) for i in range(485)]
    design = calendar_design(days[365:], D0)
    fits = {
        "window": log_arma_batch(y[:, 365:], design.x),
        "baseline": log_arma_batch(
            y[:, 365:], design.x, noise_y=y[:, :365], noise_x=noise_design(days[:365])
        ),
    }
    fpr = {}
    for name, fit in fits.items():
        est = estimands(fit, design)
        fpr[name] = np.mean((est["immediate_low"] > 0) | (est["immediate_high"] < 0))
    assert fpr["baseline"] <= 0.08
    assert fpr["window"] > fpr["baseline"]
    assert "noise baseline" in fits["baseline"].cov_type
    with pytest.raises(ValueError, match="both"):
        log_arma_batch(y[:, 365:], design.x, noise_y=y[:, :365])


def test_its_effect_takes_a_noise_baseline_frame() -> None:
    rng = np.random.default_rng(8)
    model = SeriesModel(n_days=545, t0=455, rho=0.7, level_effect=-0.5, mean=500.0)
    counts = simulate_daily_counts(model, 1, rng).counts[0]
    days = [D0 + dt.timedelta(days=i - 455) for i in range(545)]
    daily = pl.DataFrame({"day": days, "count": counts})
    kwargs = {"pre_days": 90, "post_days": 90, "family": "log_arma"}
    plain = its_effect(daily, D0, **kwargs)
    # the whole table may be passed: the event's own windows are left out of the baseline
    e = its_effect(daily, D0, noise_baseline=daily, **kwargs)
    before = daily.filter(pl.col("day") < D0 - dt.timedelta(days=90))
    alone = its_effect(daily, D0, noise_baseline=before, **kwargs)
    assert (alone.ci_low, alone.ci_high) == pytest.approx((e.ci_low, e.ci_high), rel=1e-9)
    assert e.ci_low <= -0.5 <= e.ci_high and e.ci_high < -0.3
    assert "noise baseline" in e.cov_type and "noise baseline" in e.dispersion_kind
    assert e.relative_change != plain.relative_change  # a different (GLS) fit
    assert -1 < e.dispersion < 1  # the baseline's lag-1 noise autocorrelation
    assert 0 <= e.noise_persistence <= 1 and plain.noise_persistence is None
    qp = its_effect(daily, D0, noise_baseline=daily, **{**kwargs, "family": "quasi_poisson"})
    assert qp == its_effect(daily, D0, **{**kwargs, "family": "quasi_poisson"})  # ignored
    with pytest.raises(InsufficientDataError, match="noise baseline"):
        its_effect(daily, D0, noise_baseline=before.head(100), **kwargs)
