"""Threats to validity: each number on a small constructed table."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from scipy import stats

from takedowns.analysis.threats import (
    THREATS_SCHEMA,
    asrel_staleness,
    churn_around_events,
    collector_switch_day,
    event_spans,
    exchanger_share_row,
    outage_days,
    overlapping_events,
    pfx2as_level_shift,
    threats_table,
    trap_churn,
    wayback_brackets,
    wayback_gaps,
)

EVENTS = {
    "rbn": dt.datetime(2007, 11, 7, 3, 0),
    "intercage": dt.datetime(2008, 9, 21, 5, 0),
    "mccolo": dt.datetime(2008, 11, 11, 22, 0),
}
SPANS = event_spans(EVENTS, pre_days=90, post_days=90)
D = dt.date


def exchangers() -> pl.DataFrame:
    """spam_exchangers: Oct 2008 all matched, Nov 38 of 40, Dec 0 of 5 (a thin month)."""
    return pl.DataFrame(
        {
            "archive": "2008.7z",
            "month": [D(2008, 10, 1), D(2008, 11, 1), D(2008, 11, 1), D(2008, 12, 1)],
            "by_host": ["zak.futurequest.net", "mx1.futurequest.net", None, "other.example"],
            "matched": [True, True, False, False],
            "messages": [100, 38, 2, 5],
        }
    )


def test_exchanger_share_row() -> None:
    row = exchanger_share_row(exchangers().filter(pl.col("month") == D(2008, 12, 1)))
    assert row["value"] == 0.0 and "no month has" in row["note"]
    empty = exchanger_share_row(exchangers().clear())
    assert empty["value"] is None


def calendar(first: dt.date, last: dt.date) -> pl.Series:
    """Every day from first to last (inclusive)."""
    return pl.date_range(first, last, eager=True)


def messages() -> pl.DataFrame:
    """Spam in Oct 2008 (3 recipients, 2 relays) and Dec 2008 (2 recipients, 4 relays)."""
    return pl.DataFrame(
        {
            "day": [D(2008, 10, 3)] * 4 + [D(2008, 12, 5)] * 5,
            "recipient": ["a", "b", "c", "a", "a", "b", "b", "a", None],
            "relay_ip": [1, 2, 2, 1, 5, 6, 7, 8, 8],
        }
    )


def test_event_spans() -> None:
    mccolo = SPANS.filter(pl.col("event_id") == "mccolo").row(0, named=True)
    assert mccolo == {
        "event_id": "mccolo",
        "d0": D(2008, 11, 11),
        "window_first": D(2008, 8, 13),
        "window_end": D(2009, 2, 9),
    }
    assert SPANS["event_id"].to_list() == ["rbn", "intercage", "mccolo"]


def test_trap_churn_by_recipient_and_relay_proxy() -> None:
    churn = trap_churn(messages())
    assert churn["month"].to_list() == [D(2008, 10, 1), D(2008, 12, 1)]
    assert churn["n_distinct"].to_list() == [3, 2]
    assert churn["n_messages"].to_list() == [4, 5]
    assert churn["basis"].unique().to_list() == ["recipient"]
    assert churn["change"].to_list() == [None, pytest.approx(-1 / 3)]
    proxy = trap_churn(messages().drop("recipient").lazy())
    assert proxy["basis"][0] == "relay_ip" and proxy["n_distinct"].to_list() == [2, 4]
    around = churn_around_events(proxy, EVENTS).row(2, named=True)
    assert around["month_before"] == D(2008, 10, 1) and around["month_after"] == D(2008, 12, 1)
    assert around["change"] == pytest.approx(1.0)
    assert churn_around_events(proxy, EVENTS)["change"][0] is None  # rbn: no Oct/Dec 2007
    with pytest.raises(ValueError, match="relay_ip"):
        trap_churn(messages().select("day"))


def test_outage_days_per_window() -> None:
    days = calendar(D(2008, 6, 1), D(2009, 3, 31))
    daily = pl.DataFrame({"day": days, "count": 100, "covered": True}).with_columns(
        count=pl.when(pl.col("day").is_in([D(2008, 11, 20), D(2008, 12, 25)]))
        .then(10)
        .otherwise(pl.col("count")),
        covered=~pl.col("day").is_between(D(2009, 1, 1), D(2009, 1, 10)),
    )
    daily = daily.filter(pl.col("day") != D(2008, 9, 1))  # a day without a row
    out = {r["event_id"]: r for r in outage_days(daily, SPANS).iter_rows(named=True)}
    assert out["mccolo"]["n_days"] == 180
    assert out["mccolo"]["n_uncovered"] == 11  # 1-10 Jan and 1 Sep
    assert out["mccolo"]["n_outage"] == 2
    assert out["mccolo"]["outage_share"] == pytest.approx(2 / 169)
    assert out["mccolo"]["missing_share"] == pytest.approx(13 / 180)
    assert out["intercage"]["n_uncovered"] == 1 and out["intercage"]["n_outage"] == 1  # not 25 Dec
    assert out["rbn"]["n_uncovered"] == 180 and out["rbn"]["outage_share"] is None


def snapshots() -> pl.DataFrame:
    """Captures of one list: a failed one, two on one day, and a long gap over RBN's window."""
    times = [
        dt.datetime(2007, 6, 1),
        dt.datetime(2008, 9, 1),
        dt.datetime(2008, 9, 1, 12),
        dt.datetime(2008, 9, 11),
        dt.datetime(2008, 10, 1),
        dt.datetime(2008, 11, 20),
        dt.datetime(2008, 11, 15),
    ]
    return pl.DataFrame(
        {
            "list": "drop",
            "cdx_time": pl.Series(times).dt.replace_time_zone("UTC"),
            "status": ["ok"] * 6 + ["parse_error"],
        }
    )


