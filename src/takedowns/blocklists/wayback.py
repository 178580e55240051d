"""Blocklist snapshots from the Internet Archive: CDX discovery and ``id_`` replay downloads.

Discovery (one CDX query per configured list URL) keeps the CDX answer as a raw file under
its stable name (:func:`takedowns.paths.raw_relpath` of the query URL) and turns it into a
snapshot manifest: list, original URL, timestamp, digest, length, replay URL
``https://web.archive.org/web/<timestamp>id_/<original>``. A list's spellings (Spamhaus DROP
at ``/drop/`` and ``/DROP/``) are separate queries; :func:`merge_manifests` keeps one row per
capture (timestamp and digest), since the Wayback Machine compares URLs canonically and may
answer both spellings with the same captures.

A CDX answer with no capture inside the study period (``[]``, a header only, or only rows
outside it) is :class:`NoCaptures` for a list the study depends on, naming the list and the
query URL; a list marked ``optional`` in config gets QC status ``empty`` instead. Such an
answer is never kept in the raw tree (nor in SHA256SUMS), so a rerun asks again.

Replays (:func:`fetch_capture`) follow the real service: only a response carrying
``Memento-Datetime`` is a capture (a 200 HTML page without it is refused, and asked again a
few times in case it was a passing error page); a timestamp the archive does not hold is
answered by a 302 to another capture, which is fetched and stored under its own URL (the
manifest keeps both); a 404 is "no capture" (:class:`NoCapture`), which the blocklist stage
records per snapshot instead of failing the run. Each replay's bytes are hashed the way the
CDX ``digest`` is (base32 SHA-1 of the payload, which the ``id_`` replay serves unchanged;
:func:`payload_digest`), so the blocklist stage can tell the capture it asked for from
another one. The CDX API and
the replays are rate-limited separately (``download.hosts`` keys ``web.archive.org/cdx`` and
``web.archive.org/web``, see :func:`takedowns.sources.fetch_policy.policy_for_url`); a 429 without
Retry-After waits ``default_retry_after_seconds``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import polars as pl

from takedowns.errors import ContentError, DownloadError, HTTPStatusError, MissingHeaderError
from takedowns.paths import raw_relpath
from takedowns.qc import FileQC, MalformedInput
from takedowns.sources.fetch import fetch, unmirror_url
from takedowns.sources.fetch_policy import policy_for_url
from takedowns.sources.ledger import commit as commit_raw  # move into place + record the sha256
from takedowns.sources.ledger import verify_raw
from takedowns.study import study_period

log = logging.getLogger(__name__)

#: The CDX fields asked for (``fl=``), in this order.
CDX_FIELDS = ("timestamp", "original", "statuscode", "digest", "length")
#: The header that makes a Wayback response a capture.
MEMENTO_HEADER = "Memento-Datetime"
#: Formats the blocklist parsers know (see :mod:`takedowns.blocklists.snapshots`).
FORMATS = ("drop", "et_rules", "rbn_ips")

#: Columns of a snapshot manifest (one row per capture listed by the CDX API).
MANIFEST_SCHEMA = {
    "list": pl.String,
    "format": pl.String,
    "url_index": pl.Int64,
    "query_url": pl.String,
    "snapshot_id": pl.String,
    "cdx_timestamp": pl.String,
    "cdx_time": pl.Datetime("us", "UTC"),
    "original": pl.String,
    "digest": pl.String,
    "length": pl.Int64,
    "replay_url": pl.String,
}


class NoCapture(DownloadError):
    """The Wayback Machine has no capture for a replay URL (HTTP 404, ``x-ts: 404``)."""


class NotACapture(MissingHeaderError):
    """Every answer to a replay lacked ``Memento-Datetime`` (an error or "blocked" page)."""


class NoCaptures(MalformedInput):
    """A CDX query for a list the study depends on lists no capture inside the study period."""


# --------------------------------------------------------------------------------------------
# Config


@dataclass(frozen=True)
class BlocklistSource:
    """One configured list: its name, format and the URLs (spellings) it was published at."""

    name: str
    format: str
    urls: tuple[str, ...]
    optional: bool = False  # True: a query without captures is QC ``empty``, not an error


def blocklist_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``blocklists`` section (validated; its defaults come from config/schema.yaml)."""
    return config["blocklists"]


