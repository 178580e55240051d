"""The curated, cited reference tables of the takedowns, loaded and validated.

Two committed CSV files under ``data/reference/`` hold what public reporting and a few public
datasets say about the events (see ``data/reference/README.md`` for the data dictionary):

* ``events.csv``: one row per fact (the networks, nominal cut-off times, upstream changes and
  known prefixes of each event; the events are whatever ids the table holds);
* ``published_figures.csv``: one row per spam-volume figure published at the time.

The loaders check every row and raise :class:`ReferenceTableError` with a one-line message
``<file>: row <n>, column '<name>': <problem>`` (``n`` is the 1-based data row; the header is
row 0), so a bad edit to a table fails loudly instead of skewing the analysis. The pipeline uses
the nominal cut-offs only as a starting point: it measures each event's timing from BGP data.
"""

from __future__ import annotations

import csv
import ipaddress
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

__all__ = [
    "BASELINES",
    "BOUNDS",
    "EVENTS_CSV",
    "EVENT_COLUMNS",
    "EVENT_ID_PATTERN",
    "FIGURES_CSV",
    "FIGURE_COLUMNS",
    "MEASURES",
    "POPULATIONS",
    "REFERENCE_DIR",
    "RESOLUTIONS",
    "UNITS",
    "ReferenceTableError",
    "event_asns",
    "load_events",
    "load_published_figures",
    "nominal_cutoffs",
    "table_path",
]

#: Directory of the committed reference tables (``<repository>/data/reference``).
REFERENCE_DIR: Final[Path] = Path(__file__).resolve().parents[2] / "data" / "reference"
EVENTS_CSV: Final[Path] = REFERENCE_DIR / "events.csv"
FIGURES_CSV: Final[Path] = REFERENCE_DIR / "published_figures.csv"

EVENT_COLUMNS: Final[tuple[str, ...]] = (
    "event_id",
    "event_name",
    "fact",
    "asn",
    "as_name",
    "role",
    "upstream_asn",
    "prefix",
    "time_local",
    "timezone",
    "time_utc",
    "time_precision",
    "description",
    "source_url",
    "derived_from",
)
FIGURE_COLUMNS: Final[tuple[str, ...]] = (
    "figure_id",
    "metric",
    "value",
    "value_low",
    "value_high",
    "unit",
    "period_start",
    "period_end",
    "event_id",
    "publisher",
    "via",
    "source_url",
    "quote",
    "note",
    "measure",
    "baseline",
    "bound",
    "resolution",
    "population",
)