def test_wayback_gaps_and_brackets() -> None:
    gaps = wayback_gaps(snapshots(), SPANS).row(0, named=True)
    assert gaps["n_captures"] == 5  # two captures on 1 Sep 2008 are one day; the failed one out
    # gaps: 1 Jun 2007 -> 1 Sep 2008 (458), 10, 20, 50 days
    assert gaps["max_gap_days"] == 458.0
    assert gaps["median_gap_days"] == 35.0
    assert gaps["events_without_capture"] == "rbn"
    assert gaps["share_windows_without_capture"] == pytest.approx(1 / 3)
    brackets = {
        r["event_id"]: r for r in wayback_brackets(snapshots(), SPANS).iter_rows(named=True)
    }
    assert brackets["mccolo"]["last_before"] == D(2008, 10, 1)
    assert brackets["mccolo"]["first_after"] == D(2008, 11, 20)
    assert brackets["mccolo"]["bracket_days"] == 50
    assert brackets["intercage"]["bracket_days"] == 20
    assert brackets["rbn"]["bracket_days"] == 458


def address_space(shift: float) -> pl.DataFrame:
    """Daily routed space with a weekly wiggle, ``shift`` x the level from 27 Mar 2008 (rv2)."""
    days = calendar(D(2008, 3, 1), D(2008, 4, 30))
    wiggle = np.tile([0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0], 9)[: days.len()] * 1e6
    after = (days >= D(2008, 3, 27)).to_numpy()
    values = 2.0e9 * (1 + shift * after) + wiggle
    return pl.DataFrame(
        {
            "day": days,
            "addresses": values.astype(np.int64),
            "collector": np.where(after, "rv2", "oix"),
        }
    )


def test_pfx2as_level_shift() -> None:
    space = address_space(0.02)
    assert collector_switch_day(space) == D(2008, 3, 27)
    row = pfx2as_level_shift(space).row(0, named=True)
    assert row["switch_day"] == D(2008, 3, 27) and row["n_before"] == row["n_after"] == 14
    assert row["relative_change"] == pytest.approx(0.02, abs=2e-4)
    assert row["ci_low"] < 0.02 < row["ci_high"] and row["ci_low"] > 0.018
    before = space.filter(pl.col("day").is_between(D(2008, 3, 13), D(2008, 3, 26)))["addresses"]
    after = space.filter(pl.col("day").is_between(D(2008, 3, 27), D(2008, 4, 9)))["addresses"]
    welch = stats.ttest_ind(after.to_numpy(), before.to_numpy(), equal_var=False)
    assert row["p_value"] == pytest.approx(welch.pvalue)
    assert row["mean_before"] == pytest.approx(before.mean())
    flat = pfx2as_level_shift(address_space(0.0), switch_day=D(2008, 3, 27)).row(0, named=True)
    assert flat["ci_low"] < 0 < flat["ci_high"] and flat["p_value"] > 0.5
    with pytest.raises(ValueError, match="never changes"):
        collector_switch_day(space.with_columns(collector=pl.lit("oix")))


