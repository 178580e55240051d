"""RIR delegated statistics: the country of each IPv4 delegation, one snapshot per month.

Each of the five registries (AFRINIC, APNIC, ARIN, LACNIC, RIPE NCC) publishes a daily
``delegated-<registry>-YYYYMMDD`` file in the RIR statistics exchange format::

    2|ripencc|20081101|85437|19830705|20081031|+0100        version line
    ripencc|*|ipv4|*|26873|summary                           summary lines
    ripencc|RU|ipv4|81.95.144.0|4096|20050405|allocated      records
    registry|cc|type|start|value|date|status[|extensions]

For ``ipv4`` the value is a count of addresses, not necessarily a power of two. ``#`` lines
are comments. :func:`read_delegated` keeps the allocated/assigned IPv4 records of one file;
:func:`build_ip_country` stacks monthly snapshots into the ``ip_country`` ranges table
(start_ip, end_ip, country, registry, status, valid_from, valid_to) that
:func:`takedowns.prefix2as.attribution.attribute_country` reads.

File layout: one snapshot per registry and month, the file nearest the 1st, **found, never
guessed**. Public scripts disagree on the archives' layouts (RIPE NCC under
``pub/stats/ripencc/<year>/`` or ``ripe/stats/<year>/``; LACNIC and AFRINIC flat or under
``archive/<year>/``; gz, bz2 or plain by registry and year), so the config gives candidate
directories per registry (``sources.rir_delegated.directories``, templates with ``{year}``)
and :func:`discover_delegated` reads every candidate's directory listing (a candidate the
archive answers 404/410 for is simply not there), keeps the names
``delegated-<registry>[-extended]-YYYYMMDD[.gz|.bz2]`` and picks the file dated nearest the 1st
of the month, fewer than ``max_age_days`` days away (:func:`pick_nearest`). The QC note of the
month names the URL used, the listings read and the candidates tried. The reader decides
compression by content (gzip, bzip2 or plain text), not by name.

A registry month whose file cannot be had (the archive answers 404 or 410,
:data:`NOT_THERE`) is not an error of its job: its table is empty and its QC status
``missing`` (:func:`missing_month_qc`). :func:`month_gaps` lists those months for the study
(``data/processed/qc/gaps/delegations.json``); past ``qc.max_missing_share`` the run stops.
"""

from __future__ import annotations

import bz2
import datetime as dt
import gzip
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from takedowns.errors import HTTPStatusError
from takedowns.ipv4 import address_to_int
from takedowns.qc import FileQC, MalformedInput, enforce_malformed_limit, gap_qc, read_qc
from takedowns.routing.listings import parse_listing

STAGE = "delegations"
#: The gap record's name: ``data/processed/qc/gaps/delegations.json``.
GAP_STAGE = "delegations"
#: HTTP answers that mean the archive does not have a registry's file for that month.
NOT_THERE = (404, 410)
REGISTRIES = ("afrinic", "apnic", "arin", "lacnic", "ripencc")
#: Default URL templates (see the module docstring: an assumption, overridable in config).
DELEGATED_STATUSES = ("allocated", "assigned")
#: Old RIPE NCC files write the United Kingdom as UK; ISO 3166 says GB.
COUNTRY_FIXES = {"UK": "GB"}

IP_COUNTRY_SCHEMA: dict[str, pl.DataType] = {
    "start_ip": pl.UInt32(),
    "end_ip": pl.UInt32(),
    "addresses": pl.UInt64(),
    "country": pl.String(),
    "registry": pl.String(),
    "status": pl.String(),
    "delegated_on": pl.Date(),
    "snapshot": pl.Date(),
    "valid_from": pl.Date(),
    "valid_to": pl.Date(),
}

_NAME_DATE = re.compile(r"delegated-([a-z]+)-(?:extended-)?(\d{8})")
#: A delegated file's name in a listing (checksum and signature files do not match).
DELEGATED_NAME = re.compile(
    r"^delegated-(?P<registry>[a-z]+)-(?P<extended>extended-)?(?P<date>\d{8})"
    r"(?:\.(?P<ext>gz|bz2))?$"
)
#: Among files of the same day: the standard file before the extended one, then by suffix.
COMPRESSION_ORDER = ("gz", "bz2", "")