#: An event id: lower-case letters, digits and underscores, starting with a letter. The
#: events are data: every id the table holds is an event, and every row of one id carries the
#: same ``event_name``.
EVENT_ID_PATTERN: Final = re.compile(r"^[a-z][a-z0-9_]*$")
#: ``published_figures.event_id`` of a figure that belongs to no event.
NO_EVENT: Final = "none"
#: Roles of an ASN in an event (``network`` and ``prefix`` rows).
NETWORK_ROLES: Final = ("target", "transit", "affiliate", "survivor", "successor")
#: The allowed ``role`` values for each ``fact``.
ROLES_BY_FACT: Final[Mapping[str, tuple[str, ...]]] = {
    "network": NETWORK_ROLES,
    "cutoff": ("primary", "secondary", "related"),
    "upstream_change": (
        "depeered",
        "terminated",
        "refused",
        "dropped",
        "new_upstream",
        "carried",
        "filtered",
        "restored",
        "path_seen",
    ),
    "prefix": NETWORK_ROLES,
}
TIME_PRECISIONS: Final = ("minute", "hour", "day", "approximate")
#: Units of ``published_figures.value``; the last two are for rows without a number.
UNITS: Final[Mapping[str, str]] = {
    "percent_change": "relative change in percent (-66.7 = fell by two thirds)",
    "percentage_point_change": "change of a percent share, in percentage points",
    "percent_of_pre_level": "level as percent of the pre-event level (100 = fully recovered)",
    "percent_share": "share in percent (of mail, of spam)",
    "count": "number of things (servers, bots, IP addresses)",
    "messages_per_second": "messages per second",
    "billion_messages_per_day": "10^9 messages per day",
    "rank": "a ranking, given in the note; value empty",
    "event": "a dated event, no number; value empty",
}
#: Units whose rows carry no ``value``.
NON_NUMERIC_UNITS: Final = frozenset({"rank", "event"})
#: What a figure counts (``published_figures.measure``).
MEASURES: Final[Mapping[str, str]] = {
    "spam_volume": "amount of spam (messages sent, seen or received)",
    "all_inbound_mail": "all mail arriving at a provider's servers, spam and legitimate",
    "spam_share_of_mail": "spam as a share of all e-mail",
    "share_of_spam": "a network's or botnet's share of all spam",
    "reported_spam_rate": "spam reported by users, per unit of time",
    "rank_of_sources": "a ranking of spam sources",
    "servers": "servers (e.g. botnet command-and-control servers)",
    "infected_hosts": "infected computers (bots)",
    "listed_addresses": "IP addresses on a blocklist",
    "event": "a dated event, nothing counted",
}
#: What a change is relative to (``published_figures.baseline``).
BASELINES: Final[Mapping[str, str]] = {
    "none": "a level, not a change",
    "pre_cutoff_level": "the level before the takedown (the source names no period)",
    "previous_day": "the day before",
    "previous_month": "the month before",
    "previous_year": "the year before",
    "october_2008_average": "the October 2008 daily average",
    "fall_2008": "'fall numbers' of 2008, period not stated",
    "november_2008": "November 2008, period not stated",
}
#: How ``value`` bounds the quantity (``published_figures.bound``).
BOUNDS: Final[Mapping[str, str]] = {
    "point": "a point estimate, also one given loosely ('about', 'almost', 'nearly')",
    "lower": "a lower bound on value ('over', 'at least'; a fall 'by as much as N' %: -N)",
    "upper": "an upper bound on value ('up to', 'less than')",
    "none": "no number (units rank and event)",
}
#: The time resolution the figure describes (``published_figures.resolution``).
RESOLUTIONS: Final = ("hours", "day", "week", "month", "year", "unstated")
#: Whose mail or what the figure is about (``published_figures.population``).
POPULATIONS: Final[Mapping[str, str]] = {
    "trap_spam": "spam received by spam traps",
    "global_estimate": "spam worldwide, as the source states ('around the world', 'sent')",
    "vendor_customers": "mail seen by the publisher's own filters, gateways or customers",
    "all_inbound_mail": "all mail reaching a provider, spam and legitimate",
    "user_reports": "spam that users reported",
    "hosts": "machines or addresses (servers, bots, listed IPs)",
    "none": "nothing counted (events)",
}

#: Inclusive date windows that times in each table must fall in.
EVENTS_WINDOW: Final = (date(2007, 1, 1), date(2009, 12, 31))
FIGURES_WINDOW: Final = (date(2007, 1, 1), date(2010, 12, 31))
#: How far ``time_local`` converted to UTC may be from ``time_utc``.
TIME_TOLERANCE: Final = timedelta(minutes=1)
_ASN_MAX: Final = 2**32 - 1

_DATE_RE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_LOCAL_RE: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?(?:[+-]\d{2}:\d{2}|Z)")
_UTC_RE: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?Z")
_METRIC_RE: Final = re.compile(r"[a-z][a-z0-9_]*")
_TIME_COLUMNS: Final = ("time_local", "timezone", "time_utc", "time_precision")

EVENTS_SCHEMA: Final[Mapping[str, pl.DataType]] = {
    "event_id": pl.String(),
    "event_name": pl.String(),
    "fact": pl.String(),
    "asn": pl.UInt32(),
    "as_name": pl.String(),
    "role": pl.String(),
    "upstream_asn": pl.UInt32(),
    "prefix": pl.String(),
    "time_local": pl.String(),
    "timezone": pl.String(),
    "time_utc": pl.Datetime("us", "UTC"),
    "time_precision": pl.String(),
    "description": pl.String(),
    "source_url": pl.String(),
    "derived_from": pl.String(),
    "date_utc": pl.Date(),
}
FIGURES_SCHEMA: Final[Mapping[str, pl.DataType]] = {
    "figure_id": pl.Int32(),
    "metric": pl.String(),
    "value": pl.Float64(),
    "value_low": pl.Float64(),
    "value_high": pl.Float64(),
    "unit": pl.String(),
    "period_start": pl.Date(),
    "period_end": pl.Date(),
    "event_id": pl.String(),
    "publisher": pl.String(),
    "via": pl.String(),
    "source_url": pl.String(),
    "quote": pl.String(),
    "note": pl.String(),
    "measure": pl.String(),
    "baseline": pl.String(),
    "bound": pl.String(),
    "resolution": pl.String(),
    "population": pl.String(),
}