def blocklist_sources(config: Mapping[str, Any]) -> list[BlocklistSource]:
    """The configured lists (``blocklists.lists``: name -> {format, urls}), by name."""
    out = []
    for name, spec in sorted(blocklist_config(config)["lists"].items()):
        if spec["format"] not in FORMATS:
            raise ValueError(
                f"config key 'blocklists.lists.{name}.format': {spec['format']!r} is not one "
                f"of {', '.join(FORMATS)}"
            )
        optional = spec.get("optional") is True
        out.append(BlocklistSource(name, spec["format"], tuple(spec["urls"]), optional))
    return out


def blocklist_source(config: Mapping[str, Any], name: str) -> BlocklistSource:
    """The configured list called ``name``."""
    for source in blocklist_sources(config):
        if source.name == name:
            return source
    raise KeyError(f"no blocklist {name!r} in config blocklists.lists")


def _wayback_urls(config: Mapping[str, Any]) -> tuple[str, str]:
    wayback = config["sources"]["wayback"]
    return wayback["cdx_url"].rstrip("/"), wayback["replay_url"].rstrip("/")


def _without_scheme(url: str) -> str:
    for scheme in ("http://", "https://"):
        if url.lower().startswith(scheme):
            return url[len(scheme) :]
    return url


def cdx_query_url(config: Mapping[str, Any], list_url: str) -> str:
    """The CDX query for one list URL over the study period's years, JSON, 200s, by digest."""
    cdx, _ = _wayback_urls(config)
    start, end = study_period(config)
    return (
        f"{cdx}?url={_without_scheme(list_url)}&from={start.year}&to={end.year}&output=json"
        f"&fl={','.join(CDX_FIELDS)}&filter=statuscode:200&collapse=digest"
    )


def cdx_query_urls(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """List name -> the CDX query URLs of its spellings, in config order."""
    return {s.name: [cdx_query_url(config, u) for u in s.urls] for s in blocklist_sources(config)}


def replay_url(config: Mapping[str, Any], timestamp: str, original: str) -> str:
    """``<replay_url>/<timestamp>id_/<original>``: the capture's bytes, unrewritten."""
    _, replay = _wayback_urls(config)
    return f"{replay}/{timestamp}id_/{original}"


def snapshot_id(timestamp: str, digest: str) -> str:
    """A file-name-safe id of a capture: ``<14-digit timestamp>-<first 8 of the digest>``."""
    return f"{timestamp}-{digest[:8].lower()}"


# --------------------------------------------------------------------------------------------
# CDX answers


def parse_cdx(
    path: Path,
    *,
    source_file: str | None = None,
    period: tuple[dt.date, dt.date] | None = None,
) -> tuple[pl.DataFrame, FileQC]:
    """Rows of a CDX ``output=json`` answer: cdx_timestamp, cdx_time, original, digest, length.

    ``[]`` and a header-only answer are zero rows. Malformed JSON, a header without the
    wanted fields, a row of the wrong width, a bad timestamp or digest, or a resume key (the
    answer is a page of a longer one) are MalformedInput naming the file: the manifest must
    never be silently short. Rows that are not status 200, outside ``period``, or repeated
    are skipped and counted.
    """
    name = source_file or str(path)
    raw = Path(path).read_bytes()
    try:
        answer = json.loads(raw) if raw.strip() else None
    except ValueError as exc:
        raise MalformedInput(f"{name}: the CDX answer is not valid JSON ({exc})") from exc
    if not isinstance(answer, list) or not all(isinstance(r, list) for r in answer):
        raise MalformedInput(f"{name}: the CDX answer is not a JSON list of rows")
    qc = FileQC(stage="blocklist_cdx", source_file=name)
    if not answer:
        qc.note = "no captures ([])"
        return _empty_cdx(), qc
    header, rows = [str(h) for h in answer[0]], answer[1:]
    missing = [f for f in CDX_FIELDS if f not in header]
    if missing:
        raise MalformedInput(f"{name}: the CDX header {header} lacks {', '.join(missing)}")
    if [] in rows:
        raise MalformedInput(
            f"{name}: the CDX answer ends with a resume key, so it is only the first page"
        )
    for number, row in enumerate(rows, 2):
        if len(row) != len(header):
            raise MalformedInput(
                f"{name}: CDX row {number} has {len(row)} fields, the header {len(header)}"
            )
    qc.records_read = len(rows)
    frame = pl.DataFrame(
        [[str(v) for v in row] for row in rows] or None,
        schema=dict.fromkeys(header, pl.String),
        orient="row",
    ).with_row_index("row", offset=2)
    frame = frame.with_columns(
        pl.col("timestamp")
        .str.to_datetime("%Y%m%d%H%M%S", time_zone="UTC", strict=False)
        .dt.cast_time_unit("us")
        .alias("cdx_time"),
        pl.col("length").cast(pl.Int64, strict=False).alias("length_int"),
    )
    bad = frame.filter(
        pl.col("cdx_time").is_null()
        | ~pl.col("timestamp").str.contains(r"^\d{14}$")
        | ~pl.col("digest").str.contains(r"^[A-Z2-7]{8,}$")
    )
    if bad.height:
        row = bad.row(0, named=True)
        raise MalformedInput(
            f"{name}: CDX row {row['row']} has a bad timestamp or digest: "
            f"{row['timestamp']!r} {row['digest']!r}"
        )
    reason = (
        pl.when(pl.col("statuscode") != "200")
        .then(pl.lit("status_not_200"))
        .when(_outside(period))
        .then(pl.lit("outside_period"))
        .when(~pl.struct("timestamp", "digest").is_first_distinct())
        .then(pl.lit("duplicate_capture"))
    )
    frame = frame.with_columns(reason.alias("reason"))
    for skip_reason, count in frame.group_by("reason").len().drop_nulls().iter_rows():
        qc.skip(skip_reason, count)
    kept = frame.filter(pl.col("reason").is_null()).select(
        pl.col("timestamp").alias("cdx_timestamp"),
        "cdx_time",
        "original",
        "digest",
        pl.col("length_int").alias("length"),
    )
    qc.records_kept = kept.height
    if not kept.height:
        qc.note = "no captures"
    return kept.sort("cdx_timestamp", "digest"), qc


def _outside(period: tuple[dt.date, dt.date] | None) -> pl.Expr:
    if period is None:
        return pl.lit(False)
    day = pl.col("cdx_time").dt.date()
    return (day < period[0]) | (day > period[1])


def _empty_cdx() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "cdx_timestamp": pl.String,
            "cdx_time": pl.Datetime("us", "UTC"),
            "original": pl.String,
            "digest": pl.String,
            "length": pl.Int64,
        }
    )


