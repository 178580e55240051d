"""The interrupted time series (planted effects), the coverage mask and recovery times."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from takedowns.concentration import bootstrap_change
from takedowns.effects import (
    FAMILIES,
    InsufficientDataError,
    event_windows,
    its_effect,
    recovery_times,
)
from takedowns.verdicts import (
    EventEvidence,
    concentration_from_frame,
    decide,
    recovery_from_frame,
    rule_from_config,
    volume_from_effect,
)

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
    assert "Pearson chi2/df" in e.gof_note
    if family == "negative_binomial":
        assert e.dispersion == pytest.approx(0.05, rel=0.5)  # the planted alpha
        assert 0.7 < e.pearson_chi2_per_df < 1.4
    else:
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
        e = its_effect(daily, D0, pre_days=90, post_days=30, family=family, covered_col="covered")
        hits += e.ci_low <= -0.65 <= e.ci_high
    assert hits >= 34, hits


def test_planted_slope_change_is_covered() -> None:
    daily = simulate(4, slope=0.01)
    e = its_effect(daily, D0, pre_days=90, post_days=90, covered_col="covered")
    assert e.slope_change_ci_low <= 0.01 <= e.slope_change_ci_high
    assert e.slope_change_ci_low > 0  # a real recovery slope is detected
    assert e.ci_low <= -0.65 <= e.ci_high
    assert abs(e.pre_trend_log_per_day) < 0.005


RULE_CONFIG = {
    "verdict": {
        "post_days": 90,
        "drop_if_relative_change_ci_high_below": -0.2,
        "recovery_threshold": 0.9,
        "recovered_if_recovery_days_at_most": 60,
        "dispersion_measures": ["spam_sources"],
    }
}


UNIFORM = np.full(30, 1 / 30)
CONCENTRATED = np.r_[np.full(5, 5.0), np.full(25, 1.0)] / 50.0


def evidence_for(
    daily: pl.DataFrame, seed: int, owners_pre: np.ndarray, owners_post: np.ndarray
) -> EventEvidence:
    """The whole statistics chain for one simulated event: effect, recovery, concentration.

    Spam sources: each day 100 messages, multinomial over 30 ASNs with the given shares.
    """
    rule = rule_from_config(RULE_CONFIG)
    effect = its_effect(
        daily, D0, pre_days=90, post_days=90, family="negative_binomial", covered_col="covered"
    )
    recoveries = recovery_times(daily, D0, pre_days=90, post_days=90, covered_col="covered")
    rng = np.random.default_rng(seed)
    rows = []
    for window, p in (("pre", owners_pre), ("post", owners_post)):
        for day in range(90):
            for asn, w in enumerate(rng.multinomial(100, p)):
                rows.append((window, day, asn, float(w)))
    sources = pl.DataFrame(rows, schema=["window", "day", "asn", "w"], orient="row")
    changes = bootstrap_change(
        sources, unit_col="day", owner_col="asn", weight_col="w", seed=seed
    ).with_columns(measure=pl.lit("spam_sources"))
    return EventEvidence(
        event_id="sim",
        post_days=90,
        volume=volume_from_effect(effect),
        recovery=recovery_from_frame(recoveries, rule.recovery_threshold),
        concentration=concentration_from_frame(changes),
    )


def test_nothing_planted_gives_no_effect_and_an_inconclusive_verdict() -> None:
    daily = simulate(7, drop=0.0)
    effect = its_effect(daily, D0, pre_days=90, post_days=90, covered_col="covered")
    assert effect.ci_low <= 0.0 <= effect.ci_high
    evidence = evidence_for(daily, 7, UNIFORM, UNIFORM)
    hhi = evidence.concentration[0]
    assert hhi.ci_low <= 0.0 <= hhi.ci_high
    verdict = decide(evidence, rule_from_config(RULE_CONFIG))
    # the rule: no dispersion; the interval of the change is not below -20 % -> inconclusive
    assert verdict.verdict == "inconclusive"
    assert verdict.decided_by == ("drop",)
    assert "[no] drop" in verdict.explanation()


def test_the_same_chain_gives_other_verdicts_when_effects_are_planted() -> None:
    """The counterpart of the test above: it shows that test can fail."""
    rule = rule_from_config(RULE_CONFIG)
    dropped = simulate(7, drop=-0.65)
    assert decide(evidence_for(dropped, 7, UNIFORM, UNIFORM), rule).verdict == "stayed down"
    # sources more concentrated after the cut-off: the HHI rises, never "dispersed"
    more = evidence_for(dropped, 8, UNIFORM, CONCENTRATED)
    assert more.concentration[0].ci_low > 0
    assert decide(more, rule).verdict == "stayed down"
    # sources spread more evenly after the cut-off: "dispersed"
    less = evidence_for(dropped, 9, CONCENTRATED, UNIFORM)
    assert less.concentration[0].ci_high < 0
    assert decide(less, rule).verdict == "dispersed"
    # a drop that recovers (log-slope 0.03/day: 90 % of the pre level from about day 32)
    recovering = simulate(7, drop=-0.65, slope=0.03)
    assert decide(evidence_for(recovering, 10, UNIFORM, UNIFORM), rule).verdict == "recovered"


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


@pytest.mark.parametrize("family", FAMILIES)
def test_hac_intervals(family: str) -> None:
    daily = simulate(6)
    model = its_effect(daily, D0, pre_days=90, post_days=90, family=family, covered_col="covered")
    hac = its_effect(
        daily, D0, pre_days=90, post_days=90, family=family, covered_col="covered", hac_maxlags=7
    )
    assert hac.cov_type == "HAC(maxlags=7)" and model.cov_type == "model"
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
