"""analysis/spam_event_daily.sql centres each event's calendar on its measured t0
(results/tables/event_cutoffs.csv), says which t0 it used, and still reaches the nominal one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl

from takedowns.analysis.duckdb_runner import view_definition

ANALYSIS = Path(__file__).resolve().parents[1] / "analysis"
UTC = dt.UTC
NOMINAL = dt.datetime(2008, 11, 11, 22, 0, tzinfo=UTC)
MEASURED = dt.datetime(2008, 11, 13, 1, 0, tzinfo=UTC)  # two calendar days later


def _fixture(root: Path, t0_source: str) -> duckdb.DuckDBPyConnection:
    processed = root / "data" / "processed"
    (processed / "spam_messages").mkdir(parents=True)
    pl.DataFrame(
        {
            "event_id": ["mccolo"],
            "event_name": ["McColo"],
            "nominal_cutoff": [NOMINAL],
            "pre_days": [3],
            "post_days": [[2, 4]],
            "max_post_days": [4],
        },
        schema_overrides={
            "pre_days": pl.Int32,
            "post_days": pl.List(pl.Int32),
            "max_post_days": pl.Int32,
        },
    ).write_parquet(processed / "events.parquet")
    pl.DataFrame(
        {"stage": ["spamtrap"], "status": ["ok"], "source_file": ["untroubled/2008.7z"]}
    ).write_parquet(processed / "qc_files.parquet")
    days = [dt.date(2008, 11, d) for d in (9, 12, 13, 13, 16)]
    pl.DataFrame({"day": days, "relay_status": ["ok"] * len(days)}).write_parquet(
        processed / "spam_messages" / "2008.parquet"
    )
    tables = root / "results" / "tables"
    tables.mkdir(parents=True)
    t0 = MEASURED if t0_source == "measured" else NOMINAL
    pl.DataFrame({"event_id": ["mccolo"], "t0": [t0], "t0_source": [t0_source]}).write_csv(
        tables / "event_cutoffs.csv"
    )
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    for name in ("events", "qc_files", "spam_messages", "event_t0"):
        con.execute(
            view_definition(ANALYSIS / "views.sql", name).replace("'data/", f"'{root}/data/")
        )
    return con


def _calendar(root: Path, t0_source: str) -> pl.DataFrame:
    con = _fixture(root, t0_source)
    sql = (ANALYSIS / "spam_event_daily.sql").read_text().replace("'results/", f"'{root}/results/")
    return con.sql(sql).pl()


def test_the_calendar_is_centred_on_the_measured_t0(tmp_path: Path) -> None:
    got = _calendar(tmp_path, "measured")
    assert set(got["t0_source"]) == {"measured"}
    # [min(nominal, t0) - 3 days, max(nominal, t0) + 4 days): 8 to 16 Nov
    assert got["day"].min() == dt.date(2008, 11, 8) and got["day"].max() == dt.date(2008, 11, 16)
    by_day = {r["day"]: r for r in got.iter_rows(named=True)}
    t0_day = by_day[dt.date(2008, 11, 13)]
    assert t0_day["days_from_t0"] == 0 and t0_day["days_from_nominal_cutoff"] == 2
    assert t0_day["count"] == 2 and t0_day["covered"]
    assert by_day[dt.date(2008, 11, 10)]["count"] == 0  # a covered day without mail


def test_without_a_measured_t0_the_nominal_one_is_used_and_said(tmp_path: Path) -> None:
    got = _calendar(tmp_path, "nominal")
    assert set(got["t0_source"]) == {"nominal"}
    assert (got["days_from_t0"] == got["days_from_nominal_cutoff"]).all()
    assert got["day"].min() == dt.date(2008, 11, 8) and got["day"].max() == dt.date(2008, 11, 14)