def manifest_from_cdx(
    rows: pl.DataFrame, source: BlocklistSource, url_index: int, config: Mapping[str, Any]
) -> pl.DataFrame:
    """The snapshot manifest rows (:data:`MANIFEST_SCHEMA`) of one parsed CDX answer."""
    _, replay = _wayback_urls(config)
    query = cdx_query_url(config, source.urls[url_index])
    return rows.select(
        pl.lit(source.name).alias("list"),
        pl.lit(source.format).alias("format"),
        pl.lit(url_index, dtype=pl.Int64).alias("url_index"),
        pl.lit(query).alias("query_url"),
        (pl.col("cdx_timestamp") + "-" + pl.col("digest").str.slice(0, 8).str.to_lowercase()).alias(
            "snapshot_id"
        ),
        "cdx_timestamp",
        "cdx_time",
        "original",
        "digest",
        "length",
        (pl.lit(f"{replay}/") + pl.col("cdx_timestamp") + "id_/" + pl.col("original")).alias(
            "replay_url"
        ),
    ).cast(MANIFEST_SCHEMA)


# --------------------------------------------------------------------------------------------
# Discovery


def discover(
    list_name: str,
    url_index: int,
    config: Mapping[str, Any],
    *,
    raw_root: Path,
    checksums: Path | None,
    ratelimit_dir: Path | None = None,
) -> tuple[pl.DataFrame, FileQC]:
    """Fetch (or reuse, after checking SHA256SUMS) one CDX answer; return its manifest and QC.

    A 403 carrying the Wayback's "Blocked Site Error" gives an empty manifest and QC status
    ``blocked`` (the archive will not give this list; the run goes on and says so). An answer
    without a capture inside the study period is not kept in the raw tree (a rerun asks
    again) and is :class:`NoCaptures`, unless the list is ``optional`` (QC status ``empty``).
    Any other failure (429 beyond the retries, 5xx, malformed JSON) raises, naming the URL or
    file.
    """
    source = blocklist_source(config, list_name)
    if not 0 <= url_index < len(source.urls):
        raise KeyError(f"blocklist {list_name!r} has no URL number {url_index}")
    url = cdx_query_url(config, source.urls[url_index])
    rel = raw_relpath(url)
    dest = Path(raw_root) / rel
    period = study_period(config)
    if dest.exists() and checksums is not None:
        verify_raw(dest, checksums)
        log.info("%s: reusing %s", url, dest)
        rows, qc = parse_cdx(dest, source_file=str(rel), period=period)
    else:
        try:
            rows, qc = _fetch_cdx(url, dest, config, checksums, ratelimit_dir)
        except HTTPStatusError as exc:
            blocked = exc.headers.get("X-Archive-Wayback-Runtime-Error", "")
            if exc.status != 403 or not ("AccessControl" in blocked or "Blocked" in blocked):
                raise
            log.warning("%s: blocked by the Internet Archive (%s)", url, blocked)
            qc = FileQC(stage="blocklist_cdx", source_file=str(rel), status="blocked")
            qc.note = f"HTTP 403 {blocked}"
            return manifest_from_cdx(_empty_cdx(), source, url_index, config), qc
    if not rows.height:
        _no_captures(source, url, qc, period)
    manifest = manifest_from_cdx(rows, source, url_index, config)
    log.info("%s: %d captures listed, %d kept", url, qc.records_read, qc.records_kept)
    return manifest, qc