def test_asrel_staleness() -> None:
    months = pl.DataFrame({"snapshot_date": [D(2008, m, 1) for m in range(6, 13)]})
    out = {r["event_id"]: r for r in asrel_staleness(months, SPANS).iter_rows(named=True)}
    mccolo = out["mccolo"]
    # window 13 Aug 2008 .. 8 Feb 2009, last snapshot 1 Dec 2008: 8 Feb is 69 days later
    assert mccolo["max_staleness_days"] == 69
    assert mccolo["n_days_between"] == 180 - 4  # 1 Sep, Oct, Nov, Dec
    assert mccolo["days_since_at_t0"] == 10 and mccolo["days_to_next_after_t0"] == 20
    assert out["intercage"]["max_staleness_days"] == 30  # the 31st of a month
    assert out["rbn"]["max_staleness_days"] is None and out["rbn"]["days_since_at_t0"] is None
    assert out["rbn"]["days_to_next_after_t0"] == (D(2008, 6, 1) - D(2007, 11, 7)).days


def test_overlapping_events() -> None:
    pairs = overlapping_events(SPANS)
    assert pairs.select("event_a", "event_b", "overlap_days").rows() == [
        ("intercage", "mccolo", 129)
    ]
    assert pairs["overlap_first"][0] == D(2008, 8, 13) and pairs["overlap_end"][0] == D(
        2008, 12, 20
    )
    month = overlapping_events(event_spans(EVENTS, pre_days=30, post_days=30))
    assert month["overlap_days"].to_list() == [9]  # 12 Oct .. 20 Oct 2008
    assert overlapping_events(event_spans(EVENTS, pre_days=20, post_days=20)).is_empty()


def test_threats_table_gathers_every_threat() -> None:
    daily = pl.DataFrame(
        {"day": calendar(D(2007, 6, 1), D(2009, 3, 31)), "count": 50, "covered": True}
    )
    table = threats_table(
        EVENTS,
        pre_days=90,
        post_days=90,
        daily=daily,
        spam_messages=messages().drop("recipient"),
        blocklist_snapshots=snapshots(),
        address_space=address_space(0.02),
        asrel_snapshots=pl.DataFrame({"snapshot_date": [D(2007, m, 1) for m in range(1, 13)]}),
        spam_exchangers=exchangers(),
    )
    assert table.schema == pl.Schema(THREATS_SCHEMA)
    threats = set(table["threat"])
    assert threats == {
        "trap_churn_around_t0",
        "trap_churn_monthly_median",
        "uncovered_days",
        "outage_days",
        "outage_share",
        "wayback_median_gap_days",
        "wayback_max_gap_days",
        "wayback_windows_without_capture",
        "wayback_bracket_days",
        "pfx2as_switch_level_shift",
        "asrel_max_staleness_days",
        "asrel_days_to_next_snapshot",
        "overlapping_windows",
        "trap_exchanger_share",
    }

    def value(threat: str, event: str | None = None) -> float | None:
        rows = table.filter(pl.col("threat") == threat)
        rows = rows.filter(pl.col("event_id") == event) if event else rows
        return rows["value"][0]

    assert value("outage_days", "mccolo") == 0.0 and value("uncovered_days", "rbn") == 0.0
    assert value("trap_churn_around_t0", "mccolo") == pytest.approx(1.0)
    notes = table.filter(pl.col("threat") == "trap_churn_monthly_median")["note"][0]
    assert "proxy" in notes
    assert value("wayback_max_gap_days") == 458.0
    assert value("wayback_bracket_days", "mccolo") == 50.0
    assert value("pfx2as_switch_level_shift") == pytest.approx(0.02, abs=2e-4)
    assert value("asrel_max_staleness_days", "rbn") == 65.0  # 4 Feb 2008 - 1 Dec 2007
    assert value("asrel_max_staleness_days", "mccolo") == 435.0  # 8 Feb 2009 - 1 Dec 2007
    assert value("overlapping_windows", "intercage") == 129.0
    assert value("trap_exchanger_share") == pytest.approx(0.95)  # Nov; Dec (thin) not judged
    notes = table.filter(pl.col("threat") == "trap_exchanger_share")["note"][0]
    assert "2008-11 (2008.7z)" in notes and "38 of 40" in notes
    only = threats_table(EVENTS, pre_days=20, post_days=20)
    assert only.is_empty() and only.columns == list(THREATS_SCHEMA)
