"""The committed reference tables load, say what the sources say, and bad edits are caught."""

from __future__ import annotations

import copy
import csv
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from takedowns import reference
from takedowns.reference import (
    EVENT_COLUMNS,
    EVENTS_CSV,
    FIGURE_COLUMNS,
    FIGURES_CSV,
    ReferenceTableError,
    event_asns,
    load_events,
    load_published_figures,
    nominal_cutoffs,
)

Table = list[dict[str, str]]


def read_table(path: Path) -> Table:
    """The committed table as a list of string dicts (the header is implied)."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def write_table(path: Path, columns: list[str], rows: Table) -> Path:
    """Write ``rows`` with header ``columns`` to ``path`` and return it."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def find(rows: Table, **where: str) -> int:
    """The 1-based data-row number of the first row matching all of ``where``."""
    for number, row in enumerate(rows, start=1):
        if all(row[key] == value for key, value in where.items()):
            return number
    raise AssertionError(f"no row with {where}")


def located(path: Path, row: int, column: str) -> str:
    """The regex for the start of a located error message."""
    row_text = "row 0 (header)" if row == 0 else f"row {row}"
    return rf"^{re.escape(str(path))}: {re.escape(row_text)}, column '{column}': "


# ------------------------------------------------------------------ the committed tables


@pytest.fixture(scope="module")
def events() -> pl.DataFrame:
    return load_events()


@pytest.fixture(scope="module")
def figures() -> pl.DataFrame:
    return load_published_figures()


def test_default_paths_are_in_the_repository(repo: Path) -> None:
    assert repo / "data" / "reference" / "events.csv" == EVENTS_CSV
    assert repo / "data" / "reference" / "published_figures.csv" == FIGURES_CSV
    assert EVENTS_CSV.is_file() and FIGURES_CSV.is_file()


def test_events_load_with_explicit_dtypes(events: pl.DataFrame) -> None:
    assert events.columns == [*EVENT_COLUMNS, "date_utc"]
    assert events.schema["asn"] == pl.UInt32
    assert events.schema["upstream_asn"] == pl.UInt32
    assert events.schema["time_utc"] == pl.Datetime("us", "UTC")
    assert events.schema["date_utc"] == pl.Date
    assert events.height == 126
    assert set(events["event_id"]) == {"rbn", "intercage", "mccolo"}
    assert set(events["fact"]) == {"network", "cutoff", "upstream_change", "prefix"}


def test_figures_load_with_explicit_dtypes(figures: pl.DataFrame) -> None:
    assert figures.columns == list(FIGURE_COLUMNS)
    assert figures.schema["figure_id"] == pl.Int32
    assert figures.schema["value"] == pl.Float64
    assert figures.schema["period_start"] == pl.Date
    assert figures["figure_id"].to_list() == list(range(1, 39))


def test_each_event_has_exactly_one_primary_cutoff(events: pl.DataFrame) -> None:
    primaries = events.filter((pl.col("fact") == "cutoff") & (pl.col("role") == "primary"))
    assert sorted(primaries["event_id"]) == ["intercage", "mccolo", "rbn"]
    assert primaries["time_utc"].null_count() == 0


def test_nominal_cutoffs() -> None:
    cutoffs = nominal_cutoffs()
    assert set(cutoffs) == {"rbn", "intercage", "mccolo"}
    assert all(
        t.utcoffset() is not None and t.utcoffset().total_seconds() == 0 for t in cutoffs.values()
    )
    assert cutoffs["mccolo"].date() == date(2008, 11, 11)
    assert cutoffs["mccolo"] == datetime(2008, 11, 11, 22, 0, tzinfo=UTC)
    assert cutoffs["rbn"] == datetime(2007, 11, 7, 3, 0, tzinfo=UTC)
    assert cutoffs["intercage"].date() == date(2008, 9, 21)


def test_target_asns() -> None:
    targets = event_asns()
    assert targets["mccolo"] == [26780]
    assert targets["intercage"] == [27595]
    assert 40989 in targets["rbn"]
    assert sorted(targets["rbn"]) == [28866, 40989, 41108, 41173, 41187, 41731]
    assert event_asns("survivor")["rbn"] == [20807]
    assert 43603 in event_asns("successor")["rbn"]
    assert event_asns("successor")["mccolo"] == []
    with pytest.raises(ValueError, match="role must be one of"):
        event_asns("victim")


