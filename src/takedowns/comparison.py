"""Our spam-trap estimates beside the published figures that measure the same thing.

For every published figure of a configured event (``data/reference/published_figures.csv``):

* ``percent_change`` (e.g. IronPort's "almost 2/3" drop on 11 Nov 2008): our estimate is the
  mean daily trap count over the figure's period relative to the pre-window mean, in percent;
* ``percent_of_pre_level`` (e.g. Symantec's 91 % in March 2009): the same ratio, as a level;
* any other unit (a share of all e-mail, messages per second, a count of servers, a date),
  or a change against another baseline (``..._since_...``, e.g. the rebound "since
  November"), measures a different thing: the row is kept with that note and no estimate.

A period that starts on the cut-off day uses the days after it (the cut-off day mixes both
sides); a period outside the analysed window, or with uncovered days only, gets no estimate
and says why. Published figures are global or per-vendor volumes, ours is one trap: the
``note`` column says so, and differences are descriptive, not tests.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

COMPARABLE_UNITS = {"percent_change", "percent_of_pre_level"}


def _period_ratio(
    daily: pl.DataFrame, t0: dt.date, start: dt.date, end: dt.date, pre_days: int
) -> tuple[float | None, int, str]:
    """Mean covered daily count over [start, end] / pre-window mean; days used; note."""
    covered = daily.filter(pl.col("covered"))
    pre = covered.filter(
        pl.col("day").is_between(t0 - dt.timedelta(days=pre_days), t0, closed="left")
    )
    note = ""
    if start <= t0 <= end and end > t0:
        start, note = t0 + dt.timedelta(days=1), "period starts on the cut-off day: days after it"
    elif start <= t0 <= end:
        start = end = t0 + dt.timedelta(days=1)
        note = "the published figure is for the cut-off day: the day after it is used"
    period = covered.filter(pl.col("day").is_between(start, end))
    if pre.height == 0 or pre["count"].mean() == 0:
        return None, 0, "no covered pre-window days"
    if period.height == 0:
        return None, 0, "period outside the analysed window or not covered by the archives"
    return float(period["count"].mean() / pre["count"].mean()), period.height, note


def compare(
    published: pl.DataFrame,
    daily: pl.DataFrame,
    cutoffs: dict[str, dt.datetime],
    pre_days: int,
) -> pl.DataFrame:
    """One row per published figure of a configured event, with our estimate where comparable.

    ``daily``: event_id, day, count, covered (analysis/spam_event_daily.sql).
    """
    rows = []
    for fig in published.filter(pl.col("event_id").is_in(list(cutoffs))).iter_rows(named=True):
        row = {
            "figure_id": fig["figure_id"],
            "event_id": fig["event_id"],
            "publisher": fig["publisher"],
            "metric": fig["metric"],
            "unit": fig["unit"],
            "period_start": fig["period_start"],
            "period_end": fig["period_end"],
            "published_value": fig["value"],
            "our_estimate": None,
            "difference": None,
            "days_used": 0,
            "source_url": fig["source_url"],
        }
        if fig["unit"] not in COMPARABLE_UNITS or fig["value"] is None:
            row["note"] = f"measures a different thing ({fig['unit']}): not compared"
        elif "_since_" in fig["metric"]:
            row["note"] = "its baseline is not the pre-cut-off level: not compared"
        else:
            t0 = cutoffs[fig["event_id"]].date()
            series = daily.filter(pl.col("event_id") == fig["event_id"])
            ratio, used, note = _period_ratio(
                series, t0, fig["period_start"], fig["period_end"], pre_days
            )
            row["days_used"] = used
            if ratio is not None:
                ours = 100 * (ratio - 1) if fig["unit"] == "percent_change" else 100 * ratio
                row["our_estimate"] = round(ours, 1)
                row["difference"] = round(ours - fig["value"], 1)
            row["note"] = "; ".join(
                n for n in (note, "one spam trap's arrivals vs the publisher's own measure") if n
            )
        rows.append(row)
    schema = {
        "figure_id": pl.Int32,
        "event_id": pl.String,
        "publisher": pl.String,
        "metric": pl.String,
        "unit": pl.String,
        "period_start": pl.Date,
        "period_end": pl.Date,
        "published_value": pl.Float64,
        "our_estimate": pl.Float64,
        "difference": pl.Float64,
        "days_used": pl.Int32,
        "source_url": pl.String,
        "note": pl.String,
    }
    return pl.DataFrame(rows, schema=schema).sort("event_id", "figure_id")
