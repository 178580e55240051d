"""Displacement: WDQ, day-block bootstrap, buffer gains, descriptive indices, calibration."""

from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np
import polars as pl
import pytest

from takedowns.analysis import resampling
from takedowns.analysis.concentration import concentration_indices
from takedowns.analysis.displacement import (
    BootstrapPlan,
    buffer_shares,
    classify_gains,
    collapse_roles,
    displacement_by,
    estimate_displacement,
    gains_hhi,
    indices_with_and_without_target,
    persistence_acf,
    versions_to_days,
    wdq,
    wdq_reading,
)
from takedowns.analysis.displacement_calibration import calibration_rows
from takedowns.analysis.resampling import persistence_factor

# ---------------------------------------------------------------------------------------------
# WDQ by hand
# ---------------------------------------------------------------------------------------------


def test_wdq_hand_computed() -> None:
    # A 100 -> 50, B 200 -> 225, C 1000 -> 1000: (0.225 - 0.2) / (0.05 - 0.1) = -0.5
    assert float(wdq(100, 50, 200, 225, 1000, 1000)) == pytest.approx(-0.5)
    # the control doubles: B/C 0.2 -> 0.15, A/C 0.1 -> 0.025 -> (-0.05) / (-0.075) = 2/3
    assert float(wdq(100, 50, 200, 300, 1000, 2000)) == pytest.approx(2 / 3)
    # vectorized, with the undefined cases: no change of the target, no control
    got = wdq(
        [100, 100, 100],
        [50, 100, 50],
        [200, 200, 200],
        [225, 250, 225],
        [1000] * 3,
        [1000, 1000, 0],
    )
    assert got[0] == pytest.approx(-0.5)
    assert math.isnan(got[1]) and math.isnan(got[2])


def test_wdq_reading_and_sign() -> None:
    assert wdq_reading(-0.5, -0.9, -0.1) == "displacement"
    assert wdq_reading(0.4, 0.1, 0.8) == "diffusion of benefit"
    assert wdq_reading(-0.2, -0.9, 0.3) == "no clear displacement or diffusion"
    assert wdq_reading(float("nan"), float("nan"), float("nan")).startswith("undefined")


def test_collapse_roles_and_shares() -> None:
    days = np.array([[1.0, 2.0, 3.0, 4.0, 5.0], [10.0, 20.0, 30.0, 40.0, 50.0]])
    got = collapse_roles(days, ["control", "buffer", "target", "buffer", "control"])
    assert got.tolist() == [[3.0, 2.0, 4.0, 6.0], [30.0, 20.0, 40.0, 60.0]]
    # shares of the non-target activity: 2/12, 4/12
    assert buffer_shares(got[0]).tolist() == pytest.approx([2 / 12, 4 / 12])
    with pytest.raises(ValueError, match="unknown role"):
        collapse_roles(days, ["target", "buffer", "control", "control", "victim"])


# ---------------------------------------------------------------------------------------------
# Day-block resampling
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", resampling.SCHEMES)
def test_plans_draw_whole_days(scheme: str) -> None:
    rng = np.random.default_rng(4)
    idx = resampling.day_indices(rng, 30, 200, 7, scheme)  # type: ignore[arg-type]
    assert idx.shape == (200, 30) and idx.min() >= 0 and idx.max() <= 29
    counts = resampling.counts_of(idx, 30)
    assert np.all(counts.sum(axis=1) == 30)
    if scheme != "iid":
        # consecutive positions are consecutive days inside a block: mostly +1 steps
        steps = np.diff(idx, axis=1) % 30
        assert np.mean(steps == 1) > 0.75
    if scheme == "moving":
        starts = idx[:, ::7]
        assert starts.max() <= 30 - 7