def registry_months(
    config: Mapping[str, Any], months: Sequence[dt.date]
) -> list[tuple[str, dt.date]]:
    """(registry, month) for every configured registry and month (the month's 1st)."""
    registries = config["sources"]["rir_delegated"]["registries"]
    return [(reg, m.replace(day=1)) for m in months for reg in registries]


# --------------------------------------------------------------------------------------------
# Discovery: the file nearest the 1st, from the registries' directory listings


@dataclass(frozen=True)
class ListedFile:
    """One delegated file named in a directory listing."""

    url: str
    day: dt.date
    extended: bool
    compression: str  # "gz", "bz2" or "" (plain)
    listing_url: str


@dataclass(frozen=True)
class Discovery:
    """What :func:`discover_delegated` found for one registry month.

    ``chosen`` is None when no listed file lies fewer than ``max_age_days`` from the 1st (or no
    candidate listing exists): the month is then a gap. ``read`` are the listings that exist,
    ``absent`` the candidates the archive answered 404/410 for.
    """

    registry: str
    month: dt.date
    max_age_days: int
    chosen: ListedFile | None
    read: tuple[str, ...]
    absent: tuple[str, ...]
    nearest_outside: ListedFile | None = None

    @property
    def note(self) -> str:
        """One line for the QC note and the log: the URL used and the listings behind it."""
        listed = ", ".join(self.read) or "none"
        absent = ", ".join(self.absent) or "none"
        if self.chosen is not None:
            return (
                f"{self.chosen.url}: the file nearest {self.month:%Y-%m-%d} "
                f"(dated {self.chosen.day:%Y-%m-%d}); listings read: {listed}; "
                f"not there (HTTP 404/410): {absent}"
            )
        outside = (
            f"; nearest outside the window: {self.nearest_outside.url}"
            if self.nearest_outside is not None
            else ""
        )
        return (
            f"{self.registry} {self.month:%Y-%m}: no delegated file fewer than "
            f"{self.max_age_days} days from {self.month:%Y-%m-%d}; listings read: {listed}; "
            f"not there (HTTP 404/410): {absent}{outside}"
        )


def listing_urls(month: dt.date, directories: Sequence[str], max_age_days: int) -> list[str]:
    """The candidate listing URLs for ``month``: each directory template (``{year}``; a
    template without it is a flat folder) for every year the window ``month`` 1st
    ± ``max_age_days`` touches, in template order, without duplicates."""
    first = month.replace(day=1)
    span = dt.timedelta(days=max_age_days)
    years = range((first - span).year, (first + span).year + 1)
    out: list[str] = []
    for template in directories:
        if not template.endswith("/"):
            raise ValueError(f"{template!r}: a listing URL template must end with '/'")
        for year in years:
            url = template.format(year=f"{year:04d}")
            if url not in out:
                out.append(url)
    return out


def listed_files(page: str, listing_url: str, registry: str) -> list[ListedFile]:
    """The ``registry``'s delegated files a listing page names (other names are ignored).

    A page that names no entry at all is not a directory listing: an error naming the URL.
    """
    entries = parse_listing(page, listing_url)
    if entries.is_empty():
        raise MalformedInput(f"{listing_url}: not a directory listing (no entries found)")
    out = []
    for name, url in entries.select("name", "url").iter_rows():
        match = DELEGATED_NAME.match(name)
        if not match or match["registry"] != registry:
            continue
        try:
            day = dt.datetime.strptime(match["date"], "%Y%m%d").date()
        except ValueError:
            continue  # not a date: not a daily file
        out.append(ListedFile(url, day, bool(match["extended"]), match["ext"] or "", listing_url))
    return out