class ReferenceTableError(ValueError):
    """A reference table is malformed; the message names the file, the row and the column."""


class _Row:
    """One data row of a reference table, with helpers that raise located errors."""

    def __init__(self, path: Path, number: int, values: Mapping[str, str]) -> None:
        self.path = path
        self.number = number
        self.values = values

    def error(self, column: str, problem: str) -> ReferenceTableError:
        """Return the error for ``problem`` in ``column`` of this row."""
        return _error(self.path, self.number, column, problem)

    def get(self, column: str) -> str | None:
        """The cell, or None when it is empty."""
        value = self.values[column]
        return value if value != "" else None

    def required(self, column: str) -> str:
        """The cell, which must not be empty."""
        value = self.get(column)
        if value is None:
            raise self.error(column, "must not be empty")
        return value

    def empty(self, column: str, why: str) -> None:
        """Require the cell to be empty, explaining ``why``."""
        if self.get(column) is not None:
            raise self.error(column, f"must be empty {why}, found {self.values[column]!r}")

    def enum(self, column: str, allowed: Sequence[str]) -> str:
        """The cell, which must be one of ``allowed``."""
        value = self.required(column)
        if value not in allowed:
            raise self.error(column, f"{value!r} is not one of {', '.join(allowed)}")
        return value

    def asn(self, column: str, *, required: bool) -> int | None:
        """The cell as an AS number (a plain decimal integer in 1 .. 2^32-1)."""
        value = self.required(column) if required else self.get(column)
        if value is None:
            return None
        if not value.isascii() or not value.isdigit():
            raise self.error(column, f"{value!r} is not an integer AS number")
        number = int(value)
        if not 0 < number <= _ASN_MAX:
            raise self.error(column, f"{number} is not an AS number (1 .. {_ASN_MAX})")
        return number

    def url(self, column: str) -> str:
        """The cell, which must be one absolute http(s) URL."""
        value = self.get(column)
        if value is None:
            raise self.error(column, "missing source URL")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or re.search(r"\s", value):
            raise self.error(column, f"{value!r} is not a single http(s) URL")
        return value

    def number_cell(self, column: str) -> float | None:
        """The cell as a finite float, or None when empty."""
        value = self.get(column)
        if value is None:
            return None
        try:
            number = float(value)
        except ValueError:
            raise self.error(column, f"{value!r} is not a number") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise self.error(column, f"{value!r} is not a finite number")
        return number

    def date_cell(self, column: str, window: tuple[date, date]) -> date:
        """The cell as an ISO date (``YYYY-MM-DD``) inside ``window``."""
        value = self.required(column)
        if not _DATE_RE.fullmatch(value):
            raise self.error(column, f"{value!r} is not an ISO date YYYY-MM-DD")
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise self.error(column, f"{value!r} is not a valid date") from None
        _check_window(self, column, day, window)
        return day


def _error(path: Path, row: int, column: str, problem: str) -> ReferenceTableError:
    row_text = "row 0 (header)" if row == 0 else f"row {row}"
    return ReferenceTableError(f"{path}: {row_text}, column {column!r}: {problem}")


def _check_window(row: _Row, column: str, day: date, window: tuple[date, date]) -> None:
    if not window[0] <= day <= window[1]:
        raise row.error(column, f"{day.isoformat()} is outside {window[0]} .. {window[1]}")