def test_every_row_cites_an_http_url(events: pl.DataFrame, figures: pl.DataFrame) -> None:
    for table in (events, figures):
        urls = table["source_url"]
        assert urls.null_count() == 0
        assert urls.str.contains(r"^https?://[^\s/]+/?\S*$").all()


def test_local_derivations_cite_the_upstream_dataset(events: pl.DataFrame) -> None:
    derived = events.filter(pl.col("derived_from").is_not_null())
    assert derived.height > 0
    for name, url in derived.select("derived_from", "source_url").unique().iter_rows():
        stem = name.removesuffix(".gz").removesuffix(".txt").removesuffix(".dat")
        if name.startswith("ipasn_20080501"):
            assert url.endswith("/2008.05/RIBS/rib.20080501.0644.bz2")
        else:
            assert stem in url, (name, url)


def test_prefixes_match_the_2008_table(events: pl.DataFrame) -> None:
    prefixes = events.filter(pl.col("fact") == "prefix")
    counts = dict(prefixes.group_by("asn").len().iter_rows())
    assert counts[26780] == 3
    assert counts[27595] == 28
    mccolo = prefixes.filter(pl.col("asn") == 26780)
    assert sorted(mccolo["prefix"]) == ["208.66.192.0/22", "208.72.168.0/21", "208.72.173.0/24"]
    assert (mccolo["time_utc"] == datetime(2008, 5, 1, 6, 44, tzinfo=UTC)).all()
    assert "81.95.144.0/21" in events.filter(pl.col("asn") == 40989)["prefix"].to_list()


def test_mccolo_upstream_story(events: pl.DataFrame) -> None:
    mccolo = events.filter((pl.col("event_id") == "mccolo") & (pl.col("fact") == "upstream_change"))
    depeered = mccolo.filter(pl.col("role") == "depeered")
    assert sorted(depeered["upstream_asn"]) == [3549, 6939]
    restored = mccolo.filter(pl.col("role") == "restored")
    assert restored["upstream_asn"].to_list() == [1299]
    assert restored["date_utc"].to_list() == [date(2008, 11, 15)]


def test_published_figures_values(figures: pl.DataFrame) -> None:
    by_id = {row["figure_id"]: row for row in figures.iter_rows(named=True)}
    assert by_id[1]["value"] == pytest.approx(-66.7)
    assert by_id[1]["unit"] == "percent_change"
    assert by_id[27]["value"] == 91 and by_id[27]["unit"] == "percent_of_pre_level"
    assert by_id[35]["value"] is None and by_id[35]["unit"] == "event"
    assert by_id[5]["value"] == pytest.approx(64.1)
    assert by_id[10]["value_low"] == 70 and by_id[10]["value_high"] is None
    assert set(figures["unit"]) <= set(reference.UNITS)
    numeric = figures.filter(~pl.col("unit").is_in(list(reference.NON_NUMERIC_UNITS)))
    assert numeric["value"].null_count() == 0
    assert (figures["period_end"] >= figures["period_start"]).all()
    assert figures["period_start"].min() >= date(2007, 1, 1)
    assert figures["period_end"].max() <= date(2010, 12, 31)


@pytest.mark.realdata
def test_quotes_are_verbatim_from_the_source(realdata: Path, figures: pl.DataFrame) -> None:
    text = (realdata / "spam" / "published_figures.md").read_text(encoding="utf-8")
    text = text.replace('\\"', '"')
    for figure_id, quote in figures.select("figure_id", "quote").iter_rows():
        assert f'"{quote}"' in text, figure_id


@pytest.mark.realdata
def test_event_urls_come_from_the_sources(realdata: Path, events: pl.DataFrame) -> None:
    text = (realdata / "routing" / "facts.md").read_text(encoding="utf-8")
    text += (realdata / "spam" / "published_figures.md").read_text(encoding="utf-8")
    cited = events.filter(pl.col("derived_from").is_null())["source_url"].unique()
    for url in cited:
        assert url in text, url


# ------------------------------------------------------------------ broken copies: events


@pytest.fixture
def event_rows() -> Table:
    return read_table(EVENTS_CSV)


@pytest.fixture
def figure_rows() -> Table:
    return read_table(FIGURES_CSV)