def _rank(month: dt.date, order: Sequence[str]) -> Callable[[ListedFile], tuple[Any, ...]]:
    first = month.replace(day=1)

    def key(f: ListedFile) -> tuple[Any, ...]:
        distance = abs((f.day - first).days)
        return (
            distance,
            f.day > first,  # a tie goes to the file before the 1st
            f.extended,
            COMPRESSION_ORDER.index(f.compression),
            order.index(f.listing_url),
        )

    return key


def pick_nearest(
    files: Sequence[ListedFile], month: dt.date, max_age_days: int, order: Sequence[str]
) -> tuple[ListedFile | None, ListedFile | None]:
    """(the file dated nearest the 1st of ``month``, fewer than ``max_age_days`` days away,
    else None; the nearest file outside that window, else None). Fewer, not at most: a file
    before the 1st then still covers the 1st under :func:`build_ip_country`'s validity rule.
    Ties: the earlier day, the standard file before the extended one, ``.gz`` before
    ``.bz2`` before plain, then listing order."""
    ranked = sorted(files, key=_rank(month, order))
    first = month.replace(day=1)
    inside = [f for f in ranked if abs((f.day - first).days) < max_age_days]
    outside = [f for f in ranked if abs((f.day - first).days) >= max_age_days]
    return (inside[0] if inside else None), (outside[0] if outside else None)


def read_listing(url: str, download: Callable[[str], Path]) -> str | None:
    """The listing page at ``url`` fetched with ``download`` (which returns the local file),
    or None when the archive answers 404/410 (:data:`NOT_THERE`); other errors propagate."""
    try:
        path = download(url)
    except HTTPStatusError as exc:
        if exc.status not in NOT_THERE:
            raise
        return None
    return Path(path).read_text(encoding="utf-8", errors="replace")


def discover_delegated(
    registry: str,
    month: dt.date,
    directories: Sequence[str],
    max_age_days: int,
    download: Callable[[str], Path],
) -> Discovery:
    """Find ``registry``'s delegated file for ``month`` in the listings at ``directories``
    (templates with ``{year}``, see :func:`listing_urls`), downloaded with ``download``.

    Every candidate listing is read (a file may sit in a year folder and a flat one); the
    file nearest the 1st, fewer than ``max_age_days`` days away, wins (:func:`pick_nearest`).
    """
    if registry not in REGISTRIES:
        raise ValueError(f"unknown registry {registry!r}; known: {', '.join(REGISTRIES)}")
    candidates = listing_urls(month, directories, max_age_days)
    files: list[ListedFile] = []
    read, absent = [], []
    for url in candidates:
        page = read_listing(url, download)
        if page is None:
            absent.append(url)
            continue
        read.append(url)
        files += listed_files(page, url, registry)
    chosen, outside = pick_nearest(files, month, max_age_days, candidates)
    return Discovery(
        registry,
        month.replace(day=1),
        max_age_days,
        chosen,
        tuple(read),
        tuple(absent),
        None if chosen else outside,
    )


def _text(path: Path, source: str) -> str:
    raw = Path(path).read_bytes()
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        elif raw[:3] == b"BZh":
            raw = bz2.decompress(raw)
    except (EOFError, OSError, zlib.error, ValueError) as exc:
        raise MalformedInput(f"{source}: truncated or corrupt compressed file ({exc})") from exc
    return raw.decode("utf-8", errors="replace")


