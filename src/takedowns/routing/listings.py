"""Routing sources: which RIB dumps and update files the study needs, from directory listings.

RouteViews and RIPE RIS dump times are irregular in 2007-2009 (``rib.20080501.0644.bz2``), so
file names are never constructed: they come from each month's directory listing.

* RouteViews (``sources.routeviews.collectors``): ``<dir>/YYYY.MM/RIBS/`` and
  ``<dir>/YYYY.MM/UPDATES/``, Apache FancyIndex tables; RIBs ``rib.YYYYMMDD.HHMM.bz2``,
  updates ``updates.YYYYMMDD.HHMM.bz2`` every 15 minutes. ``<dir>`` is
  ``<url>/<layout>`` (:func:`routeviews_base`): ``<collector>/bgpdata`` for most collectors
  (``route-views.linx/bgpdata``), ``bgpdata`` for route-views2.
* RIPE RIS (``rrcNN``): ``<base>/rrcNN/YYYY.MM/``, nginx autoindex ``<pre>`` pages (older
  Apache tables parse too); dumps ``bview.YYYYMMDD.HHMM.gz``, updates every 5 minutes.

:func:`parse_listing` reads either page shape into (name, url, listed time, size);
:func:`listing_manifest` keeps the dump and update files with their collector, kind and file
time; :func:`select_ribs` picks one dump per selected day (the one closest to
``routing.rib_hour``) and :func:`select_updates` every update file within
``routing.update_window_hours`` of each event's nominal cut-off. Update files missing from
a window are an error naming the listing URL; RIB days without a dump are gaps that
:func:`rib_gaps` lists for the whole study (past ``qc.max_missing_share`` the run stops).
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin

import polars as pl

from takedowns.config import ConfigError
from takedowns.qc import FileQC, MalformedInput, gap_qc
from takedowns.sources.registry import raw_path
from takedowns.study import events, selected_days

#: Collector names by archive, as config/schema.yaml allows them (``route-views2``,
#: ``route-views.linx``; ``rrc00``): the name tells which archive a collector belongs to.
ROUTEVIEWS_NAME_RE = re.compile(r"^route-views(\d+|\.[a-z0-9]+(-[a-z0-9]+)*)$")
RIS_NAME_RE = re.compile(r"^rrc\d{2}$")
#: The gap record's name: ``data/processed/qc/gaps/routing.json``.
GAP_STAGE = "routing"
#: How long one update file covers, by archive.
UPDATE_PERIOD = {"routeviews": dt.timedelta(minutes=15), "ris": dt.timedelta(minutes=5)}
FILE_RE = re.compile(
    r"^(?P<prefix>rib|bview|updates)\.(?P<date>\d{8})\.(?P<hhmm>\d{4})\.(?P<ext>bz2|gz)$"
)
_ANCHOR_RE = re.compile(r'<a\s+href="(?P<href>[^"]+)"\s*>', re.IGNORECASE)
_TAG_RE = re.compile(r"<[^>]*>")
_ISO_TIME_RE = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2})")
_NGINX_TIME_RE = re.compile(r"(\d{2}-[A-Z][a-z]{2}-\d{4} \d{2}:\d{2})")
_SIZE_RE = re.compile(r"^([\d.]+)([KMGTP]?)$", re.IGNORECASE)

MANIFEST_SCHEMA: dict[str, pl.DataType] = {
    "collector": pl.String(),
    "kind": pl.String(),
    "name": pl.String(),
    "url": pl.String(),
    "file_time": pl.Datetime("us", "UTC"),
    "size_bytes": pl.Int64(),
    "listed_time": pl.Datetime("us", "UTC"),
    "listing_url": pl.String(),
}


def routing_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``routing`` config block (its defaults were filled from the schema at validation)."""
    return dict(config["routing"])