def _read_rows(path: Path, columns: Sequence[str]) -> list[_Row]:
    """Read a UTF-8 CSV file, check its header against ``columns`` and return its rows."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            raise _error(path, 0, columns[0], "the file is empty") from None
        except csv.Error as exc:
            raise _error(path, 0, columns[0], f"unreadable CSV: {exc}") from None
        unknown = [name for name in header if name not in columns]
        if unknown:
            raise _error(path, 0, unknown[0], "unknown column")
        missing = [name for name in columns if name not in header]
        if missing:
            raise _error(path, 0, missing[0], "missing column")
        if list(header) != list(columns):
            first = next(
                (i for i, (a, b) in enumerate(zip(header, columns, strict=False)) if a != b),
                len(columns),
            )
            raise _error(path, 0, header[first], "duplicate or misplaced column")
        rows: list[_Row] = []
        number = 0
        try:
            for number, cells in enumerate(reader, start=1):
                if len(cells) != len(columns):
                    column = columns[len(cells)] if len(cells) < len(columns) else "(extra)"
                    raise _error(
                        path, number, column, f"{len(cells)} fields, expected {len(columns)}"
                    )
                rows.append(_Row(path, number, dict(zip(columns, cells, strict=True))))
        except csv.Error as exc:
            raise _error(path, number + 1, columns[0], f"unreadable CSV: {exc}") from None
    return rows


# --------------------------------------------------------------------------- events


def _parse_times(row: _Row) -> tuple[datetime | None, date | None]:
    """Validate the four time columns of an events row; return (UTC instant, UTC date)."""
    present = [column for column in _TIME_COLUMNS if row.get(column) is not None]
    if not present:
        return None, None
    if len(present) != len(_TIME_COLUMNS):
        absent = next(column for column in _TIME_COLUMNS if column not in present)
        raise row.error(absent, "time_local, timezone, time_utc and time_precision go together")
    local_text, utc_text = row.required("time_local"), row.required("time_utc")
    zone_name = row.required("timezone")
    precision = row.enum("time_precision", TIME_PRECISIONS)
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise row.error("timezone", f"{zone_name!r} is not an IANA time zone name") from None

    if _DATE_RE.fullmatch(utc_text):
        utc_kind = "date"
    elif _UTC_RE.fullmatch(utc_text):
        utc_kind = "time"
    else:
        raise row.error(
            "time_utc", f"{utc_text!r} is neither YYYY-MM-DD nor YYYY-MM-DDTHH:MM[:SS]Z"
        )
    utc_time: datetime | None = None
    try:
        if utc_kind == "date":
            utc_date = date.fromisoformat(utc_text)
        else:
            utc_time = datetime.fromisoformat(utc_text)
            utc_date = utc_time.date()
    except ValueError:
        raise row.error("time_utc", f"{utc_text!r} is not a valid date or time") from None
    _check_window(row, "time_utc", utc_date, EVENTS_WINDOW)

    if _DATE_RE.fullmatch(local_text):
        local_kind = "date"
    elif _LOCAL_RE.fullmatch(local_text):
        local_kind = "time"
    else:
        raise row.error(
            "time_local", f"{local_text!r} is neither YYYY-MM-DD nor ISO 8601 with a UTC offset"
        )
    try:
        local_value: date | datetime = (
            date.fromisoformat(local_text)
            if local_kind == "date"
            else datetime.fromisoformat(local_text)
        )
    except ValueError:
        raise row.error("time_local", f"{local_text!r} is not a valid date or time") from None

    if local_kind != utc_kind:
        raise row.error(
            "time_utc",
            f"disagrees with time_local {local_text!r}: one is a date, the other a time of day",
        )
    if isinstance(local_value, datetime):
        assert utc_time is not None
        naive = local_value.replace(tzinfo=None)
        zone_offsets = {zone.utcoffset(naive.replace(fold=fold)) for fold in (0, 1)}
        if local_value.utcoffset() not in zone_offsets:
            raise row.error(
                "timezone",
                f"offset of time_local {local_text!r} is not that of {zone_name} at that time",
            )
        if abs(local_value.astimezone(UTC) - utc_time) > TIME_TOLERANCE:
            converted = local_value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            raise row.error(
                "time_utc",
                f"{utc_text!r} disagrees with time_local {local_text!r} (= {converted})",
            )
        if precision == "day":
            raise row.error("time_precision", "'day' needs plain dates, not times of day")
    else:
        if local_value != utc_date:
            raise row.error(
                "time_utc", f"{utc_text!r} disagrees with time_local {local_text!r} (dates differ)"
            )
        if precision in ("minute", "hour"):
            raise row.error("time_precision", f"{precision!r} needs a time of day, not a date")
    return utc_time, utc_date


def _validate_event(row: _Row) -> dict[str, object]:
    """Validate one events row and return it converted to Python values."""
    event_id = row.required("event_id")
    if not EVENT_ID_PATTERN.match(event_id) or event_id == NO_EVENT:
        raise row.error(
            "event_id",
            f"{event_id!r} is not an event id (lower-case letters, digits and '_', "
            f"starting with a letter; not {NO_EVENT!r})",
        )
    row.required("event_name")
    fact = row.enum("fact", tuple(ROLES_BY_FACT))
    role = row.enum("role", ROLES_BY_FACT[fact])
    asn = row.asn("asn", required=fact != "cutoff")
    upstream = row.asn("upstream_asn", required=False)
    if fact in ("network", "prefix"):
        row.empty("upstream_asn", f"in a {fact!r} row")
    prefix = row.get("prefix")
    if fact == "prefix":
        prefix = row.required("prefix")
        try:
            ipaddress.ip_network(prefix, strict=True)
        except ValueError as exc:
            raise row.error("prefix", f"{prefix!r} is not a network prefix ({exc})") from None
    else:
        row.empty("prefix", f"in a {fact!r} row")
    utc_time, utc_date = _parse_times(row)
    if fact == "cutoff" and utc_date is None:
        raise row.error("time_utc", "a cutoff row needs a time")
    if fact == "network" and utc_date is not None:
        raise row.error("time_utc", "must be empty in a 'network' row")
    row.required("description")
    derived = row.get("derived_from")
    if derived is not None and ("/" in derived or re.search(r"\s", derived)):
        raise row.error("derived_from", f"{derived!r} is not a bare file name")
    return {
        **{column: row.get(column) for column in EVENT_COLUMNS},
        "source_url": row.url("source_url"),
        "asn": asn,
        "upstream_asn": upstream,
        "role": role,
        "prefix": prefix,
        "time_utc": utc_time,
        "date_utc": utc_date,
    }


def _check_events_table(path: Path, rows: Sequence[_Row], records: Sequence[dict]) -> None:
    """Checks across rows: one primary cut-off with a time per event, consistent networks."""
    networks: dict[tuple[str, int], tuple[str, int]] = {}
    primaries: dict[str, int] = {}
    names: dict[str, tuple[str, int]] = {}
    for row, record in zip(rows, records, strict=True):
        event, fact, role = record["event_id"], record["fact"], record["role"]
        name, first = names.setdefault(event, (record["event_name"], row.number))
        if record["event_name"] != name:
            raise row.error(
                "event_name", f"{record['event_name']!r}, but {event!r} is {name!r} in row {first}"
            )
        if fact == "network":
            key = (event, record["asn"])
            if key in networks:
                raise row.error(
                    "asn",
                    f"AS{record['asn']} already listed for {event!r} in row {networks[key][1]}",
                )
            networks[key] = (role, row.number)
        elif fact == "cutoff" and role == "primary":
            if event in primaries:
                raise row.error(
                    "role", f"second primary cutoff for {event!r} (first in row {primaries[event]})"
                )
            if record["time_utc"] is None:
                raise row.error("time_utc", "a primary cutoff needs a time of day, not a date")
            primaries[event] = row.number
    for event in names:
        if event not in primaries:
            raise ReferenceTableError(f"{path}: column 'role': no primary cutoff for {event!r}")
    for row, record in zip(rows, records, strict=True):
        if record["fact"] != "prefix":
            continue
        network = networks.get((record["event_id"], record["asn"]))
        if network is None:
            raise row.error("asn", f"AS{record['asn']} has no 'network' row for this event")
        if network[0] != record["role"]:
            raise row.error(
                "role",
                f"{record['role']!r} but AS{record['asn']} is a {network[0]!r} (row {network[1]})",
            )


def load_events(path: str | Path | None = None) -> pl.DataFrame:
    """Load and validate ``events.csv`` (default: the committed table).

    Returns one row per fact with the CSV's columns plus ``date_utc``: ``asn`` and
    ``upstream_asn`` are ``UInt32``; ``time_utc`` is ``Datetime("us", "UTC")`` for rows that
    give a time of day and null for day-only rows; ``date_utc`` (``Date``) is the UTC date of
    every row with a time (for day-only rows, the date as reported); ``time_local`` stays text
    because its offsets differ between rows. Raises :class:`ReferenceTableError` on any problem.
    """
    path = Path(path) if path is not None else EVENTS_CSV
    rows = _read_rows(path, EVENT_COLUMNS)
    records = [_validate_event(row) for row in rows]
    _check_events_table(path, rows, records)
    return _frame(records, EVENTS_SCHEMA)


# --------------------------------------------------------------------------- figures


def _validate_figure(row: _Row) -> dict[str, object]:
    """Validate one published-figures row and return it converted to Python values."""
    raw_id = row.required("figure_id")
    if not raw_id.isascii() or not raw_id.isdigit() or not 0 < int(raw_id) < 2**31:
        raise row.error("figure_id", f"{raw_id!r} is not a positive integer")
    metric = row.required("metric")
    if not _METRIC_RE.fullmatch(metric):
        raise row.error("metric", f"{metric!r} is not a snake_case identifier")
    unit = row.enum("unit", tuple(UNITS))
    value = row.number_cell("value")
    low = row.number_cell("value_low")
    high = row.number_cell("value_high")
    if unit in NON_NUMERIC_UNITS:
        for column in ("value", "value_low", "value_high"):
            row.empty(column, f"for unit {unit!r}")
    elif value is None:
        raise row.error("value", f"must not be empty for unit {unit!r}")
    if low is not None and high is not None and low > high:
        raise row.error("value_low", f"{low:g} is greater than value_high {high:g}")
    if value is not None and low is not None and value < low:
        raise row.error("value", f"{value:g} is below value_low {low:g}")
    if value is not None and high is not None and value > high:
        raise row.error("value", f"{value:g} is above value_high {high:g}")
    start = row.date_cell("period_start", FIGURES_WINDOW)
    end = row.date_cell("period_end", FIGURES_WINDOW)
    if end < start:
        raise row.error("period_end", f"{end} is before period_start {start}")
    event_id = row.required("event_id")
    if not EVENT_ID_PATTERN.match(event_id):
        raise row.error("event_id", f"{event_id!r} is not an event id (or {NO_EVENT!r})")
    row.required("publisher")
    row.required("quote")
    _check_semantics(row, unit, low, high)
    return {
        **{column: row.get(column) for column in FIGURE_COLUMNS},
        "figure_id": int(raw_id),
        "value": value,
        "value_low": low,
        "value_high": high,
        "period_start": start,
        "period_end": end,
        "source_url": row.url("source_url"),
    }


def _check_semantics(row: _Row, unit: str, low: float | None, high: float | None) -> None:
    """Validate measure, baseline, bound, resolution and population, and their agreement.

    ``bound`` must match the bound columns: ``lower`` needs ``value_low`` alone, ``upper``
    ``value_high`` alone, ``point`` neither, and ``none`` is exactly the rows without a value.
    """
    measure = row.enum("measure", tuple(MEASURES))
    row.enum("baseline", tuple(BASELINES))
    bound = row.enum("bound", tuple(BOUNDS))
    row.enum("resolution", RESOLUTIONS)
    population = row.enum("population", tuple(POPULATIONS))
    if (measure == "event") != (unit == "event"):
        raise row.error("measure", f"{measure!r} does not fit unit {unit!r}")
    if (population == "none") != (measure == "event"):
        raise row.error("population", f"{population!r} does not fit measure {measure!r}")
    expected = (
        "none"
        if unit in NON_NUMERIC_UNITS
        else "lower"
        if low is not None and high is None
        else "upper"
        if high is not None and low is None
        else "point"
    )
    if bound != expected:
        raise row.error("bound", f"{bound!r} disagrees with value_low/value_high ({expected!r})")


def load_published_figures(
    path: str | Path | None = None, events: str | Path | None = None
) -> pl.DataFrame:
    """Load and validate ``published_figures.csv`` (default: the committed table).

    Returns one row per published figure: ``figure_id`` is ``Int32``, ``value``,
    ``value_low`` and ``value_high`` are ``Float64`` (null when empty), ``period_start`` and
    ``period_end`` are ``Date``, the rest text. Every ``event_id`` is an event of the events
    table ``events`` (default: the committed one) or ``none``. Raises
    :class:`ReferenceTableError` on any problem.
    """
    path = Path(path) if path is not None else FIGURES_CSV
    rows = _read_rows(path, FIGURE_COLUMNS)
    records = [_validate_figure(row) for row in rows]
    known = set(load_events(events)["event_id"]) | {NO_EVENT}
    seen: dict[int, int] = {}
    for row, record in zip(rows, records, strict=True):
        if record["event_id"] not in known:
            raise row.error(
                "event_id", f"{record['event_id']!r} is no event of the events table ({events})"
            )
        figure_id = record["figure_id"]
        assert isinstance(figure_id, int)
        if figure_id in seen:
            raise row.error("figure_id", f"{figure_id} already used in row {seen[figure_id]}")
        seen[figure_id] = row.number
    return _frame(records, FIGURES_SCHEMA)


def _frame(
    records: Sequence[Mapping[str, object]], schema: Mapping[str, pl.DataType]
) -> pl.DataFrame:
    """Build a DataFrame with exactly ``schema`` from validated records."""
    columns: dict[str, list[object]] = {name: [r[name] for r in records] for name in schema}
    return pl.DataFrame(columns, schema=dict(schema), strict=True)


# --------------------------------------------------------------------------- queries


def check_config_events(config: Mapping[str, Any]) -> None:
    """Refuse a configured event that disagrees with the events table (config
    ``reference.events``) about its name or its nominal cut-off, naming the config key; an
    event the table does not hold is allowed (it is analysed without reference rows). Also
    refuses a table that does not load, naming the file."""
    from takedowns.config import ConfigError, parse_utc

    path = table_path(config, "events")
    try:
        table = load_events(path)
    except (ReferenceTableError, OSError) as error:
        raise ConfigError(f"config key 'reference.events': {error}") from None
    primary = table.filter((pl.col("fact") == "cutoff") & (pl.col("role") == "primary"))
    rows = {r["event_id"]: r for r in primary.iter_rows(named=True)}
    for event_id, spec in config["events"].items():
        row = rows.get(event_id)
        if row is None:
            continue
        if spec["name"] != row["event_name"]:
            raise ConfigError(
                f"config key 'events.{event_id}.name': {spec['name']!r}, but {path} names it "
                f"{row['event_name']!r}"
            )
        when = parse_utc(spec["nominal_cutoff"], f"events.{event_id}.nominal_cutoff")
        if when != row["time_utc"]:
            raise ConfigError(
                f"config key 'events.{event_id}.nominal_cutoff': {spec['nominal_cutoff']!r}, but "
                f"the primary cut-off in {path} is {row['time_utc']:%Y-%m-%dT%H:%MZ}"
            )


def table_path(config: Mapping[str, Any], table: str) -> Path:
    """The path of the reference table config ``reference.<table>`` names (``events`` or
    ``published_figures``), relative to the repository unless absolute."""
    value = Path(config["reference"][table])
    return value if value.is_absolute() else REFERENCE_DIR.parents[1] / value


def nominal_cutoffs(path: str | Path | None = None) -> dict[str, datetime]:
    """Each event's primary (nominal) cut-off as a tz-aware UTC datetime, keyed by event_id.

    These are the press-reported times; the pipeline measures the real t0 from BGP data.
    """
    events = load_events(path).filter((pl.col("fact") == "cutoff") & (pl.col("role") == "primary"))
    result: dict[str, datetime] = {}
    for event_id, instant in events.select("event_id", "time_utc").iter_rows():
        result[event_id] = instant.astimezone(UTC)
    return result


def event_asns(role: str = "target", path: str | Path | None = None) -> dict[str, list[int]]:
    """The ASNs listed with ``role`` in each event's ``network`` rows, in table order.

    Every event_id of the table is a key, with an empty list when it has no such ASN.
    """
    if role not in NETWORK_ROLES:
        raise ValueError(f"role must be one of {', '.join(NETWORK_ROLES)}, not {role!r}")
    events = load_events(path)
    result: dict[str, list[int]] = {
        event_id: [] for event_id in events["event_id"].unique(maintain_order=True)
    }
    networks = events.filter((pl.col("fact") == "network") & (pl.col("role") == role))
    for event_id, asn in networks.select("event_id", "asn").iter_rows():
        result[event_id].append(int(asn))
    return result