def read_delegated(
    path: Path, source_file: str | None = None, *, max_malformed: int = 0
) -> tuple[pl.DataFrame, FileQC]:
    """The allocated/assigned IPv4 records of one delegated file, and its QC counts.

    Records of other types (asn, ipv6) and other statuses (available, reserved) are read
    but not kept (counted in the QC note). Malformed IPv4 records (field count, address,
    count, range past 255.255.255.255, date) are skipped by reason; more than
    ``max_malformed`` is an error naming the file. A file whose version line announces
    more records than it holds is truncated: an error.
    """
    source = source_file or str(path)
    name = _NAME_DATE.search(Path(source).name) or _NAME_DATE.search(Path(path).name)
    text = _text(Path(path), source)
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    qc = FileQC(stage=STAGE, source_file=source)
    if not lines:
        raise MalformedInput(f"{source}: empty delegated file (no version line)")
    version = lines[0].split("|")
    if len(version) < 7 or not version[0].strip().replace(".", "").isdigit():
        raise MalformedInput(f"{source}: first line is not a version line: {lines[0][:80]!r}")
    registry = version[1].strip().lower()
    announced = int(version[3]) if version[3].strip().isdigit() else None
    # The file named for day D describes the registry at the end of day D - 1 (its version
    # line's end date); the name's date is the snapshot date.
    try:
        snapshot = (
            dt.datetime.strptime(name[2], "%Y%m%d").date()
            if name
            else dt.datetime.strptime(version[5].strip(), "%Y%m%d").date() + dt.timedelta(days=1)
        )
    except ValueError as exc:
        raise MalformedInput(f"{source}: no snapshot date in its name or version line") from exc
    frame = pl.DataFrame({"line": lines[1:]}, schema={"line": pl.String})
    fields = pl.col("line").str.split("|")
    frame = frame.with_columns(
        n=fields.list.len(),
        f1=fields.list.get(1, null_on_oob=True).str.strip_chars(),
        kind=fields.list.get(2, null_on_oob=True).str.strip_chars().str.to_lowercase(),
        start_text=fields.list.get(3, null_on_oob=True).str.strip_chars(),
        value=fields.list.get(4, null_on_oob=True).str.strip_chars(),
        date_text=fields.list.get(5, null_on_oob=True).str.strip_chars(),
        status=fields.list.get(6, null_on_oob=True).str.strip_chars().str.to_lowercase(),
    )
    summary = frame.filter(pl.col("status").is_null() & (pl.col("date_text") == "summary"))
    records = frame.filter(~(pl.col("status").is_null() & (pl.col("date_text") == "summary")))
    qc.records_read = records.height
    if announced is not None and records.height < announced:
        raise MalformedInput(
            f"{source}: truncated delegated file: the version line announces {announced} "
            f"records, the file holds {records.height}"
        )
    count = pl.col("value").cast(pl.UInt64, strict=False)
    start = address_to_int(pl.col("start_text"))
    parsed = records.with_columns(start_ip=start, count=count).with_columns(
        delegated_on=pl.when(pl.col("date_text").str.contains(r"^\d{8}$")).then(
            pl.col("date_text").str.to_date("%Y%m%d", strict=False)
        ),
        reason=pl.when(pl.col("n") < 7)
        .then(pl.lit("field_count"))
        .when(pl.col("kind") != "ipv4")
        .then(None)
        .when(pl.col("start_ip").is_null())
        .then(pl.lit("bad_address"))
        .when(pl.col("count").is_null() | (pl.col("count") == 0))
        .then(pl.lit("bad_count"))
        .when(pl.col("start_ip").cast(pl.UInt64) + pl.col("count") > 2**32)
        .then(pl.lit("range_past_end"))
        .when(
            pl.col("date_text").str.contains(r"^\d{8}$")
            & (pl.col("date_text") != "00000000")
            & pl.col("date_text").str.to_date("%Y%m%d", strict=False).is_null()
        )
        .then(pl.lit("bad_date"))
        .otherwise(None),
    )
    bad = parsed.filter(pl.col("reason").is_not_null())
    examples: dict[str, str] = {}
    for reason, line in bad.group_by("reason").agg(pl.first("line")).iter_rows():
        qc.skip(reason, bad.filter(pl.col("reason") == reason).height)
        examples[reason] = repr(line)
    enforce_malformed_limit(qc, max_malformed, examples)
    good = parsed.filter(pl.col("reason").is_null())
    ipv4 = good.filter(pl.col("kind") == "ipv4")
    kept = ipv4.filter(pl.col("status").is_in(DELEGATED_STATUSES))
    cc = pl.col("f1").str.to_uppercase()
    out = kept.select(
        "start_ip",
        end_ip=(pl.col("start_ip").cast(pl.UInt64) + pl.col("count") - 1).cast(pl.UInt32),
        addresses=pl.col("count"),
        country=pl.when(cc.is_in(["", "*"])).then(None).otherwise(cc.replace(COUNTRY_FIXES)),
        registry=pl.lit(registry),
        status="status",
        delegated_on="delegated_on",
        snapshot=pl.lit(snapshot),
        valid_from=pl.lit(snapshot),
        valid_to=pl.lit(None, dtype=pl.Date),
    ).cast(IP_COUNTRY_SCHEMA)
    out = out.sort("start_ip", "end_ip")
    qc.records_kept = out.height
    others = ipv4.height - kept.height
    # Not malformed, but not kept either: counted as skipped, after the malformed-limit check.
    qc.skip("not_ipv4", good.height - ipv4.height)
    qc.skip("status_not_allocated_or_assigned", others)
    overlaps = overlapping_ranges(out)
    qc.note = (
        f"registry={registry} snapshot={snapshot} ipv4_kept={out.height} "
        f"ipv4_other_status={others} non_ipv4={good.height - ipv4.height} "
        f"summary_lines={summary.height} overlapping_ranges={overlaps}"
    )
    return out, qc