@dataclass(frozen=True)
class Listing:
    """One month directory listing: RouteViews ``RIBS/`` or ``UPDATES/``, or a RIS month."""

    collector: str
    archive: Literal["routeviews", "ris"]
    kind: Literal["rib", "updates", "all"]
    month: dt.date
    url: str

    @property
    def id(self) -> str:
        """A stable name for files about this listing: ``route-views2_rib_2008.11``."""
        return f"{self.collector}_{self.kind}_{self.month:%Y.%m}"

    @property
    def raw_path(self) -> str:
        """Where the downloaded listing page lives: ``data/raw/<host>/<path>/index.html``."""
        return raw_path(self.url)


def archive_of(collector: str) -> Literal["routeviews", "ris"]:
    """The archive a collector name belongs to: ``routeviews`` (``route-views2``,
    ``route-views.linx``) or ``ris`` (``rrc00``)."""
    if RIS_NAME_RE.match(collector):
        return "ris"
    if ROUTEVIEWS_NAME_RE.match(collector):
        return "routeviews"
    raise ValueError(
        f"{collector!r} is neither a RouteViews collector (route-views2, route-views.linx, ...) "
        "nor a RIPE RIS one (rrcNN)"
    )


def routeviews_base(config: Mapping[str, Any], collector: str) -> str:
    """The directory that holds ``collector``'s ``YYYY.MM/`` months: ``<url>/<layout>``, the
    layout being ``sources.routeviews.layouts[collector]`` if given, else
    ``sources.routeviews.layout``, with ``{collector}`` replaced by the name.

    ``http://archive.routeviews.org/bgpdata`` for route-views2,
    ``http://archive.routeviews.org/route-views.linx/bgpdata`` for route-views.linx.
    """
    rv = config["sources"]["routeviews"]
    url = rv["url"].rstrip("/")
    if url.endswith("/bgpdata"):
        raise ConfigError(
            f"config key 'sources.routeviews.url': {rv['url']!r} is a collector's directory; "
            "give the archive's root (http://archive.routeviews.org): each collector's "
            "directory below it comes from sources.routeviews.layout and .layouts"
        )
    layouts = rv.get("layouts") or {}
    layout = layouts.get(collector, rv["layout"])
    return f"{url}/{layout.strip('/').replace('{collector}', collector)}"


def routeviews_collectors(config: Mapping[str, Any]) -> list[str]:
    """The configured RouteViews collectors (``sources.routeviews.collectors``), after
    checking that no two of them share a directory (:func:`routeviews_base`)."""
    rv = config["sources"]["routeviews"]
    layouts = rv.get("layouts") or {}
    names = list(rv["collectors"])
    seen: dict[str, str] = {}
    for name in names:
        base = routeviews_base(config, name)
        if base in seen:
            other = seen[base]
            culprit = next((c for c in (name, other) if c in layouts), None)
            key = f"layouts.{culprit}" if culprit else "layout"
            raise ConfigError(
                f"config key 'sources.routeviews.{key}': collectors {other} and {name} "
                f"would both be read from {base}/; give each its own directory"
            )
        seen[base] = name
    return names


def listing_for(config: Mapping[str, Any], collector: str, kind: str, month: dt.date) -> Listing:
    """The listing that names ``kind`` files of ``collector`` for ``month``."""
    if archive_of(collector) == "routeviews":
        base = routeviews_base(config, collector)
        sub = "RIBS" if kind == "rib" else "UPDATES"
        return Listing(collector, "routeviews", kind, month, f"{base}/{month:%Y.%m}/{sub}/")  # type: ignore[arg-type]
    base = config["sources"]["ripe_ris"]["url"].rstrip("/")
    return Listing(collector, "ris", "all", month, f"{base}/{collector}/{month:%Y.%m}/")


def listing_by_id(config: Mapping[str, Any], listing_id: str) -> Listing:
    """The listing named ``listing_id`` (see :attr:`Listing.id`) among those the study needs."""
    known = {x.id: x for x in listings(config)}
    if listing_id not in known:
        raise ValueError(f"no routing listing {listing_id!r} in this study ({len(known)} known)")
    return known[listing_id]