def _fetch_cdx(
    url: str,
    dest: Path,
    config: Mapping[str, Any],
    checksums: Path | None,
    ratelimit_dir: Path | None,
) -> tuple[pl.DataFrame, FileQC]:
    """Fetch one CDX answer beside ``dest``, parse it, and keep it (at ``dest``, recorded in
    SHA256SUMS) only when it lists a capture inside the study period."""
    pending = dest.with_name(dest.name + ".pending")
    policy, bucket = policy_for_url(url, config["download"])
    result = fetch(
        url,
        pending,
        mirror=config.get("mirror"),
        policy=replace(policy, progress=False),
        checksums=None,  # recorded below, once the answer is known to be worth keeping
        expect="json",
        ratelimit_dir=ratelimit_dir or (checksums.parent / ".ratelimit" if checksums else None),
        rate_key=bucket,
    )
    try:
        rows, qc = parse_cdx(
            pending, source_file=str(raw_relpath(url)), period=study_period(config)
        )
    except MalformedInput:
        pending.unlink(missing_ok=True)
        raise
    if rows.height:
        commit_raw(pending, dest, result.sha256, checksums)
    else:
        pending.unlink(missing_ok=True)
        qc.note = "; ".join(filter(None, [qc.note, "answer not kept: a rerun asks again"]))
    return rows, qc


def _no_captures(
    source: BlocklistSource, url: str, qc: FileQC, period: tuple[dt.date, dt.date]
) -> None:
    """An answer without captures in the study period: QC ``empty`` for an optional list,
    else :class:`NoCaptures` naming the list and the query URL."""
    listed = f"{qc.records_read} listed, none inside the study period {period[0]}..{period[1]}"
    if not source.optional:
        raise NoCaptures(
            f"blocklist {source.name!r}: the CDX query {url} found no capture ({listed}); "
            f"the study depends on this list (set blocklists.lists.{source.name}.optional: "
            "true to go on without it)"
        )
    log.warning("%s: no capture of optional list %s (%s)", url, source.name, listed)
    qc.status = "empty"
    qc.note = "; ".join(filter(None, [qc.note, f"optional list without captures ({listed})"]))


def write_manifest(frame: pl.DataFrame, path: Path) -> None:
    """Write a snapshot manifest as CSV (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    frame.select(list(MANIFEST_SCHEMA)).write_csv(tmp)
    tmp.replace(path)


def read_manifest(path: Path) -> pl.DataFrame:
    """Read a manifest written by :func:`write_manifest` (timestamps stay text)."""
    schema = {
        k: (pl.String if v == pl.Datetime("us", "UTC") else v) for k, v in MANIFEST_SCHEMA.items()
    }
    frame = pl.read_csv(path, schema=schema)
    return frame.with_columns(
        pl.col("cdx_time").str.to_datetime(time_zone="UTC", time_unit="us")
    ).cast(MANIFEST_SCHEMA)


def merge_manifests(frames: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """One row per capture of a list: the same (timestamp, digest) found through two
    spellings is kept once, from the first spelling (lowest ``url_index``)."""
    if not frames:
        return pl.DataFrame(schema=MANIFEST_SCHEMA)
    merged = pl.concat([f.select(list(MANIFEST_SCHEMA)) for f in frames], how="vertical")
    return (
        merged.sort("list", "cdx_timestamp", "digest", "url_index")
        .unique(subset=["list", "snapshot_id"], keep="first", maintain_order=True)
        .sort("list", "cdx_timestamp", "snapshot_id")
    )


# --------------------------------------------------------------------------------------------
# Replays


@dataclass(frozen=True)
class CaptureResult:
    """A capture fetched from the Wayback Machine, and how it was reached."""

    requested_url: str
    served_url: str  # the capture's own URL (after any 302 to another timestamp)
    path: Path
    bytes: int
    sha256: str
    memento_datetime: str
    capture_time: dt.datetime
    redirects: tuple[str, ...]  # the URLs that answered with a redirect, in order
    attempts: int
    false_captures: int  # answers refused for lacking Memento-Datetime
    digest: str = ""  # base32 SHA-1 of the bytes served, comparable with the CDX digest

    @property
    def served_timestamp(self) -> str | None:
        """The 14-digit timestamp of the capture actually served (from its URL)."""
        return replay_timestamp(self.served_url)


def payload_digest(path: Path) -> str:
    """What the CDX API lists as ``digest``: the base32 SHA-1 of the payload's bytes."""
    with Path(path).open("rb") as handle:
        sha1 = hashlib.file_digest(handle, "sha1").digest()
    return base64.b32encode(sha1).decode("ascii")