def overlapping_ranges(ranges: pl.DataFrame) -> int:
    """Ranges that overlap an earlier range (by start) of the same snapshot and registry."""
    if ranges.is_empty():
        return 0
    reach = pl.col("end_ip").cast(pl.Int64).cum_max().shift(1).over("snapshot", "registry")
    return int(
        ranges.sort("snapshot", "registry", "start_ip")
        .select((pl.col("start_ip").cast(pl.Int64) <= reach).sum())
        .item()
    )


def build_ip_country(snapshots: Sequence[pl.DataFrame], *, max_age_days: int) -> pl.DataFrame:
    """Stack per-file tables into ``ip_country`` with validity periods.

    A registry's snapshot is valid from its date to the day before that registry's next
    snapshot, and for at most ``max_age_days`` (so a missing month leaves a gap rather
    than stretching an old file).
    """
    frames = [s.cast(IP_COUNTRY_SCHEMA) for s in snapshots if s.height]
    if not frames:
        return pl.DataFrame(schema=IP_COUNTRY_SCHEMA)
    table = pl.concat(frames)
    dates = table.select("registry", "snapshot").unique().sort("registry", "snapshot")
    dates = dates.with_columns(
        next_snapshot=pl.col("snapshot").shift(-1).over("registry"),
    ).with_columns(
        until=pl.min_horizontal(
            pl.col("next_snapshot") - pl.duration(days=1),
            pl.col("snapshot") + pl.duration(days=max_age_days - 1),
        )
    )
    return (
        table.drop("valid_to")
        .join(dates.select("registry", "snapshot", valid_to="until"), on=["registry", "snapshot"])
        .select(list(IP_COUNTRY_SCHEMA))
        .cast(IP_COUNTRY_SCHEMA)
        .sort("snapshot", "registry", "start_ip")
    )


# --------------------------------------------------------------------------------------------
# Months that could not be had


def missing_month_qc(source_file: str, url: str) -> FileQC:
    """The QC record of a registry month whose file the archive does not have."""
    return FileQC(
        stage=STAGE,
        source_file=source_file,
        status="missing",
        note=f"{url}: not in the archive (HTTP 404/410); this registry month has no table",
    )


def empty_table() -> pl.DataFrame:
    """The (empty) table of a registry month without a file."""
    return pl.DataFrame(schema=IP_COUNTRY_SCHEMA)


def month_gaps(qc_paths: Sequence[Path]) -> tuple[FileQC, list[str]]:
    """The ``delegations`` gap record: registry months whose QC status is ``missing``.

    ``qc_paths`` are ``.../<registry>/<YYYYMM>.json``; items read ``<registry> <YYYY-MM>``.
    Returns the record and the missing items, in order.
    """
    expected, missing = [], []
    for path in sorted(Path(p) for p in qc_paths):
        item = f"{path.parent.name} {path.stem[:4]}-{path.stem[4:]}"
        expected.append(item)
        if read_qc(path).status == "missing":
            missing.append(item)
    return gap_qc(GAP_STAGE, expected, missing, unit="registry month"), missing
