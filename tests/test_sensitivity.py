"""The sensitivity table on simulated series: every variant, the primary row, the windows."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm

from takedowns.analysis.effects import calendar_design, its_effect
from takedowns.analysis.sensitivity import Variant, default_variants, sensitivity_table
from takedowns.analysis.simulate import SeriesModel, simulate_daily_counts

START = dt.date(2008, 8, 1)
T0 = dt.datetime(2008, 11, 9, 22, 0)  # day 100 of the series, late in the day
PRIMARY = {"pre_days": 90, "post_days": 90, "covered_col": "covered"}


def simulated(seed: int, level: float = -0.5) -> pl.DataFrame:
    """200 days of realistic trap counts with ``level`` planted from day 100."""
    sim = simulate_daily_counts(
        SeriesModel(n_days=200, t0=100, level_effect=level), 1, np.random.default_rng(seed)
    )
    days = pl.date_range(START, START + dt.timedelta(days=199), eager=True)
    return pl.DataFrame({"day": days, "count": sim.counts[0], "covered": True})


def log_width(row: dict, name: str) -> float:
    """Width of an interval on the log scale: log(1 + high) - log(1 + low)."""
    return math.log1p(row[f"{name}_high"]) - math.log1p(row[f"{name}_low"])


def test_default_variants_change_one_thing_each() -> None:
    variants = default_variants(PRIMARY)
    names = [v.name for v in variants]
    assert names == [
        "primary",
        "pre_days=30",
        "pre_days=60",
        "no_slope",
        "flat_counterfactual",
        "hac_maxlags=3",
        "hac_maxlags=14",
        "cov_type=model",
        "family=quasi_poisson",
        "family=log_arma",
        "outages_left_out",
        "no_holidays",
    ]
    for variant in variants[1:]:
        changed = {k for k in variant.kwargs if variant.kwargs[k] != PRIMARY.get(k)}
        flags = (not variant.slope) + (not variant.pre_trend)
        assert len(changed) + flags == 1, variant.name
    model = default_variants({**PRIMARY, "cov_type": "model", "outage_share": 0.3, "pre_days": 60})
    model_names = [v.name for v in model]
    assert "cov_type=hac" in model_names and "outages_kept" in model_names
    assert "pre_days=90" in model_names and "pre_days=60" not in model_names
    with pytest.raises(ValueError, match="pre_days"):
        default_variants({"post_days": 30})


def test_every_variant_runs_and_the_primary_is_its_effect() -> None:
    daily = simulated(3)
    table = sensitivity_table(daily, T0, variants=default_variants(PRIMARY))
    assert table.height == 12
    assert (table["status"] == "ok").all()
    assert table["immediate"].is_between(-0.75, -0.2).all()
    primary = table.row(0, named=True)
    direct = its_effect(daily, T0, **PRIMARY)
    assert primary["immediate"] == direct.relative_change
    assert primary["immediate_low"] == direct.ci_low
    assert primary["window_average_high"] == direct.window_average_ci_high
    assert primary["end_of_window"] == direct.end_of_window
    assert primary["n_days_pre"] == direct.n_days_pre == 90
    by = {r["variant"]: r for r in table.iter_rows(named=True)}
    flat = by["flat_counterfactual"]
    assert flat["immediate"] == direct.relative_change
    assert flat["window_average"] == direct.window_average_flat
    assert flat["end_of_window_low"] == direct.end_of_window_flat_ci_low
    # the windows hold Thanksgiving and the year end: the holiday dummies matter
    assert by["no_holidays"]["immediate"] != primary["immediate"]
    assert by["outages_left_out"]["n_days_outage"] > 0 == primary["n_days_outage"]
    assert by["cov_type=model"]["hac_maxlags"] is None and primary["hac_maxlags"] == 7
    level_only = by["no_slope"]
    assert level_only["immediate"] == level_only["window_average"] == level_only["end_of_window"]
    assert level_only["immediate_low"] < level_only["immediate"] < level_only["immediate_high"]


def test_level_only_point_estimate_is_the_poisson_mle() -> None:
    daily = simulated(5)
    variant = Variant("lvl", "level only", {**PRIMARY, "family": "quasi_poisson"}, slope=False)
    row = sensitivity_table(daily, T0, variants=[variant]).row(0, named=True)
    days = [START + dt.timedelta(days=i) for i in range(10, 190) if i != 100]
    design = calendar_design(days, T0.date())
    keep = [i for i, n in enumerate(design.names) if n != "slope_change"]
    y = daily.filter(pl.col("day").is_in(days))["count"].to_numpy()
    fit = sm.GLM(y, design.x[:, keep], family=sm.families.Poisson()).fit()
    level = [design.names[i] for i in keep].index("level")
    assert row["immediate"] == pytest.approx(math.expm1(fit.params[level]), rel=1e-5)
    assert row["n_days_pre"] == 90 and row["n_days_post"] == 89


@pytest.mark.parametrize("seed", [3, 4, 7])
def test_short_pre_window_widens_the_projected_estimands(seed: int) -> None:
    variants = [v for v in default_variants(PRIMARY) if v.name in ("primary", "pre_days=30")]
    long, short = sensitivity_table(simulated(seed), T0, variants=variants).iter_rows(named=True)
    assert long["pre_days"] == 90 and short["pre_days"] == 30
    for name in ("window_average", "end_of_window"):
        assert log_width(short, name) > 1.2 * log_width(long, name)


def test_unfittable_variant_reports_why() -> None:
    daily = simulated(3).with_columns(covered=pl.col("day") >= dt.date(2008, 10, 1))
    variants = default_variants(PRIMARY)
    table = sensitivity_table(daily, T0, variants=variants)
    assert (table["status"] == "ok").sum() == table.height  # 39 pre days are enough
    strict = [Variant("strict", "need 60 pre days", {**PRIMARY, "min_days_pre": 60})]
    strict.append(Variant("strict_level", "level only", strict[0].kwargs, slope=False))
    out = sensitivity_table(daily, T0, variants=strict)
    assert out["status"].to_list() == ["insufficient_data"] * 2
    assert out["immediate"].null_count() == 2
    assert out["reason"].str.contains("39").all()