def replay_timestamp(url: str) -> str | None:
    """The 14-digit timestamp of a ``.../web/<timestamp><modifier>/<url>`` replay URL."""
    match = re.search(r"/web/(\d{14})(?:[a-z]{2}_)?/", url)
    return match[1] if match else None


def fetch_capture(
    url: str,
    *,
    raw_root: Path,
    config: Mapping[str, Any],
    checksums: Path | None,
    ratelimit_dir: Path | None = None,
    max_redirects: int = 3,
    false_capture_retries: int = 2,
) -> CaptureResult:
    """Fetch the capture a replay URL names, stored at ``raw_root/raw_relpath(<served URL>)``.

    Redirects are followed here (not by the HTTP layer), so the bytes are stored under the
    URL of the capture actually served; ``digest`` is their :func:`payload_digest`, for the
    caller to compare with the CDX row it asked for. Raises :class:`NoCapture` for a 404,
    :class:`NotACapture` when ``false_capture_retries + 1`` answers all lacked
    ``Memento-Datetime``, and the download layer's errors otherwise.
    """
    mirror = config.get("mirror")
    policy, bucket = policy_for_url(url, config["download"])
    # A capture may be empty or an HTML page; whether it is a list is for the parser to say.
    policy = replace(policy, min_bytes=0, progress=False)
    current, redirects, attempts, refused = url, [], 0, 0
    while True:
        try:
            result = fetch(
                current,
                Path(raw_root) / raw_relpath(current),
                mirror=mirror,
                policy=policy,
                checksums=checksums,
                expect="html",  # no content check: Memento-Datetime decides what a capture is
                ratelimit_dir=ratelimit_dir,
                require_header=MEMENTO_HEADER,
                allow_redirects=False,
                rate_key=bucket,
            )
        except MissingHeaderError as exc:
            attempts += 1
            refused += 1
            if refused > false_capture_retries:
                raise NotACapture(
                    f"{url}: {refused} answers without {MEMENTO_HEADER} (an error or 'blocked' "
                    f"page, not a capture); last: {exc}"
                ) from exc
            time.sleep(min(policy.backoff_max_seconds, policy.backoff_seconds * 2**refused))
            continue
        except HTTPStatusError as exc:
            attempts += 1
            if exc.status == 404:
                marker = f", x-ts: {exc.headers['x-ts']}" if "x-ts" in exc.headers else ""
                raise NoCapture(f"{url}: no capture (HTTP 404{marker}): {exc}") from exc
            location = exc.headers.get("Location")
            if exc.status not in (301, 302, 303, 307, 308) or not location:
                raise
            if len(redirects) >= max_redirects:
                raise DownloadError(
                    f"{url}: more than {max_redirects} redirects: {' -> '.join(redirects)}"
                ) from exc
            redirects.append(current)
            target = unmirror_url(urljoin(current, location), mirror)
            log.info("%s: %s (%s)", current, exc.headers.get("X-Archive-Redirect-Reason"), target)
            current = target
            continue
        attempts += result.attempts
        memento = result.headers[MEMENTO_HEADER]
        return CaptureResult(
            requested_url=url,
            served_url=current,
            path=result.path,
            bytes=result.bytes,
            sha256=result.sha256,
            memento_datetime=memento,
            capture_time=_memento_time(memento, current),
            redirects=tuple(redirects),
            attempts=attempts,
            false_captures=refused,
            digest=payload_digest(result.path),
        )


def _memento_time(value: str, url: str) -> dt.datetime:
    """``Memento-Datetime`` (RFC 1123) as UTC; ContentError naming the URL when unreadable."""
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError) as exc:
        raise ContentError(f"{url}: unreadable {MEMENTO_HEADER} {value!r}") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)