def collectors(config: Mapping[str, Any]) -> list[str]:
    """The configured RouteViews collectors, then the configured RIS collectors (names only:
    the gap record reads no more of ``sources``)."""
    return [
        *config["sources"]["routeviews"]["collectors"],
        *config["sources"]["ripe_ris"].get("collectors", []),
    ]


def rib_days(config: Mapping[str, Any]) -> list[dt.date]:
    """Days that get one RIB per collector: the profile's selected days, every n-th."""
    every = int(routing_settings(config)["rib_every_days"])
    days = selected_days(config)
    return [d for i, d in enumerate(days) if i % every == 0]


def update_windows(config: Mapping[str, Any]) -> list[tuple[str, dt.datetime, dt.datetime]]:
    """(event_id, start, end) of the update windows: nominal cut-off ± update_window_hours."""
    hours = dt.timedelta(hours=float(routing_settings(config)["update_window_hours"]))
    return [
        (e.event_id, e.nominal_cutoff - hours, e.nominal_cutoff + hours) for e in events(config)
    ]


def _months(start: dt.datetime, end: dt.datetime) -> list[dt.date]:
    out, month = [], start.date().replace(day=1)
    while month <= end.date():
        out.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return out


def listings(config: Mapping[str, Any]) -> list[Listing]:
    """Every month listing the selection needs (RIB months and update-window months)."""
    rib_months = sorted({d.replace(day=1) for d in rib_days(config)})
    upd_months = sorted({m for _, s, e in update_windows(config) for m in _months(s, e)})
    out: dict[str, Listing] = {}
    routeviews_collectors(config)  # two collectors in one directory are a config error
    for collector in collectors(config):
        for kind, months in (("rib", rib_months), ("updates", upd_months)):
            for month in months:
                listing = listing_for(config, collector, kind, month)
                out[listing.id] = listing
    return sorted(out.values(), key=lambda x: (x.collector, x.kind, x.month))


# --------------------------------------------------------------------------------------------
# Listing pages


def _size_bytes(token: str) -> int | None:
    match = _SIZE_RE.match(token)
    if not match:
        return None
    scale = 1024 ** " KMGTP".index(match[2].upper() or " ")
    return round(float(match[1]) * scale)


def parse_listing(page: str, url: str) -> pl.DataFrame:
    """Entries of an Apache FancyIndex table, an Apache ``<pre>`` index or an nginx autoindex
    page: name (from the link), absolute url, listed_time (UTC) and size_bytes (the listing's
    rounded ``1.5G``/``12M``/``98K`` sizes, 1024-based; exact when a plain number).

    Links without a time next to them (column sorting, parent directory) are not entries.
    """
    anchors = list(_ANCHOR_RE.finditer(page))
    rows = []
    for i, match in enumerate(anchors):
        href = html.unescape(match["href"])
        if href.startswith(("?", "#", "/", "..")) or "://" in href:
            continue
        stop = anchors[i + 1].start() if i + 1 < len(anchors) else len(page)
        cell = page[match.end() : stop]
        for end_mark in ("</tr>", "\n"):
            cut = cell.find(end_mark, cell.find("</a>") + 4)
            if cut >= 0:
                cell = cell[:cut]
                break
        text = html.unescape(_TAG_RE.sub(" ", cell.split("</a>", 1)[-1]))
        iso, ngx = _ISO_TIME_RE.search(text), _NGINX_TIME_RE.search(text)
        if iso:
            listed = dt.datetime.strptime(iso[1], "%Y-%m-%d %H:%M")
            after = text[iso.end() :]
        elif ngx:
            listed = dt.datetime.strptime(ngx[1], "%d-%b-%Y %H:%M")
            after = text[ngx.end() :]
        else:
            continue
        tokens = after.split()
        size = _size_bytes(tokens[0]) if tokens else None
        rows.append(
            {
                "name": href.rstrip("/").rsplit("/", 1)[-1],
                "url": urljoin(url, href),
                "listed_time": listed.replace(tzinfo=dt.UTC),
                "size_bytes": size,
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "name": pl.String,
            "url": pl.String,
            "listed_time": pl.Datetime("us", "UTC"),
            "size_bytes": pl.Int64,
        },
    )


