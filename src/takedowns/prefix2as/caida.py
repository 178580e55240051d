"""CAIDA RouteViews prefix-to-AS: discovery, daily normalization and origin episodes.

* :func:`parse_creation_log` turns ``pfx2as-creation.log`` into a manifest of daily files
  (names are never constructed: the HHMM of each file is irregular); :func:`day_gaps` lists
  the selected days it has no file for (and flags a log cut mid-line) as a gap record.
* :func:`read_daily_table` normalizes one ``routeviews-{oix,rv2}-YYYYMMDD-HHMM.pfx2as.gz``.
* :func:`build_episodes` folds the daily tables into ``prefix_origin`` episodes
  (prefix, origins, first_day, last_day), streaming one day at a time.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import re
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from takedowns.ipv4 import address_to_int, host_bits_set, prefix_end
from takedowns.qc import FileQC, MalformedInput, enforce_malformed_limit, gap_qc
from takedowns.tables import write_parquet

#: ``routeviews-rv2-20080501-1200.pfx2as.gz`` -> collector, date, time.
FILE_NAME_RE = r"routeviews-(?P<collector>[a-z0-9]+)-(?P<date>\d{8})-(?P<hhmm>\d{4})\.pfx2as\.gz$"
#: Origins: MOAS joined by ``_``, AS sets by ``,`` (``10_20_30_32,54``), ASNs in asplain.
ORIGIN_RE = r"^\d{1,10}(?:[_,]\d{1,10})*$"
MAX_ASN = 2**32 - 1
#: The gap record's name: ``data/processed/qc/gaps/prefix2as.json``.
GAP_STAGE = "prefix2as"

DAILY_SCHEMA = {
    "day": pl.Date,
    "snapshot_time": pl.Datetime("us", "UTC"),
    "collector": pl.String,
    "prefix": pl.String,
    "start_ip": pl.UInt32,
    "end_ip": pl.UInt32,
    "length": pl.UInt8,
    "origins": pl.List(pl.UInt32),
    "origin_text": pl.String,
    "moas": pl.Boolean,
    "as_set": pl.Boolean,
}

EPISODE_SCHEMA = {
    "prefix": pl.String,
    "start_ip": pl.UInt32,
    "end_ip": pl.UInt32,
    "length": pl.UInt8,
    "origins": pl.List(pl.UInt32),
    "origin_text": pl.String,
    "moas": pl.Boolean,
    "as_set": pl.Boolean,
    "collector": pl.String,
    "first_day": pl.Date,
    "last_day": pl.Date,
    "days_seen": pl.UInt32,
}
_EPISODE_KEY = ["start_ip", "length", "origin_text", "collector"]


def read_creation_log(path: Path, base_url: str) -> tuple[pl.DataFrame, str]:
    """:func:`parse_creation_log`, and a note when the log ends mid-line (else ``""``).

    A log that does not end with a newline was cut (or is being written): its last line is
    kept when it has the full shape (the note says the newline is missing) and dropped when
    it does not (the note quotes it). Either way the caller's gap record flags the log.
    """
    text = Path(path).read_text(encoding="utf-8", errors="strict")
    lines = text.splitlines()
    note = ""
    if text and not text.endswith("\n") and lines:
        last = lines[-1]
        if _creation_row(last) is None:
            lines = lines[:-1]
            note = f"{path}: the log ends mid-line; its cut last line was dropped: {last!r}"
        else:
            note = f"{path}: the log ends without a newline after {last!r} (it may be cut)"
    return _creation_frame(lines, path, base_url), note


def parse_creation_log(path: Path, base_url: str) -> pl.DataFrame:
    """Manifest of the daily files listed in ``pfx2as-creation.log``.

    The log has ``#`` comment lines, then ``seq<TAB>unix_ts<TAB>YYYY/MM/<file>`` lines. Returns
    one row per listed file: seq, created (UTC), file (``YYYY/MM/<name>``), url, collector,
    day and snapshot_time (from the name). A line of another shape is an error naming the
    line, because a manifest that silently loses files would shorten the study (a cut last
    line without its newline is dropped; :func:`read_creation_log` says so).
    """
    return read_creation_log(path, base_url)[0]


def _creation_row(line: str) -> dict[str, Any] | None:
    """One ``seq<TAB>unix_ts<TAB>YYYY/MM/<file>`` line with a well-formed file name, or None."""
    fields = line.split("\t")
    if len(fields) != 3 or not fields[0].isdigit() or not fields[1].isdigit():
        return None
    if re.search(FILE_NAME_RE, fields[2]) is None:
        return None
    return {"seq": int(fields[0]), "created_ts": int(fields[1]), "file": fields[2]}


def _creation_frame(lines: Sequence[str], path: Path, base_url: str) -> pl.DataFrame:
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 3 or not fields[0].isdigit() or not fields[1].isdigit():
            raise MalformedInput(f"{path}:{number}: not 'seq<TAB>unix_ts<TAB>path': {line!r}")
        rows.append({"seq": int(fields[0]), "created_ts": int(fields[1]), "file": fields[2]})
    frame = pl.DataFrame(
        rows, schema={"seq": pl.Int64, "created_ts": pl.Int64, "file": pl.String}
    ).with_columns(pl.col("file").str.extract_groups(FILE_NAME_RE).alias("m"))
    bad = frame.filter(pl.col("m").struct.field("date").is_null())
    if bad.height:
        raise MalformedInput(f"{path}: unexpected file name in creation log: {bad['file'][0]!r}")
    base = base_url.rstrip("/")
    return frame.select(
        "seq",
        pl.from_epoch("created_ts", time_unit="s").dt.replace_time_zone("UTC").alias("created"),
        "file",
        (pl.lit(base + "/") + pl.col("file")).alias("url"),
        pl.col("m").struct.field("collector"),
        pl.col("m").struct.field("date").str.to_date("%Y%m%d").alias("day"),
        (pl.col("m").struct.field("date") + pl.col("m").struct.field("hhmm"))
        .str.to_datetime("%Y%m%d%H%M", time_unit="us", time_zone="UTC")
        .alias("snapshot_time"),
    ).sort("day", "seq")


def select_snapshots(manifest: pl.DataFrame, days: Sequence[dt.date]) -> pl.DataFrame:
    """One file per selected day: the one created last (a regenerated file supersedes)."""
    wanted = pl.DataFrame({"day": list(days)}, schema={"day": pl.Date})
    return (
        manifest.join(wanted, on="day", how="semi")
        .sort("seq")
        .group_by("day", maintain_order=True)
        .last()
        .sort("day")
    )


def day_gaps(
    chosen: pl.DataFrame, days: Sequence[dt.date], *, log_note: str = ""
) -> tuple[FileQC, list[str]]:
    """The ``prefix2as`` gap record: selected days without a daily table in ``chosen``.

    ``log_note`` (from :func:`read_creation_log`) marks the record truncated and is added to
    its note. Returns the record and the missing days (ISO dates, in order).
    """
    have = set(chosen["day"].to_list())
    expected = [d.isoformat() for d in days]
    missing = [d.isoformat() for d in days if d not in have]
    qc = gap_qc(
        GAP_STAGE, expected, missing, unit="day", truncated=bool(log_note), extra_note=log_note
    )
    return qc, missing


def _decompress(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read()
    except (EOFError, OSError, zlib.error) as exc:
        raise MalformedInput(f"{path}: truncated or corrupt gzip file ({exc})") from exc


def _lines(data: bytes) -> pl.DataFrame:
    """Every line of ``data`` as one string column (parsed in native code, not in Python)."""
    if not data:
        return pl.DataFrame(schema={"line": pl.String})
    return pl.read_csv(
        io.BytesIO(data),
        separator="\x1f",
        has_header=False,
        quote_char=None,
        schema={"line": pl.String},
        encoding="utf8-lossy",
    ).with_columns(pl.col("line").fill_null("").str.strip_suffix("\r"))


def read_daily_table(
    path: Path, source_file: str, *, max_malformed: int = 0
) -> tuple[pl.DataFrame, FileQC]:
    """Normalize one daily pfx2as file into :data:`DAILY_SCHEMA` rows plus its QC counts.

    Lines are ``prefix<TAB>length<TAB>origins``. Malformed lines (wrong field count, bad
    prefix or length, host bits set, unknown origin syntax, ASN out of range, a prefix listed
    twice) are counted by reason; more than ``max_malformed`` of them is an error naming the
    file and the first offending line of each kind.
    """
    name = Path(source_file).name
    match = pl.Series([name]).str.extract_groups(FILE_NAME_RE)[0]
    if match["date"] is None:
        raise MalformedInput(f"{source_file}: not a pfx2as daily file name")
    collector = match["collector"]
    snapshot = dt.datetime.strptime(match["date"] + match["hhmm"], "%Y%m%d%H%M").replace(
        tzinfo=dt.UTC
    )
    lines = _lines(_decompress(path)).with_row_index("line_no", offset=1)
    lines = lines.filter(pl.col("line").str.strip_chars() != "")
    qc = FileQC(stage="prefix2as", source_file=source_file, records_read=lines.height)

    fields = pl.col("line").str.split_exact("\t", 2)
    parsed = (
        lines.lazy()
        .with_columns(
            n_tabs=pl.col("line").str.count_matches("\t", literal=True),
            addr=fields.struct.field("field_0"),
            length_text=fields.struct.field("field_1"),
            origin_text=fields.struct.field("field_2"),
        )
        .with_columns(
            start_ip=address_to_int(pl.col("addr")),
            length=pl.col("length_text").cast(pl.UInt8, strict=False),
            asns=pl.col("origin_text")
            .str.replace_all(",", "_", literal=True)
            .str.split("_")
            .cast(pl.List(pl.UInt64), strict=False),
        )
    )
    reason = (
        pl.when(pl.col("n_tabs") != 2)
        .then(pl.lit("field_count"))
        .when(pl.col("start_ip").is_null())
        .then(pl.lit("bad_prefix"))
        .when(pl.col("length").is_null() | (pl.col("length") > 32))
        .then(pl.lit("bad_length"))
        .when(host_bits_set(pl.col("start_ip"), pl.col("length")))
        .then(pl.lit("host_bits_set"))
        .when(~pl.col("origin_text").str.contains(ORIGIN_RE))
        .then(pl.lit("unknown_origin_syntax"))
        .when(pl.col("asns").list.max() > MAX_ASN)
        .then(pl.lit("asn_out_of_range"))
        .when(pl.struct("start_ip", "length").is_first_distinct().not_())
        .then(pl.lit("duplicate_prefix"))
        .otherwise(None)
        .alias("reason")
    )
    parsed = parsed.with_columns(reason).collect()
    bad = parsed.filter(pl.col("reason").is_not_null())
    examples: dict[str, str] = {}
    for row in bad.group_by("reason").agg(pl.first("line_no"), pl.first("line")).iter_rows():
        qc.skip(row[0], int(bad.filter(pl.col("reason") == row[0]).height))
        examples[row[0]] = f"line {row[1]} {row[2]!r}"
    enforce_malformed_limit(qc, max_malformed, examples)

    good = parsed.filter(pl.col("reason").is_null())
    # MOAS and AS-set lines (about 1 %) get sorted, de-duplicated origins; the rest has one.
    several = pl.col("asns").list.len() > 1
    good = pl.concat(
        [
            good.filter(~several),
            good.filter(several).with_columns(pl.col("asns").list.unique().list.sort()),
        ]
    )
    out = good.select(
        pl.lit(snapshot.date()).alias("day"),
        pl.lit(snapshot).dt.cast_time_unit("us").alias("snapshot_time"),
        pl.lit(collector).alias("collector"),
        pl.concat_str("addr", pl.lit("/"), "length_text").alias("prefix"),
        "start_ip",
        prefix_end(pl.col("start_ip"), pl.col("length")).alias("end_ip"),
        "length",
        pl.col("asns").cast(pl.List(pl.UInt32)).alias("origins"),
        "origin_text",
        pl.col("origin_text").str.contains("_").alias("moas"),
        pl.col("origin_text").str.contains(",").alias("as_set"),
    )
    out = out.cast(DAILY_SCHEMA).sort("start_ip", "length")
    qc.records_kept = out.height
    return out, qc


def _close(open_eps: pl.DataFrame) -> pl.DataFrame:
    return open_eps.select(list(EPISODE_SCHEMA))


def build_episodes(
    daily_paths: Sequence[Path],
    out: Path,
    *,
    max_gap_days: int,
    metadata: dict[str, str] | None = None,
) -> int:
    """Fold daily tables (any order) into ``prefix_origin`` episodes; return the row count.

    An episode is a maximal run of snapshots in which one collector saw the same prefix with
    the same origins. A missing day does not end an episode; a gap between snapshots longer
    than ``max_gap_days`` ends all of them, and so does a snapshot that lacks the pair.
    Memory holds one day plus the open episodes; closed episodes stream to ``out``.
    """
    ordered = sorted(
        ((pl.read_parquet(p, columns=["day"], n_rows=1)["day"][0], Path(p)) for p in daily_paths),
        key=lambda t: (t[0], str(t[1])),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".unsorted.tmp")
    schema = pl.DataFrame(schema=EPISODE_SCHEMA).to_arrow().schema
    if metadata:
        schema = schema.with_metadata(metadata)
    rows = 0
    open_eps = pl.DataFrame(schema=EPISODE_SCHEMA)
    previous: dt.date | None = None
    with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:

        def flush(frame: pl.DataFrame) -> None:
            nonlocal rows
            if frame.height:
                writer.write_table(pa.Table.from_batches(frame.to_arrow().to_batches(), schema))
                rows += frame.height

        for day, path in ordered:
            daily = pl.read_parquet(path).drop("snapshot_time", "day")
            if previous is not None and (day - previous).days > max_gap_days:
                flush(_close(open_eps))
                open_eps = open_eps.clear()
            previous = day
            seen = daily.select(_EPISODE_KEY).with_columns(_seen=pl.lit(True))
            marked = open_eps.join(seen, on=_EPISODE_KEY, how="left", nulls_equal=True)
            flush(_close(marked.filter(pl.col("_seen").is_null())))
            continuing = (
                marked.filter(pl.col("_seen"))
                .drop("_seen")
                .with_columns(last_day=pl.lit(day), days_seen=pl.col("days_seen") + 1)
            )
            new = daily.join(open_eps, on=_EPISODE_KEY, how="anti", nulls_equal=True)
            new = new.with_columns(
                first_day=pl.lit(day), last_day=pl.lit(day), days_seen=pl.lit(1, pl.UInt32)
            ).select(list(EPISODE_SCHEMA))
            open_eps = pl.concat([continuing.cast(EPISODE_SCHEMA), new.cast(EPISODE_SCHEMA)])
        flush(_close(open_eps))
    # Sort by address so point-in-range lookups prune row groups.
    final = pl.read_parquet(tmp).sort("start_ip", "length", "first_day")
    write_parquet(final, out, metadata=metadata)
    tmp.unlink()
    return rows
