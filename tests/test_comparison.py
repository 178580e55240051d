"""The published comparison is made on the same measure, baseline and resolution as the source."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from takedowns.analysis.comparison import compare, hourly_series, rate_ratio
from takedowns.reference import load_published_figures

T0 = dt.datetime(2008, 11, 11, 22, 0, tzinfo=dt.UTC)  # McColo's nominal cut-off
PRE_DAYS = 15


def arrivals(post_every: int) -> pl.DataFrame:
    """Constructed trap arrivals on a 10-second grid, with a daily cycle and a drop at T0.

    Whole days from midnight ``PRE_DAYS`` days before T0's day to three days after T0.

    Before T0: one message every 6 slots (60 an hour) in the hours 22-23 UTC, every 3 slots
    (120 an hour) in the others. From T0 on: ``post_every`` times fewer, at the same hours.
    """
    start = dt.datetime.combine(T0.date() - dt.timedelta(days=PRE_DAYS), dt.time(), dt.UTC)
    grid = pl.datetime_range(
        start, T0 + dt.timedelta(days=3), "10s", closed="left",
        time_zone="UTC", eager=True,
    ).alias("arrival_time")  # fmt: skip
    frame = pl.DataFrame(grid).with_row_index("slot")
    step = pl.when(pl.col("arrival_time").dt.hour() >= 22).then(6).otherwise(3)
    step = pl.when(pl.col("arrival_time") >= T0).then(step * post_every).otherwise(step)
    return frame.filter(pl.col("slot") % step == 0).select("arrival_time")


def daily(frame: pl.DataFrame) -> pl.DataFrame:
    """The spam_event_daily rows of the constructed arrivals (every day covered)."""
    return (
        frame.group_by(pl.col("arrival_time").dt.date().alias("day"))
        .len("count")
        .with_columns(pl.lit("mccolo").alias("event_id"), pl.lit(True).alias("covered"))
        .sort("day")
    )


def comparison(post_every: int) -> dict[int, dict]:
    frame = arrivals(post_every)
    table = compare(load_published_figures(), daily(frame), frame, {"mccolo": T0}, PRE_DAYS)
    return {row["figure_id"]: row for row in table.iter_rows(named=True)}


def test_hourly_series_is_aligned_on_the_cutoff() -> None:
    series = hourly_series(arrivals(3), T0, 48, 2)
    assert series["hour"].to_list() == list(range(-48, 2))
    counts = dict(series.iter_rows())
    assert counts[-1] == 120  # 21:00-22:00 before the cut-off
    assert counts[-24] == counts[-23] == 60  # 22:00-24:00 the day before
    assert counts[0] == counts[1] == 20  # 22:00-24:00 after the cut-off: a third


def test_ironport_afternoon_is_compared_hourly_with_the_same_hours() -> None:
    rows = comparison(3)
    ironport = rows[1]
    assert ironport["comparable"] is True and ironport["reason"] is None
    assert ironport["resolution"] == "hours" and ironport["bound"] == "point"
    # 2 hours after 22:00 UTC (40 messages) against the same 2 hours of 15 days (60 an hour):
    # exactly a third, i.e. -66.7 %, though the whole-day mean before is 115 an hour.
    assert (ironport["post_units"], ironport["baseline_units"]) == (2, 2 * PRE_DAYS)
    assert ironport["our_estimate"] == pytest.approx(100 * (40 / 2 / 60 - 1), abs=0.05)
    assert ironport["our_ci_low"] < -66.7 < ironport["our_ci_high"]
    assert ironport["consistent"] is True
    _, low, high = rate_ratio(40, 2, 60 * 2 * PRE_DAYS, 2 * PRE_DAYS)
    assert ironport["our_ci_low"] == pytest.approx(100 * (low - 1), abs=0.05)
    assert ironport["our_ci_high"] == pytest.approx(100 * (high - 1), abs=0.05)


def test_a_planted_drop_far_from_the_published_point_is_not_consistent() -> None:
    ironport = comparison(10)[1]
    assert ironport["our_estimate"] == pytest.approx(-90.0, abs=0.05)  # 12 in 2 h vs 120
    assert ironport["our_ci_high"] < -66.7
    assert ironport["consistent"] is False


@pytest.mark.parametrize(("post_every", "consistent"), [(3, True), (5, False)])
def test_lower_bound_is_checked_as_a_bound(post_every: int, consistent: bool) -> None:
    marshal = comparison(post_every)[11]  # "fell by as much as 70 percent": change >= -70
    assert marshal["bound"] == "lower" and marshal["comparable"] is True
    assert marshal["resolution"] == "day"
    # the day after the cut-off day, against the mean of the 15 days before it
    assert marshal["our_estimate"] == pytest.approx(100 * (1 / post_every - 1), abs=0.05)
    assert marshal["consistent"] is consistent
    assert (marshal["our_ci_high"] >= -70) is consistent


def test_all_inbound_mail_is_not_compared() -> None:
    rows = comparison(3)
    microsoft = rows[8]
    assert microsoft["comparable"] is False
    assert microsoft["reason"] == "measures all_inbound_mail of all_inbound_mail, not spam volume"
    assert microsoft["our_estimate"] is None and microsoft["consistent"] is None
    assert rows[4]["comparable"] is False and "absolute level" in rows[4]["reason"]
    assert "baseline fall_2008" in rows[26]["reason"]
    assert set(rows) == set(
        load_published_figures().filter(pl.col("event_id") == "mccolo")["figure_id"]
    )


def test_rate_ratio_interval() -> None:
    estimate, low, high = rate_ratio(0, 2, 120, 2)
    assert (estimate, low) == (0.0, 0.0) and 0 < high < 0.05
    estimate, low, high = rate_ratio(100, 1, 100, 1)
    assert estimate == 1.0 and low < 1 < high
    _, wide_low, wide_high = rate_ratio(100, 1, 100, 1, dispersion=4.0)
    assert wide_low < low and wide_high > high