def listing_manifest(page: str, listing: Listing) -> pl.DataFrame:
    """The dump and update files of a listing page as a manifest (:data:`MANIFEST_SCHEMA`).

    Raises :class:`MalformedInput` naming the listing URL when the page lists none of the
    files this listing should hold (an error page, an empty or foreign directory).
    """
    entries = parse_listing(page, listing.url)
    parsed = entries.with_columns(m=pl.col("name").str.extract_groups(FILE_RE.pattern))
    wanted = {"rib": {"rib"}, "updates": {"updates"}, "all": {"bview", "updates"}}[listing.kind]
    ext = "gz" if listing.archive == "ris" else "bz2"
    files = parsed.filter(
        pl.col("m").struct.field("prefix").is_in(sorted(wanted))
        & (pl.col("m").struct.field("ext") == ext)
    )
    if files.height == 0:
        kinds = " or ".join(f"{w}.YYYYMMDD.HHMM.{ext}" for w in sorted(wanted))
        raise MalformedInput(
            f"{listing.url}: the directory listing names no {kinds} files "
            f"({entries.height} entries parsed); not a {listing.archive} month listing?"
        )
    out = files.select(
        pl.lit(listing.collector).alias("collector"),
        pl.when(pl.col("m").struct.field("prefix") == "updates")
        .then(pl.lit("updates"))
        .otherwise(pl.lit("rib"))
        .alias("kind"),
        "name",
        "url",
        (pl.col("m").struct.field("date") + pl.col("m").struct.field("hhmm"))
        .str.to_datetime("%Y%m%d%H%M", time_unit="us", time_zone="UTC")
        .alias("file_time"),
        "size_bytes",
        "listed_time",
        pl.lit(listing.url).alias("listing_url"),
    )
    return out.cast(MANIFEST_SCHEMA).unique("url", keep="first").sort("kind", "file_time")


def read_listing(path: Path, listing: Listing) -> pl.DataFrame:
    """:func:`listing_manifest` of a downloaded listing page."""
    return listing_manifest(Path(path).read_text(encoding="utf-8", errors="replace"), listing)


# --------------------------------------------------------------------------------------------
# Selection


def select_ribs(
    manifest: pl.DataFrame,
    days: Sequence[dt.date],
    rib_hour: float,
    *,
    allow_missing: bool = False,
) -> pl.DataFrame:
    """One dump per (collector, selected day): the one closest to ``rib_hour`` (UTC) on that
    day, the earlier one on a tie. A selected day without a dump is an error naming the
    listing URL of its month, unless ``allow_missing``."""
    ribs = manifest.filter(pl.col("kind") == "rib").with_columns(day=pl.col("file_time").dt.date())
    wanted = pl.DataFrame({"day": list(days)}, schema={"day": pl.Date})
    target = pl.col("day").cast(pl.Datetime("us")).dt.replace_time_zone("UTC") + pl.duration(
        minutes=round(rib_hour * 60)
    )
    chosen = (
        ribs.join(wanted, on="day", how="semi")
        .with_columns(distance=(pl.col("file_time") - target).abs())
        .sort("collector", "day", "distance", "file_time")
        .group_by("collector", "day", maintain_order=True)
        .first()
        .drop("distance")
    )
    if not allow_missing:
        _require_days(manifest, chosen, days)
    return chosen.sort("collector", "file_time")


