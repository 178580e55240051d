"""Concentration indices against hand-computed values; grouped, row-wise and bootstrap forms."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from takedowns.analysis.concentration import (
    INDICES,
    bootstrap_change,
    bootstrap_change_by,
    concentration_by,
    concentration_indices,
    concentration_ratio,
    gini,
    hhi,
    indices_of_rows,
    normalized_entropy,
    share_gainers,
)

# ---------------------------------------------------------------------------------------------
# Hand-computed values
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 5, 10, 64])
def test_equal_shares(n: int) -> None:
    w = [7.0] * n
    assert hhi(w) == pytest.approx(1.0 / n)
    assert normalized_entropy(w) == pytest.approx(0.0 if n == 1 else 1.0)
    assert gini(w) == pytest.approx(0.0, abs=1e-12)
    assert concentration_ratio(w, 1) == pytest.approx(1.0 / n)
    assert concentration_ratio(w, 5) == pytest.approx(min(5, n) / n)
    assert concentration_indices(w)["n_owners"] == n


def test_single_owner() -> None:
    got = concentration_indices([0, 0, 42, 0])  # zero weights are not owners
    assert got == {
        "hhi": 1.0,
        "entropy": 0.0,
        "gini": 0.0,
        "cr1": 1.0,
        "cr5": 1.0,
        "cr10": 1.0,
        "n_owners": 1.0,
    }


def test_three_owners_by_hand() -> None:
    # shares 1/4, 1/4, 1/2
    got = concentration_indices([1, 1, 2])
    assert got["hhi"] == pytest.approx(1 / 16 + 1 / 16 + 1 / 4)  # 0.375
    # H = 2 * (1/4) ln 4 + (1/2) ln 2 = 1.5 ln 2; normalized by ln 3
    assert got["entropy"] == pytest.approx(1.5 * math.log(2) / math.log(3))
    # sum_ij |s_i - s_j| = 4 * 1/4 = 1; / (2 * 3**2 * mean 1/3) = 1/6
    assert got["gini"] == pytest.approx(1 / 6)
    assert got["cr1"] == pytest.approx(0.5)
    assert got["cr5"] == got["cr10"] == pytest.approx(1.0)


def test_gini_two_owners_and_its_maximum() -> None:
    assert gini([1, 3]) == pytest.approx(0.25)  # |1/4 - 3/4| * 2 / (2 * 4 * 1/2)
    # one owner holding nearly everything among N: the plain form tends to (N - 1)/N
    assert gini([1e-12] * 9 + [1.0]) == pytest.approx(0.9, abs=1e-9)


def test_concentration_ratios_by_hand() -> None:
    w = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]  # total 78
    assert concentration_ratio(w, 1) == pytest.approx(12 / 78)
    assert concentration_ratio(w, 5) == pytest.approx((12 + 11 + 10 + 9 + 8) / 78)
    assert concentration_ratio(w, 10) == pytest.approx((78 - 1 - 2) / 78)
    with pytest.raises(ValueError, match="k must be at least 1"):
        concentration_ratio(w, 0)


def test_empty_and_bad_weights() -> None:
    assert math.isnan(hhi([]))
    assert math.isnan(concentration_indices([0, 0])["gini"])
    assert concentration_indices([0, 0])["n_owners"] == 0
    with pytest.raises(ValueError, match="non-negative"):
        hhi([1, -1])
    with pytest.raises(ValueError, match="finite"):
        gini([1, float("nan")])


def pairwise_gini(w: np.ndarray) -> float:
    """The definition: sum_ij |s_i - s_j| / (2 N^2 mean(s)), over positive weights."""
    w = w[w > 0]
    s = w / w.sum()
    return float(np.abs(s[:, None] - s[None, :]).sum() / (2 * len(s) ** 2 * s.mean()))


def test_gini_equals_its_definition() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        w = rng.pareto(1.5, size=rng.integers(2, 60)) * (rng.random() > 0.0)
        w[rng.random(len(w)) < 0.2] = 0.0
        if (w > 0).sum() == 0:
            continue
        assert gini(w) == pytest.approx(pairwise_gini(w), abs=1e-12)


# ---------------------------------------------------------------------------------------------
# Grouped (polars) and row-wise (numpy) forms equal the scalar one
# ---------------------------------------------------------------------------------------------


def random_long_frame(seed: int) -> pl.DataFrame:
    """Groups (event, window) x owners, several rows per owner, zeros and an empty group."""
    rng = np.random.default_rng(seed)
    rows = []
    for event in ("rbn", "intercage", "mccolo"):
        for window in ("pre", "post"):
            n_owners = int(rng.integers(1, 40))
            owners = rng.choice(100_000, size=n_owners, replace=False)
            for owner in owners:
                for _ in range(int(rng.integers(1, 4))):
                    weight = float(rng.pareto(1.2) * 100) if rng.random() > 0.15 else 0.0
                    rows.append((event, window, int(owner), weight))
    rows.append(("empty", "pre", 1, 0.0))
    return pl.DataFrame(
        rows,
        schema={"event": pl.String, "window": pl.String, "asn": pl.UInt32, "w": pl.Float64},
        orient="row",
    )


def test_grouped_equals_scalar() -> None:
    frame = random_long_frame(11)
    got = concentration_by(frame, ["event", "window"], "asn", "w")
    assert got.height == frame.select("event", "window").unique().height
    for row in got.iter_rows(named=True):
        weights = (
            frame.filter((pl.col("event") == row["event"]) & (pl.col("window") == row["window"]))
            .group_by("asn")
            .agg(pl.col("w").sum())
            .get_column("w")
            .to_numpy()
        )
        want = concentration_indices(weights)
        for name in INDICES:
            if math.isnan(want[name]):
                assert row[name] is None, (row, name)
            else:
                assert row[name] == pytest.approx(want[name], abs=1e-12), (row, name)
        if (weights > 0).sum():
            assert row["gini"] == pytest.approx(pairwise_gini(weights), abs=1e-12)
    empty = got.filter(pl.col("event") == "empty").row(0, named=True)
    assert empty["n_owners"] == 0 and empty["total_weight"] == 0 and empty["hhi"] is None


def test_grouped_without_groups_and_bad_input() -> None:
    frame = pl.DataFrame({"asn": [1, 2, 2, 3], "w": [1, 1, 0, 2]})  # summed: 1, 1, 2
    got = concentration_by(frame, [], "asn", "w")
    assert got.height == 1 and got["hhi"][0] == pytest.approx(0.375)
    with pytest.raises(ValueError, match="'asn' has 1 null owners"):
        concentration_by(pl.DataFrame({"asn": [1, None], "w": [1, 1]}), [], "asn", "w")
    with pytest.raises(ValueError, match="'w' has 1 negative or non-finite"):
        concentration_by(pl.DataFrame({"asn": [1, 2], "w": [1, -1]}), [], "asn", "w")
    with pytest.raises(ValueError, match="'w' has 1 null weights"):
        concentration_by(pl.DataFrame({"asn": [1, 2], "w": [1, None]}), [], "asn", "w")


def test_rows_equal_scalar() -> None:
    rng = np.random.default_rng(5)
    totals = rng.pareto(1.1, size=(30, 25)) * (rng.random((30, 25)) > 0.4)
    totals[0] = 0.0  # an empty row
    totals[1] = 0.0
    totals[1, 7] = 3.0  # a single owner
    got = indices_of_rows(totals)
    for i, row in enumerate(totals):
        want = concentration_indices(row)
        for name in INDICES:
            if math.isnan(want[name]):
                assert math.isnan(got[name][i])
            else:
                assert got[name][i] == pytest.approx(want[name], abs=1e-12), (i, name)


# ---------------------------------------------------------------------------------------------
# Bootstrap
# ---------------------------------------------------------------------------------------------


def long_windows(pre: np.ndarray, post: np.ndarray) -> pl.DataFrame:
    """Unit x owner matrices of the two windows as a long (window, day, asn, w) frame."""
    parts = []
    for label, matrix in (("pre", pre), ("post", post)):
        units, owners = np.nonzero(np.ones_like(matrix, dtype=bool))
        parts.append(
            pl.DataFrame(
                {
                    "window": label,
                    "day": units.astype(np.int64),
                    "asn": owners.astype(np.int64) + 64_500,
                    "w": matrix[units, owners],
                }
            )
        )
    return pl.concat(parts)


def test_vectorized_bootstrap_equals_a_slow_loop() -> None:
    rng = np.random.default_rng(21)
    pre = rng.poisson(3.0, size=(6, 5)).astype(float)
    post = rng.poisson(2.0, size=(5, 5)).astype(float) * np.array([3, 1, 1, 0, 1])
    frame = long_windows(pre, post)
    seed, n_boot = 99, 60
    got = bootstrap_change(
        frame, unit_col="day", owner_col="asn", weight_col="w", n_resamples=n_boot, seed=seed
    )

    # Reference: the documented draws, one resample at a time, through polars and the
    # grouped function (an independent path to the same numbers).
    ref_rng = np.random.default_rng(seed)
    resampled: dict[str, list[dict[str, float]]] = {}
    for label in ("pre", "post"):
        rows = frame.filter(pl.col("window") == label)
        units = rows.get_column("day").unique().sort().to_list()
        draws = ref_rng.integers(0, len(units), size=(n_boot, len(units)))
        resampled[label] = []
        for b in range(n_boot):
            picked = pl.concat([rows.filter(pl.col("day") == units[i]) for i in draws[b]])
            resampled[label].append(concentration_by(picked, [], "asn", "w").row(0, named=True))
    for name in INDICES:
        diffs = np.array(
            [
                float(resampled["post"][b][name]) - float(resampled["pre"][b][name])
                for b in range(n_boot)
            ]
        )
        row = got.filter(pl.col("index") == name).row(0, named=True)
        low, high = np.quantile(diffs, [0.025, 0.975])
        assert row["ci_low"] == pytest.approx(low, abs=1e-12), name
        assert row["ci_high"] == pytest.approx(high, abs=1e-12), name
        point = (
            concentration_indices(post.sum(axis=0))[name]
            - concentration_indices(pre.sum(axis=0))[name]
        )
        assert row["difference"] == pytest.approx(point, abs=1e-12)
        assert (row["n_units_pre"], row["n_units_post"], row["n_valid"]) == (6, 5, n_boot)


def test_bootstrap_is_reproducible_with_the_seed() -> None:
    rng = np.random.default_rng(1)
    frame = long_windows(rng.poisson(5, (20, 8)).astype(float), rng.poisson(5, (20, 8)) * 1.0)
    kwargs = {"unit_col": "day", "owner_col": "asn", "weight_col": "w", "n_resamples": 300}
    a = bootstrap_change(frame, seed=7, **kwargs)
    b = bootstrap_change(frame, seed=7, **kwargs)
    c = bootstrap_change(frame, seed=8, **kwargs)
    assert a.equals(b)
    assert not a["ci_low"].equals(c["ci_low"])
    assert a["difference"].equals(c["difference"])  # the point estimate has no randomness


def test_grouped_bootstrap_seeds_do_not_depend_on_group_order() -> None:
    rng = np.random.default_rng(2)
    parts = []
    for event in ("mccolo", "rbn", "intercage"):
        f = long_windows(rng.poisson(4, (12, 6)) * 1.0, rng.poisson(4, (10, 6)) * 1.0)
        parts.append(f.with_columns(event=pl.lit(event)))
    frame = pl.concat(parts)
    kwargs = {
        "unit_col": "day",
        "owner_col": "asn",
        "weight_col": "w",
        "n_resamples": 200,
        "seed": 5,
    }
    forward = bootstrap_change_by(frame, ["event"], **kwargs).sort("event", "index")
    backward = bootstrap_change_by(frame.reverse(), ["event"], **kwargs).sort("event", "index")
    assert forward.equals(backward)
    assert forward.columns[:2] == ["event", "index"]
    assert forward.height == 3 * len(INDICES)


def test_bootstrap_interval_covers_the_true_difference() -> None:
    """Simulated days: each day's spam is multinomial over owners with known shares.

    The true pooled HHI is that of the known shares; over 60 simulated studies the 95 %
    interval of the pre/post difference must cover the true difference at least 50 times
    (expected 57; P(X <= 49) < 0.1 % for a correct 95 % interval).
    """
    rng = np.random.default_rng(2008)
    owners = 40
    p_pre = rng.dirichlet(np.full(owners, 0.3))
    p_post = rng.dirichlet(np.full(owners, 0.8))
    true_diff = float(np.sum(p_post**2) - np.sum(p_pre**2))
    covered = 0
    widths = []
    for sim in range(60):

        def window(p: np.ndarray, n_days: int) -> np.ndarray:
            totals = rng.poisson(150, size=n_days)
            day_p = np.stack([rng.dirichlet(p * 400) for _ in range(n_days)])
            return np.stack(
                [rng.multinomial(t, dp) for t, dp in zip(totals, day_p, strict=True)]
            ).astype(float)

        frame = long_windows(window(p_pre, 60), window(p_post, 45))
        hhi_row = (
            bootstrap_change(
                frame, unit_col="day", owner_col="asn", weight_col="w", n_resamples=400, seed=sim
            )
            .filter(pl.col("index") == "hhi")
            .row(0, named=True)
        )
        covered += hhi_row["ci_low"] <= true_diff <= hhi_row["ci_high"]
        widths.append(hhi_row["ci_high"] - hhi_row["ci_low"])
    assert covered >= 50, covered
    # not trivially wide: the intervals are far narrower than the effect being measured
    assert np.median(widths) < abs(true_diff) / 2


def test_bootstrap_too_few_units_and_empty_units() -> None:
    frame = pl.DataFrame(
        {"window": ["pre", "post", "post"], "day": [1, 1, 2], "asn": [1, 1, 2], "w": [5, 1, 0]}
    )
    got = bootstrap_change(frame, unit_col="day", owner_col="asn", weight_col="w")
    row = got.filter(pl.col("index") == "hhi").row(0, named=True)
    # a zero-weight row registers unit 2 of the post window; the pre window has one unit only
    assert (row["n_units_pre"], row["n_units_post"]) == (1, 2)
    assert row["ci_low"] is None and row["ci_high"] is None and row["n_valid"] == 0
    assert row["difference"] == 0.0

    no_post = frame.filter(pl.col("window") == "pre")
    row = bootstrap_change(no_post, unit_col="day", owner_col="asn", weight_col="w").row(
        0, named=True
    )
    assert row["pre"] == 1.0 and row["post"] is None and row["difference"] is None
    assert row["n_units_post"] == 0 and row["ci_high"] is None


# ---------------------------------------------------------------------------------------------
# Share gainers
# ---------------------------------------------------------------------------------------------


def test_share_gainers_by_hand() -> None:
    frame = pl.DataFrame(
        {
            "event": ["e"] * 7,
            "window": ["pre", "pre", "pre", "post", "post", "post", "post"],
            "asn": [26780, 3, 4, 3, 4, 5, 5],
            "w": [60.0, 30.0, 10.0, 30.0, 10.0, 40.0, 20.0],
        }
    )
    got = share_gainers(frame, owner_col="asn", weight_col="w", group_cols=["event"], top=2)
    # pre shares 26780: .6, 3: .3, 4: .1; post 3: .3, 4: .1, 5: .6
    assert got["asn"].to_list() == [5]  # 3 and 4 kept their shares; 26780 lost its share
    row = got.row(0, named=True)
    assert row["share_pre"] == 0.0 and row["share_post"] == pytest.approx(0.6)
    assert row["share_change"] == pytest.approx(0.6) and row["new_owner"] and row["rank"] == 1
    assert row["weight_post"] == 60.0

    frame2 = frame.with_columns(
        pl.when(pl.col("asn") == 4).then(pl.col("w") * 3).otherwise(pl.col("w")).alias("w")
    )
    got2 = share_gainers(frame2, owner_col="asn", weight_col="w", group_cols=["event"], top=5)
    # pre 26780: 60/120, 3: 30/120, 4: 30/120; post 3: 30/120, 4: 30/120, 5: 60/120
    assert got2["asn"].to_list() == [5]
    got3 = share_gainers(frame2, owner_col="asn", weight_col="w", top=5)
    assert got3.columns[0] == "asn" and got3["rank"].to_list() == [1]


# ---------------------------------------------------------------------------------------------
# Block bootstrap over days
# ---------------------------------------------------------------------------------------------


def test_concentration_block_option_changes_the_draws_only() -> None:
    rng = np.random.default_rng(6)
    rows = []
    for label, n in (("pre", 40), ("post", 30)):
        for d in range(n):
            for owner in range(6):
                rows.append((label, d, owner, float(rng.poisson(20 + 10 * owner))))
    frame = pl.DataFrame(rows, schema=["window", "day", "asn", "w"], orient="row")
    kw = {"unit_col": "day", "owner_col": "asn", "weight_col": "w", "n_resamples": 300, "seed": 1}
    plain = bootstrap_change(frame, **kw)
    blocks = bootstrap_change(frame, block_days=7, **kw)
    assert plain["difference"].equals(blocks["difference"])
    assert not plain["ci_low"].equals(blocks["ci_low"])
    assert blocks.filter(pl.col("index") == "hhi")["n_valid"][0] == 300
    corrected = bootstrap_change(frame, block_days=7, persistence_correction=True, **kw)
    width = lambda f: (f["ci_high"] - f["ci_low"]).to_numpy()  # noqa: E731
    assert np.all(width(corrected) >= width(blocks) - 1e-12)  # same draws, stretched
    assert corrected["difference"].equals(plain["difference"])
    with pytest.raises(ValueError, match="block_days"):
        bootstrap_change(frame, block_days=0, **kw)