def test_block_bootstrap_keeps_cross_owner_alignment() -> None:
    """Owner 1 is owner 0 shifted by 1000, each day: every resample keeps that exactly."""
    rng = np.random.default_rng(5)
    base = rng.poisson(50, size=(1, 40, 1)).astype(float)
    daily = np.concatenate([base, base + 1000.0, 2 * base], axis=2)  # (1, 40 days, 3)
    totals = resample_totals_for_test(daily, rng)
    assert np.allclose(totals[0, :, 1] - totals[0, :, 0], 40 * 1000.0)
    assert np.allclose(totals[0, :, 2], 2 * totals[0, :, 0])
    assert totals[0, :, 0].std() > 0  # and the resamples do differ


def resample_totals_for_test(daily: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from takedowns.analysis.displacement import resample_totals

    return resample_totals(daily, BootstrapPlan(n_resamples=300, block_days=7), rng)


def test_persistence_factor() -> None:
    # no persistence: circular blocks lose L/n of the variance; the factor restores it
    white = np.zeros(31)
    white[0] = 1.0
    assert persistence_factor(white, 30, 10) == pytest.approx(math.sqrt(30 / 20))
    lags = np.arange(31)
    strong = persistence_factor(0.9**lags, 30, 7)
    weak = persistence_factor(0.3**lags, 30, 7)
    assert strong > weak > math.sqrt(30 / 23)
    # AR(1) rho = 0.5, n = 30, L = 10, computed by hand from the definition
    r = 0.5**lags
    v = lambda m: m + 2 * sum((m - k) * r[k] for k in range(1, m))  # noqa: E731
    want = math.sqrt(v(30) / (3 * v(10) - v(30) / 3))
    assert persistence_factor(r, 30, 10) == pytest.approx(want)


def test_persistence_acf_finds_the_drift() -> None:
    """Log ratios with a strong AR(1) drift get a long-tailed autocorrelation, white ones none."""
    rng = np.random.default_rng(9)
    means = np.array([5000.0, 5000.0, 20000.0])
    drifting = ar_activity(rng, 40, 120, means, 0.9)
    acf = persistence_acf(drifting[:, :90], drifting[:, 90:], 30)
    assert acf.shape == (40, 2, 31) and np.allclose(acf[..., 0], 1.0)
    assert np.median(acf[..., 10]) > 0.2
    flat = rng.poisson(means, size=(40, 120, 3)).astype(float)
    acf_flat = persistence_acf(flat[:, :90], flat[:, 90:], 30)
    assert abs(np.median(acf_flat[..., 10])) < 0.05


def ar_activity(
    rng: np.random.Generator, n_series: int, n_days: int, means: np.ndarray, rho: float
) -> np.ndarray:
    """Poisson counts around means x exp(independent AR(1) drift per owner): (S, days, owners)."""
    drift = np.zeros((n_series, n_days, means.size))
    drift[:, 0] = rng.normal(0, 0.1 / math.sqrt(1 - rho**2), size=(n_series, means.size))
    for t in range(1, n_days):
        drift[:, t] = rho * drift[:, t - 1] + rng.normal(0, 0.1, size=(n_series, means.size))
    return rng.poisson(means * np.exp(drift - 0.5 * 0.01 / (1 - rho**2))).astype(float)


def test_wdq_interval_covers_on_a_seeded_simulation() -> None:
    """Target halves, a third of its loss goes to the buffer: true WDQ = -1/3.

    Of 150 seeded series with persistent drift (rho 0.5), the 95 % interval must cover the
    truth at least 133 times (P(X <= 132) < 1 % for a correct interval); it excludes 0
    (finds the displacement) in a clear majority.
    """
    rng = np.random.default_rng(2008)
    means = np.array([400.0, 300.0, 2000.0])  # target, one buffer, control
    pre = ar_activity(rng, 150, 90, means, 0.5)
    post_means = means + np.array([-200.0, 200.0 / 3, 0.0])
    post = ar_activity(rng, 150, 60, post_means, 0.5)
    est = estimate_displacement(pre, post, BootstrapPlan(n_resamples=400), rng)
    truth = -1 / 3
    covered = int(np.sum((est.wdq_low <= truth) & (truth <= est.wdq_high)))
    assert covered >= 133, covered
    assert np.mean(est.wdq_high < 0) > 0.6
    assert np.median(est.wdq) == pytest.approx(truth, abs=0.05)


# ---------------------------------------------------------------------------------------------
# Buffer gains and the class
# ---------------------------------------------------------------------------------------------


def planted(rng: np.random.Generator, movers: int) -> tuple[np.ndarray, np.ndarray]:
    """Target 1000/day loses 800/day; all of it moves to ``movers`` of 10 equal buffers."""
    means = np.array([1000.0] + [300.0] * 10 + [20000.0])
    gain = np.zeros_like(means)
    gain[0] = -800.0
    gain[1 : movers + 1] = 800.0 / movers
    pre = ar_activity(rng, 1, 90, means, 0.3)
    post = ar_activity(rng, 1, 90, means + gain, 0.3)
    return pre, post


def test_one_successor_is_displaced_ten_is_dispersed() -> None:
    rng = np.random.default_rng(11)
    plan = BootstrapPlan(n_resamples=600)
    one = estimate_displacement(*planted(rng, 1), plan, rng)
    assert one.buffer_low[0] > 0
    assert one.gainer[0].tolist() == [True] + [False] * 9
    assert one.gains_hhi[0] > 0.8
    assert classify_gains(one.buffer_low > 0, one.n_gainers, one.gains_hhi)[0] == "displaced"
    ten = estimate_displacement(*planted(rng, 10), plan, rng)
    assert ten.buffer_low[0] > 0 and ten.gains_hhi[0] < 0.25
    assert classify_gains(ten.buffer_low > 0, ten.n_gainers, ten.gains_hhi)[0] == "dispersed"
    none = estimate_displacement(*planted(rng, 1)[:1], planted(rng, 1)[0], plan, rng)
    assert classify_gains(none.buffer_low > 0, none.n_gainers, none.gains_hhi)[0] == "none"


def test_gains_hhi_and_classify_by_hand() -> None:
    assert gains_hhi(np.array([0.3, -0.1, 0.0])) == pytest.approx(1.0)
    assert gains_hhi(np.array([0.1, 0.1, -0.2])) == pytest.approx(0.5)
    assert math.isnan(gains_hhi(np.array([-0.1, 0.0])))
    got = classify_gains(
        np.array([False, True, True, True, True]),
        np.array([0, 1, 5, 2, 10]),
        np.array([1.0, 0.9, 0.9, 0.2, 0.1]),
        max_gainers=2,
        min_gains_hhi=0.4,
    )
    # one gainer; five, one of which holds nearly all; two even ones; ten even ones
    assert got.tolist() == ["none", "displaced", "displaced", "displaced", "dispersed"]


# ---------------------------------------------------------------------------------------------
# Long tables
# ---------------------------------------------------------------------------------------------


def long_table(pre: np.ndarray, post: np.ndarray, owners: list, roles: list[str]) -> pl.DataFrame:
    """(window, day, owner, role, weight) rows from (days, owners) matrices."""
    parts = []
    for label, matrix, first in (("pre", pre, 0), ("post", post, pre.shape[0])):
        d, o = np.nonzero(np.ones_like(matrix, dtype=bool))
        parts.append(
            pl.DataFrame(
                {
                    "event_id": "mccolo",
                    "measure": "spam_sources",
                    "window": label,
                    "day": (d + first).astype(np.int64),
                    "owner": [owners[i] for i in o],
                    "role": [roles[i] for i in o],
                    "weight": matrix[d, o],
                }
            )
        )
    return pl.concat(parts)


def test_displacement_by_matches_the_arrays() -> None:
    rng = np.random.default_rng(12)
    pre, post = planted(rng, 1)
    owners = ["26780"] + [str(64500 + i) for i in range(10)] + ["rest"]
    roles = ["target"] + ["buffer"] * 10 + ["control"]
    frame = long_table(pre[0], post[0], owners, roles)
    plan = BootstrapPlan(n_resamples=300)
    summary, buffers = displacement_by(frame, ["event_id", "measure"], plan=plan, seed=3)
    row = summary.row(0, named=True)
    assert summary.height == 1 and row["event_id"] == "mccolo"
    assert row["a_pre"] == pre[0, :, 0].sum() and row["c_post"] == post[0, :, -1].sum()
    want = wdq(
        pre[0, :, 0].sum(),
        post[0, :, 0].sum(),
        pre[0, :, 1:-1].sum(),
        post[0, :, 1:-1].sum(),
        pre[0, :, -1].sum(),
        post[0, :, -1].sum(),
    )
    assert row["wdq"] == pytest.approx(float(want))
    assert row["wdq_low"] <= row["wdq"] <= row["wdq_high"]
    assert row["displacement"] == "displaced" and row["n_gainers"] == 1
    assert (row["n_days_pre"], row["n_days_post"], row["n_buffers"]) == (90, 90, 10)
    assert buffers.height == 10
    gainers = buffers.filter(pl.col("gainer"))
    assert gainers["owner"].to_list() == ["64500"]
    # reproducible from the seed
    again, _ = displacement_by(frame, ["event_id", "measure"], plan=plan, seed=3)
    assert again.equals(summary)


def test_displacement_by_undefined_and_refusals() -> None:
    pre = np.full((20, 3), 10.0)
    frame = long_table(pre, pre.copy(), ["A", "B", "C"], ["target", "buffer", "control"])
    summary, _ = displacement_by(frame, [], plan=BootstrapPlan(n_resamples=50))
    row = summary.row(0, named=True)
    assert row["wdq"] is None and row["note"] == "target did not change relative to control"
    short = frame.filter(pl.col("day") < 3)  # 3 pre days, no post day
    no_buffer = frame.filter(pl.col("role") != "buffer")
    for part, note in ((short, "fewer than 7 days"), (no_buffer, "no buffer network")):
        row = displacement_by(part, [], plan=BootstrapPlan(n_resamples=50))[0].row(0, named=True)
        assert note in row["note"] and row["wdq"] is None and row["displacement"] is None
    bad = frame.with_columns(pl.lit("suspect").alias("role"))
    with pytest.raises(ValueError, match="unknown role"):
        displacement_by(bad, [])
    doubled = pl.concat([frame, frame.head(1).with_columns(role=pl.lit("control"))])
    with pytest.raises(ValueError, match="more than one role"):
        displacement_by(doubled, [])


def test_unrouted_space_is_an_owner_with_and_without_target() -> None:
    frame = pl.DataFrame(
        {
            "event_id": ["e"] * 4,
            "owner": [26780, 3, None, 4],
            "role": ["target", "buffer", "control", "control"],
            "weight": [60.0, 20.0, 15.0, 5.0],
        }
    )
    got = indices_with_and_without_target(frame, ["event_id"]).sort("target")
    excluded, included = got.row(0, named=True), got.row(1, named=True)
    assert excluded["target"] == "excluded" and included["target"] == "included"
    assert included["n_owners"] == 4 and excluded["n_owners"] == 3  # unrouted counted
    assert excluded["total_weight"] == 40.0
    assert excluded["hhi"] == pytest.approx(concentration_indices([20, 15, 5])["hhi"])
    assert included["hhi"] == pytest.approx(concentration_indices([60, 20, 15, 5])["hhi"])


def test_versions_to_days_weights_each_version_by_its_days() -> None:
    versions = pl.DataFrame(
        {
            "captured": [
                datetime(2008, 11, 1, 9),
                datetime(2008, 11, 1, 9),
                datetime(2008, 11, 4, 12),
                datetime(2008, 11, 4, 23),  # the later capture of that day wins
            ],
            "owner": [26780, 3, 3, 4],
            "weight": [256.0, 512.0, 512.0, 1024.0],
        }
    )
    calendar = pl.DataFrame(
        {"day": pl.date_range(date(2008, 10, 31), date(2008, 11, 6), eager=True)}
    )
    got = versions_to_days(versions, time_col="captured", calendar=calendar)
    per_day = got.group_by("day").agg(pl.col("owner").sort()).sort("day")
    assert per_day["day"].to_list()[0] == date(2008, 11, 1)  # nothing before the first capture
    assert per_day["owner"].to_list() == [[3, 26780]] * 3 + [[4]] * 3
    default = versions_to_days(versions, time_col="captured")
    assert default["day"].max() == date(2008, 11, 4) and default.height == 3 * 2 + 1


# ---------------------------------------------------------------------------------------------
# Calibration smoke test
# ---------------------------------------------------------------------------------------------


def test_calibration_rows_smoke() -> None:
    got = calibration_rows(30, [0.5], seed=1)
    assert got.columns == [
        "estimator",
        "scenario",
        "rho",
        "planted_effect",
        "n_series",
        "coverage",
        "false_positive_rate",
        "power",
        "bias",
    ]
    assert set(got["estimator"]) >= {
        "wdq",
        "wdq_plain_blocks",
        "buffer_share_change",
        "displacement_class",
        "hhi_change_iid_days",
        "hhi_change_block_days",
        "hhi_change_block_days_corrected",
    }
    nothing = got.filter(pl.col("scenario").str.ends_with("moved_to_0"))
    moved = got.filter(
        ~pl.col("scenario").str.ends_with("moved_to_0") & pl.col("scenario").str.starts_with("post")
    )
    moved = moved.filter(~pl.col("scenario").str.contains("no_change"))
    assert nothing["power"].is_nan().all() and nothing["false_positive_rate"].is_not_nan().all()
    assert moved["false_positive_rate"].is_nan().all() and moved["power"].is_not_nan().all()
    wdq_rows = got.filter((pl.col("estimator") == "wdq") & (pl.col("planted_effect") != 0))
    assert wdq_rows["coverage"].min() >= 0.6  # 30 series: a loose smoke bound
    assert got["n_series"].unique().to_list() == [30]
    assert calibration_rows(30, [0.5], seed=1).equals(got)


def test_vectorized_hhi_factors_match_the_per_series_ones() -> None:
    """The calibration's batched persistence factors equal concentration's, series by series."""
    from takedowns.analysis.concentration import persistence_factor_of_days
    from takedowns.analysis.displacement_calibration import hhi_persistence_factors
    from takedowns.analysis.simulate import SeriesModel, simulate_network_activity

    model = SeriesModel(n_days=120, t0=90, rho=0.9)
    sim = simulate_network_activity(
        model, 4, np.random.default_rng(5), n_buffer=3, n_control=5, movers=0, moved_share=0.0
    )
    days = np.swapaxes(sim.activity, 1, 2).astype(np.float64)
    pre, post = hhi_persistence_factors(days[:, :90], days[:, 90:], 7)
    for s in range(4):
        one = persistence_factor_of_days(days[s, :90], days[s, 90:], 7)
        assert (pre[s], post[s]) == pytest.approx(one, rel=1e-12)
    assert (post >= 1).all() and post.max() > 1.05  # a 30-day window under drift: stretched


def test_percentile_interval_matches_nanquantile() -> None:
    rng = np.random.default_rng(2)
    draws = rng.normal(size=(20, 3, 199))
    draws[draws > 2.0] = np.nan
    draws[0, 1, 7] = np.inf
    draws[5, 2, :] = np.nan  # no finite draw
    low, high = resampling.percentile_interval(draws, 0.9, axis=-1)
    clean = np.where(np.isfinite(draws), draws, np.nan)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        want_low, want_high = np.nanquantile(clean, [0.05, 0.95], axis=-1)
    np.testing.assert_allclose(low, want_low, rtol=1e-12)
    np.testing.assert_allclose(high, want_high, rtol=1e-12)
    assert np.isnan(low[5, 2]) and low.shape == (20, 3)
    first, last = resampling.percentile_interval(np.arange(11.0)[:, None], 0.8, axis=0)
    assert (first[0], last[0]) == pytest.approx((1.0, 9.0))