def _require_days(manifest: pl.DataFrame, chosen: pl.DataFrame, days: Sequence[dt.date]) -> None:
    """Every (collector, day) whose month listing is in ``manifest`` must have a dump."""
    listed = manifest.select(
        "collector",
        "listing_url",
        month=pl.col("file_time").dt.date().dt.month_start(),
    ).unique()
    for collector, listing_url, month in listed.iter_rows():
        have = set(chosen.filter(pl.col("collector") == collector)["day"].to_list())
        missing = [d for d in days if d.replace(day=1) == month and d not in have]
        if (
            missing
            and manifest.filter(
                (pl.col("listing_url") == listing_url) & (pl.col("kind") == "rib")
            ).height
        ):
            shown = ", ".join(str(d) for d in missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise MalformedInput(
                f"{listing_url}: no {collector} RIB dump listed for {len(missing)} selected "
                f"day(s): {shown} (set routing.allow_missing_files: true to go on without them)"
            )


def update_period(collector: str) -> dt.timedelta:
    """How long one update file of ``collector`` covers (RIS 5 min, RouteViews 15 min)."""
    return UPDATE_PERIOD[archive_of(collector)]


def select_updates(
    manifest: pl.DataFrame,
    windows: Iterable[tuple[str, dt.datetime, dt.datetime]],
    *,
    allow_missing: bool = False,
) -> pl.DataFrame:
    """Every update file that overlaps a window ``(event_id, start, end)``, with the event id.

    A file named ``updates.YYYYMMDD.HHMM`` covers [HHMM, HHMM + period). Unless
    ``allow_missing``, a window must be covered without a gap of a whole hour, in every
    collector whose listings are in ``manifest``; otherwise the error names the listing URL.
    """
    updates = manifest.filter(pl.col("kind") == "updates")
    parts = []
    for event_id, start, end in windows:
        for collector in sorted(set(manifest["collector"].to_list())):
            period = update_period(collector)
            rows = updates.filter(
                (pl.col("collector") == collector)
                & (pl.col("file_time") < end)
                & (pl.col("file_time") + period > start)
            ).with_columns(event_id=pl.lit(event_id))
            if not allow_missing:
                _require_coverage(manifest, rows, collector, start, end, period)
            parts.append(rows)
    if not parts:
        return updates.with_columns(event_id=pl.lit(None, pl.String)).clear()
    return pl.concat(parts).sort("collector", "file_time")


def _require_coverage(
    manifest: pl.DataFrame,
    rows: pl.DataFrame,
    collector: str,
    start: dt.datetime,
    end: dt.datetime,
    period: dt.timedelta,
) -> None:
    listings_here = manifest.filter(
        (pl.col("collector") == collector) & (pl.col("kind") == "updates")
    )["listing_url"].unique()
    if listings_here.is_empty():
        return  # this manifest holds no update listing of the collector for these months
    times = sorted(rows["file_time"].to_list())
    edges = [start, *[t + period for t in times]]
    nexts = [*times, end]
    for covered_to, next_start in zip(edges, nexts, strict=True):
        if next_start - max(covered_to, start) >= dt.timedelta(hours=1):
            urls = ", ".join(sorted(listings_here.to_list()))
            raise MalformedInput(
                f"{urls}: no {collector} update files listed for "
                f"{max(covered_to, start):%Y-%m-%d %H:%M}..{next_start:%H:%M} UTC, inside the "
                f"update window {start:%Y-%m-%d %H:%M}..{end:%Y-%m-%d %H:%M} "
                "(set routing.allow_missing_files: true to go on without them)"
            )


def select_from_listing(
    page_path: Path, listing: Listing, config: Mapping[str, Any]
) -> pl.DataFrame:
    """The files of one downloaded listing that the study selects, with their raw paths.

    Dumps: one per selected day of the listing's month (a day without one is left out here
    and listed by :func:`rib_gaps`); updates: those inside the update windows. Returns
    :data:`MANIFEST_SCHEMA` plus ``event_id`` (null for dumps), ``day`` and ``raw_path``.
    """
    settings = routing_settings(config)
    manifest = read_listing(page_path, listing)
    allow = bool(settings["allow_missing_files"])
    parts = []
    if listing.kind in ("rib", "all"):
        days = [d for d in rib_days(config) if d.replace(day=1) == listing.month]
        if days:
            # A day without a dump is a gap for rib_gaps (qc.max_missing_share), not an error.
            ribs = select_ribs(manifest, days, float(settings["rib_hour"]), allow_missing=True)
            parts.append(ribs.with_columns(event_id=pl.lit(None, pl.String)))
    if listing.kind in ("updates", "all"):
        month_start = dt.datetime(listing.month.year, listing.month.month, 1, tzinfo=dt.UTC)
        month_end = (month_start + dt.timedelta(days=32)).replace(day=1)
        windows = [
            (eid, max(s, month_start), min(e, month_end))
            for eid, s, e in update_windows(config)
            if s < month_end and e > month_start
        ]
        if windows:
            ups = select_updates(manifest, windows, allow_missing=allow)
            parts.append(ups.with_columns(day=pl.col("file_time").dt.date()))
    columns = [*MANIFEST_SCHEMA, "event_id", "day"]
    if not parts:
        out = pl.DataFrame(schema={**MANIFEST_SCHEMA, "event_id": pl.String, "day": pl.Date})
    else:
        out = pl.concat([p.select(columns) for p in parts], how="vertical_relaxed")
    return out.with_columns(
        raw_path=pl.col("url").map_elements(raw_path, return_dtype=pl.String)
    ).sort("kind", "file_time")


def rib_gaps(selection: pl.DataFrame, config: Mapping[str, Any]) -> tuple[FileQC, list[str]]:
    """The ``routing`` gap record: (collector, RIB day) pairs without a selected dump.

    ``selection`` is :func:`read_selection` of every listing; expected are
    :func:`collectors` x :func:`rib_days`. Items read ``<collector> <YYYY-MM-DD>``. Returns
    the record and the missing items, in order.
    """
    ribs = selection.filter(pl.col("kind") == "rib")
    have = set(zip(ribs["collector"].to_list(), ribs["day"].to_list(), strict=True))
    pairs = [(c, d) for c in collectors(config) for d in rib_days(config)]
    expected = [f"{c} {d.isoformat()}" for c, d in pairs]
    missing = [f"{c} {d.isoformat()}" for c, d in pairs if (c, d) not in have]
    return gap_qc(GAP_STAGE, expected, missing, unit="RIB day"), missing


def normalized_name(row: Mapping[str, Any]) -> str:
    """``<collector>/<file name>``: where a selected file's tables go under data/processed."""
    return f"{row['collector']}/{row['name']}"


SELECTION_SCHEMA: dict[str, pl.DataType] = {
    **MANIFEST_SCHEMA,
    "event_id": pl.String(),
    "day": pl.Date(),
    "raw_path": pl.String(),
}


def write_selection(frame: pl.DataFrame, out: Path) -> None:
    """Write a listing's selected files as CSV (atomically)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    frame.select(list(SELECTION_SCHEMA)).write_csv(tmp)
    tmp.replace(out)


def read_selection(paths: Iterable[Path]) -> pl.DataFrame:
    """The selected files of every listing, one row per distinct file (a file in two
    events' windows keeps the first event id)."""
    frames = [
        pl.read_csv(p, schema_overrides={"size_bytes": pl.Int64}, try_parse_dates=False)
        for p in paths
    ]
    if not frames:
        return pl.DataFrame(schema=SELECTION_SCHEMA)
    frame = pl.concat(frames, how="vertical_relaxed").with_columns(
        pl.col("file_time", "listed_time").str.to_datetime(time_unit="us", time_zone="UTC"),
        pl.col("day").str.to_date(),
    )
    return (
        frame.cast(SELECTION_SCHEMA)
        .unique(["collector", "name"], keep="first")
        .sort("collector", "file_time")
    )


def sql_parameters(config: Mapping[str, Any]) -> dict[str, float]:
    """The DuckDB variables the routing SQL reads (``SET VARIABLE name = value``)."""
    settings = routing_settings(config)
    return {
        "pre_days": float(config["windows"]["pre_days"]),
        "post_days": float(max(config["windows"]["post_days"])),
        "update_window_hours": float(settings["update_window_hours"]),
        "episode_gap_hours": float(settings["episode_gap_hours"]),
    }