def broken_events(tmp_path: Path, rows: Table, columns: list[str] | None = None) -> Path:
    return write_table(tmp_path / "events.csv", columns or list(EVENT_COLUMNS), rows)


def broken_figures(tmp_path: Path, rows: Table, columns: list[str] | None = None) -> Path:
    return write_table(tmp_path / "published_figures.csv", columns or list(FIGURE_COLUMNS), rows)


def test_events_unmodified_copy_loads(tmp_path: Path, event_rows: Table) -> None:
    assert load_events(broken_events(tmp_path, event_rows)).height == len(event_rows)


def test_events_unknown_column(tmp_path: Path, event_rows: Table) -> None:
    columns = [("asn_number" if c == "asn" else c) for c in EVENT_COLUMNS]
    rows = [{("asn_number" if k == "asn" else k): v for k, v in r.items()} for r in event_rows]
    path = broken_events(tmp_path, rows, columns)
    with pytest.raises(ReferenceTableError, match=located(path, 0, "asn_number") + "unknown"):
        load_events(path)


def test_events_missing_column(tmp_path: Path, event_rows: Table) -> None:
    columns = [c for c in EVENT_COLUMNS if c != "derived_from"]
    rows = [{k: v for k, v in r.items() if k != "derived_from"} for r in event_rows]
    path = broken_events(tmp_path, rows, columns)
    with pytest.raises(ReferenceTableError, match=located(path, 0, "derived_from") + "missing"):
        load_events(path)


def test_events_ragged_row(tmp_path: Path, event_rows: Table) -> None:
    path = broken_events(tmp_path, event_rows)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0]  # data row 3 loses derived_from
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ReferenceTableError, match=located(path, 3, "derived_from")):
        load_events(path)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("event_id", "Storm Worm"),
        ("event_id", "none"),
        ("fact", "rumour"),
        ("role", "victim"),
        ("time_precision", "second"),
        ("event_name", "McColo Corp."),
    ],
)
def test_events_value_out_of_vocabulary(
    tmp_path: Path, event_rows: Table, column: str, value: str
) -> None:
    number = find(event_rows, event_id="mccolo", fact="cutoff", role="primary")
    event_rows[number - 1][column] = value
    path = broken_events(tmp_path, event_rows)
    with pytest.raises(ReferenceTableError, match=located(path, number, column)):
        load_events(path)


def test_an_event_is_whatever_the_table_holds(tmp_path: Path, event_rows: Table) -> None:
    """A new event needs only its rows (a primary cut-off, its networks); no code names it."""
    base = dict.fromkeys(EVENT_COLUMNS, "")
    new = [
        {**base, "event_id": "storm_host", "event_name": "Storm Host", "fact": "cutoff",
         "role": "primary", "time_local": "2009-06-02T12:00+00:00", "timezone": "UTC",
         "time_utc": "2009-06-02T12:00:00Z", "time_precision": "hour",
         "description": "test event", "source_url": "https://example.org/storm"},
        {**base, "event_id": "storm_host", "event_name": "Storm Host", "fact": "network",
         "asn": "64496", "role": "target", "description": "test network",
         "source_url": "https://example.org/storm"},
    ]  # fmt: skip
    table = load_events(broken_events(tmp_path, [*event_rows, *new]))
    assert "storm_host" in set(table["event_id"])
    alone = tmp_path / "alone"
    alone.mkdir()
    with pytest.raises(ReferenceTableError, match="no primary cutoff for 'storm_host'"):
        load_events(broken_events(alone, [*event_rows, new[1]]))


def test_events_role_must_fit_the_fact(tmp_path: Path, event_rows: Table) -> None:
    number = find(event_rows, fact="network", asn="26780")
    event_rows[number - 1]["role"] = "primary"  # a cutoff role on a network row
    path = broken_events(tmp_path, event_rows)
    with pytest.raises(ReferenceTableError, match=located(path, number, "role") + "'primary'"):
        load_events(path)


@pytest.mark.parametrize(
    "url", ["", "ftp://example.org/x", "www.example.org/x", "http://a.org/x http://b.org/y"]
)
def test_events_bad_source_url(tmp_path: Path, event_rows: Table, url: str) -> None:
    number = find(event_rows, fact="network", asn="27595")
    event_rows[number - 1]["source_url"] = url
    path = broken_events(tmp_path, event_rows)
    with pytest.raises(ReferenceTableError, match=located(path, number, "source_url")):
        load_events(path)


@pytest.mark.parametrize(
    ("local", "utc"),
    [("2006-12-31T16:00-08:00", "2007-01-01T00:00:00Z"), ("2010-01-01", "2010-01-01")],
)
def test_events_time_outside_window(
    tmp_path: Path, event_rows: Table, local: str, utc: str
) -> None:
    number = find(event_rows, event_id="rbn", fact="cutoff", role="related")
    row = event_rows[number - 1]
    row.update(time_local=local, time_utc=utc, timezone="America/Los_Angeles")
    row["time_precision"] = "approximate"
    path = broken_events(tmp_path, event_rows)
    if utc.startswith("2007"):  # 2007-01-01T00:00Z is inside: the window is inclusive
        assert load_events(path).height == len(event_rows)
        row.update(time_local="2006-12-31T15:00-08:00", time_utc="2006-12-31T23:00:00Z")
        path = broken_events(tmp_path, event_rows)
    with pytest.raises(ReferenceTableError, match=located(path, number, "time_utc") + ".*outside"):
        load_events(path)


def test_events_local_and_utc_disagree(tmp_path: Path, event_rows: Table) -> None:
    number = find(event_rows, event_id="mccolo", fact="cutoff", role="primary")
    row = event_rows[number - 1]
    assert row["time_local"] == "2008-11-11T14:00-08:00"
    row["time_utc"] = "2008-11-11T22:00:59Z"  # within a minute: accepted
    assert load_events(broken_events(tmp_path, event_rows)).height == len(event_rows)
    row["time_utc"] = "2008-11-11T14:00:00Z"  # local time written as if UTC
    path = broken_events(tmp_path, event_rows)
    with pytest.raises(ReferenceTableError, match=located(path, number, "time_utc") + ".*disagree"):
        load_events(path)


def test_events_day_dates_disagree(tmp_path: Path, event_rows: Table) -> None:
    number = find(event_rows, event_id="rbn", fact="cutoff", role="related")
    event_rows[number - 1]["time_utc"] = "2007-11-05"
    assert event_rows[number - 1]["time_local"] == "2007-11-04"
    path = broken_events(tmp_path, event_rows)
    with pytest.raises(ReferenceTableError, match=located(path, number, "time_utc") + ".*disagree"):
        load_events(path)


def test_events_offset_must_match_timezone(tmp_path: Path, event_rows: Table) -> None:
    number = find(event_rows, event_id="mccolo", fact="cutoff", role="primary")
    row = event_rows[number - 1]
    row.update(time_local="2008-11-11T15:00-07:00")  # PDT in November: wrong for Los Angeles
    path = broken_events(tmp_path, event_rows)
    with pytest.raises(ReferenceTableError, match=located(path, number, "timezone")):
        load_events(path)


def test_events_time_precision_must_fit(tmp_path: Path, event_rows: Table) -> None:
    number = find(event_rows, event_id="rbn", fact="cutoff", role="related")
    event_rows[number - 1]["time_precision"] = "minute"
    path = broken_events(tmp_path, event_rows)
    with pytest.raises(ReferenceTableError, match=located(path, number, "time_precision")):
        load_events(path)


@pytest.mark.parametrize("column", ["asn", "upstream_asn"])
@pytest.mark.parametrize("value", ["AS26780", "26780.0", "-5", "4294967296"])
def test_events_non_integer_asn(tmp_path: Path, event_rows: Table, column: str, value: str) -> None:
    number = find(event_rows, event_id="mccolo", fact="upstream_change", role="restored")
    event_rows[number - 1][column] = value
    path = broken_events(tmp_path, event_rows)
    with pytest.raises(ReferenceTableError, match=located(path, number, column)):
        load_events(path)


def test_events_bad_prefix(tmp_path: Path, event_rows: Table) -> None:
    number = find(event_rows, fact="prefix", prefix="208.72.168.0/21")
    event_rows[number - 1]["prefix"] = "208.72.169.0/21"  # host bits set
    path = broken_events(tmp_path, event_rows)
    with pytest.raises(ReferenceTableError, match=located(path, number, "prefix")):
        load_events(path)


def test_events_second_primary_cutoff(tmp_path: Path, event_rows: Table) -> None:
    number = find(event_rows, event_id="intercage", fact="cutoff", role="secondary")
    event_rows[number - 1]["role"] = "primary"
    path = broken_events(tmp_path, event_rows)
    with pytest.raises(ReferenceTableError, match=located(path, number, "role") + "second"):
        load_events(path)


def test_events_missing_primary_cutoff(tmp_path: Path, event_rows: Table) -> None:
    number = find(event_rows, event_id="mccolo", fact="cutoff", role="primary")
    event_rows[number - 1]["role"] = "secondary"
    path = broken_events(tmp_path, event_rows)
    with pytest.raises(ReferenceTableError, match="no primary cutoff for 'mccolo'"):
        load_events(path)


def test_events_missing_time_fields(tmp_path: Path, event_rows: Table) -> None:
    number = find(event_rows, event_id="mccolo", fact="cutoff", role="primary")
    event_rows[number - 1]["timezone"] = ""
    path = broken_events(tmp_path, event_rows)
    with pytest.raises(ReferenceTableError, match=located(path, number, "timezone")):
        load_events(path)


# ------------------------------------------------------------------ broken copies: figures


def test_figures_unmodified_copy_loads(tmp_path: Path, figure_rows: Table) -> None:
    assert load_published_figures(broken_figures(tmp_path, figure_rows)).height == 38


def test_figures_unknown_column(tmp_path: Path, figure_rows: Table) -> None:
    columns = [*FIGURE_COLUMNS, "confidence"]
    rows = [{**r, "confidence": "high"} for r in figure_rows]
    path = broken_figures(tmp_path, rows, columns)
    with pytest.raises(ReferenceTableError, match=located(path, 0, "confidence") + "unknown"):
        load_published_figures(path)


@pytest.mark.parametrize(
    ("column", "value"), [("unit", "percent"), ("event_id", "storm"), ("event_id", "Storm!")]
)
def test_figures_value_out_of_vocabulary(
    tmp_path: Path, figure_rows: Table, column: str, value: str
) -> None:
    figure_rows[6][column] = value
    path = broken_figures(tmp_path, figure_rows)
    with pytest.raises(ReferenceTableError, match=located(path, 7, column)):
        load_published_figures(path)


@pytest.mark.parametrize("url", ["", "mailto:news@example.org", "same as #4"])
def test_figures_bad_source_url(tmp_path: Path, figure_rows: Table, url: str) -> None:
    figure_rows[4]["source_url"] = url
    path = broken_figures(tmp_path, figure_rows)
    with pytest.raises(ReferenceTableError, match=located(path, 5, "source_url")):
        load_published_figures(path)


@pytest.mark.parametrize(
    ("column", "value"),
    [("period_start", "2006-12-31"), ("period_end", "2011-01-01"), ("period_start", "Nov 2008")],
)
def test_figures_period_outside_window(
    tmp_path: Path, figure_rows: Table, column: str, value: str
) -> None:
    figure_rows[9][column] = value
    path = broken_figures(tmp_path, figure_rows)
    with pytest.raises(ReferenceTableError, match=located(path, 10, column)):
        load_published_figures(path)


def test_figures_period_end_before_start(tmp_path: Path, figure_rows: Table) -> None:
    row = figure_rows[1]
    assert (row["period_start"], row["period_end"]) == ("2008-10-01", "2008-10-31")
    row["period_end"] = "2008-09-30"
    path = broken_figures(tmp_path, figure_rows)
    with pytest.raises(ReferenceTableError, match=located(path, 2, "period_end") + ".*before"):
        load_published_figures(path)


def test_figures_low_above_high(tmp_path: Path, figure_rows: Table) -> None:
    figure_rows[6].update(value="-70", value_low="-60", value_high="-75")
    path = broken_figures(tmp_path, figure_rows)
    with pytest.raises(ReferenceTableError, match=located(path, 7, "value_low") + ".*greater"):
        load_published_figures(path)


def test_figures_value_outside_its_range(tmp_path: Path, figure_rows: Table) -> None:
    figure_rows[6].update(value="-80", value_low="-75", value_high="-65")
    path = broken_figures(tmp_path, figure_rows)
    with pytest.raises(ReferenceTableError, match=located(path, 7, "value") + ".*below"):
        load_published_figures(path)


@pytest.mark.parametrize(("figure", "value"), [(1, "about 2/3"), (1, ""), (35, "3"), (2, "nan")])
def test_figures_value_must_fit_unit(
    tmp_path: Path, figure_rows: Table, figure: int, value: str
) -> None:
    figure_rows[figure - 1]["value"] = value
    path = broken_figures(tmp_path, figure_rows)
    with pytest.raises(ReferenceTableError, match=located(path, figure, "value")):
        load_published_figures(path)


def test_figures_duplicate_id(tmp_path: Path, figure_rows: Table) -> None:
    figure_rows[11]["figure_id"] = "11"
    path = broken_figures(tmp_path, figure_rows)
    with pytest.raises(ReferenceTableError, match=located(path, 12, "figure_id") + ".*row 11"):
        load_published_figures(path)


@pytest.mark.parametrize("loader", [load_events, load_published_figures], ids=["events", "figures"])
def test_error_is_a_value_error_and_one_line(
    tmp_path: Path, loader: Callable[[Path], pl.DataFrame]
) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(ValueError) as info:
        loader(path)
    assert isinstance(info.value, ReferenceTableError)
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


# ------------------------------------------------------------------ what each figure measures


def test_figures_say_what_they_measure(figures: pl.DataFrame) -> None:
    by_id = {row["figure_id"]: row for row in figures.iter_rows(named=True)}
    semantics = ("measure", "baseline", "bound", "resolution", "population")
    assert tuple(by_id[1][c] for c in semantics) == (
        "spam_volume", "pre_cutoff_level", "point", "hours", "vendor_customers",
    )  # fmt: skip
    assert by_id[8]["measure"] == by_id[8]["population"] == "all_inbound_mail"
    assert by_id[11]["bound"] == "lower" and by_id[11]["value_low"] == -70
    assert by_id[23]["bound"] == "upper" and by_id[23]["value_high"] == 50
    assert by_id[3]["baseline"] == "october_2008_average"
    assert set(figures["bound"]) == set(reference.BOUNDS)
    assert set(figures["measure"]) <= set(reference.MEASURES)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("measure", "spam"),
        ("baseline", "last_week"),
        ("bound", "approximate"),
        ("resolution", "minute"),
        ("population", "everyone"),
    ],
)
def test_figures_semantics_out_of_vocabulary(
    tmp_path: Path, figure_rows: Table, column: str, value: str
) -> None:
    figure_rows[0][column] = value
    path = broken_figures(tmp_path, figure_rows)
    with pytest.raises(ReferenceTableError, match=located(path, 1, column) + f"'{value}' is not"):
        load_published_figures(path)


def test_figures_bound_must_match_the_bound_columns(tmp_path: Path, figure_rows: Table) -> None:
    figure_rows[10]["bound"] = "point"  # row 11 has value_low = -70: a lower bound
    path = broken_figures(tmp_path, figure_rows)
    with pytest.raises(ReferenceTableError, match=located(path, 11, "bound") + ".*'lower'"):
        load_published_figures(path)


def test_config_events_must_agree_with_the_table() -> None:
    from takedowns.config import ConfigError, load_config
    from takedowns.reference import check_config_events

    config = load_config()
    check_config_events(config)  # the study's config agrees with the committed table
    renamed = copy.deepcopy(config)
    renamed["events"]["mccolo"]["name"] = "McColo Corp."
    with pytest.raises(ConfigError, match=r"'events\.mccolo\.name'.*'McColo'"):
        check_config_events(renamed)
    moved = copy.deepcopy(config)
    moved["events"]["mccolo"]["nominal_cutoff"] = "2008-11-12T22:00Z"
    with pytest.raises(ConfigError, match=r"'events\.mccolo\.nominal_cutoff'.*2008-11-11T22:00Z"):
        check_config_events(moved)
    new = copy.deepcopy(config)
    new["events"]["storm_host"] = {
        "name": "Storm",
        "asns": [64496],
        "nominal_cutoff": "2009-06-02T12:00Z",
    }
    check_config_events(new)  # an event the table does not hold: no reference rows, allowed
    missing = copy.deepcopy(config)
    missing["reference"]["events"] = "/nonexistent/events.csv"
    with pytest.raises(ConfigError, match=r"'reference\.events'.*nonexistent"):
        check_config_events(missing)
