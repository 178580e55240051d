"""Normalize one MRT file (RouteViews / RIPE RIS RIB dumps and updates) to Parquet.

The file is read by :mod:`takedowns.routing.walk`, which decompresses it once, checks the
MRT framing and every record's structure, counts the elements each record holds, and passes
on the checked records (from a child process for large files, so the two run on two cores).

Most records become rows straight from their bytes (:mod:`takedowns.routing.element_columns`,
with numpy and pyarrow): the plain TABLE_DUMP IPv4 entries of a RIB (one AS_PATH of
AS_SEQUENCE/AS_SET segments, no AS4_PATH, no confederation segment: nearly every entry of a
TABLE_DUMP v1 dump), the plain TABLE_DUMP_V2 RIB_IPV4_UNICAST records (IPv4 peers, the same
paths) and the plain BGP4MP messages of an update file (IPv4 sessions; AS4_PATH merged where
both paths are one AS_SEQUENCE; MP_REACH/MP_UNREACH_NLRI for IPv6 or IPv4). The other records
(TABLE_DUMP entries whose AS4_PATH the walk merges, other AS4_PATH merges, IPv6 peers and
sessions, the rare odd path) go to pybgpkit-parser (native code; AS4_PATH merged into
AS_PATH and the AS23456 placeholder resolved as the parser does), and the rows keep the
records' order. The direct rows have the parser's values: the tests
normalize files both ways (``direct=False`` gives every record to the parser) and compare the
tables. Either way the rows are checked against the walk's independent count, so a
truncated archive, an unknown record type, a malformed record or a parser that stops early
never yields a silently short table (see :mod:`takedowns.routing.walk` for why this is
needed). A job whose records are all plain (most update files) loads neither polars nor the
parser.

Which elements are kept:

* with ``keep_all``, every IPv4 element;
* otherwise those whose AS path (hence origin) contains a watched ASN, or whose prefix
  overlaps a watched prefix range (:class:`Watch`). The walk passes on only the records that
  can hold such an element (reading a path's ASNs there is cheaper than parsing every record;
  the parser's own filters combine only with AND), and the elements are then selected
  exactly, with vectorized expressions.

Output columns (:data:`ELEMENT_SCHEMA`): time (UTC, microseconds), collector, kind (``rib``,
``announce``, ``withdraw``), peer_ip, peer_asn, prefix with start_ip/end_ip/length, as_path
(list of ASNs, AS_SET members in place), as_path_text (AS sets in braces), origins (the last
ASN, or every member of a final AS_SET), upstream_asn (the AS before the origin once
prepending is removed; null when there is none or it is an AS_SET) and source_file. A second,
small table (:data:`PEER_SCHEMA`) lists every peer in the file with its element counts: the
denominators of visibility shares, which the filtered element table cannot give.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import takedowns
from takedowns.qc import FileQC, MalformedInput, enforce_malformed_limit
from takedowns.routing.walk import (
    Routing,
    WalkResult,
    decompressed_chunks,
    parse_peer_index,
    walk,
)

if TYPE_CHECKING:
    import numpy as np
    import polars as pl
    import pyarrow as pa

# polars is imported only where the parser's rows are turned into columns (elements_frame):
# a job whose records are all plain (most update files) never loads it


def _polars_schemas() -> dict[str, dict[str, pl.DataType]]:
    """The element and peer tables' polars schemas (``ELEMENT_SCHEMA``, ``PEER_SCHEMA``)."""
    import polars as pl

    element = {
        "time": pl.Datetime("us", "UTC"),
        "collector": pl.String(),
        "kind": pl.String(),
        "peer_ip": pl.String(),
        "peer_asn": pl.UInt32(),
        "prefix": pl.String(),
        "start_ip": pl.UInt32(),
        "end_ip": pl.UInt32(),
        "length": pl.UInt8(),
        "as_path": pl.List(pl.UInt32()),
        "as_path_text": pl.String(),
        "origins": pl.List(pl.UInt32()),
        "upstream_asn": pl.UInt32(),
        "source_file": pl.String(),
    }
    peer = {
        "source_file": pl.String(),
        "collector": pl.String(),
        "kind": pl.String(),
        "file_time": pl.Datetime("us", "UTC"),
        "first_time": pl.Datetime("us", "UTC"),
        "last_time": pl.Datetime("us", "UTC"),
        "peer_ip": pl.String(),
        "peer_asn": pl.UInt32(),
        "elements_ipv4": pl.Int64(),
        "elements_ipv6": pl.Int64(),
    }
    return {"ELEMENT_SCHEMA": element, "PEER_SCHEMA": peer}


def __getattr__(name: str) -> Any:
    """``ELEMENT_SCHEMA`` and ``PEER_SCHEMA`` (polars dtypes), built on first use."""
    if name in ("ELEMENT_SCHEMA", "PEER_SCHEMA"):
        return _polars_schemas()[name]
    if name == "_EMPTY_PREFIX_ORIGIN":
        import polars as pl

        return pl.DataFrame(
            schema={
                "start_ip": pl.UInt32,
                "end_ip": pl.UInt32,
                "origins": pl.List(pl.UInt32),
                "first_day": pl.Date,
                "last_day": pl.Date,
            }
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Skip reasons that are malformed data (limited by ``qc.max_malformed_records``).
MALFORMED_REASONS = ("records_malformed", "bytes_trailing_garbage")
#: Files at least this large (compressed) are walked in a child process, in parallel.
PARALLEL_FROM_BYTES = 4 << 20
#: A RIB's checked records are turned into rows this many bytes at a time.
RIB_CHUNK_BYTES = 4 << 20
#: Element-table columns with few distinct values per file, dictionary-encoded in Parquet.
_DICTIONARY_COLUMNS = ("collector", "kind", "peer_ip", "peer_asn", "length", "source_file")
_FILE_TIME_RE = re.compile(r"(\d{8})\.(\d{4})")
_SRC_DIR = Path(takedowns.__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------
# What to keep


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Sort and merge overlapping or adjacent (start, end) ranges."""
    merged: list[list[int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((s, e) for s, e in merged)


def prefix_range(prefix: str) -> tuple[int, int]:
    """First and last address of an IPv4 prefix."""
    net = ipaddress.IPv4Network(prefix, strict=False)
    return int(net.network_address), int(net.broadcast_address)


@dataclass(frozen=True)
class Watch:
    """The watched set: ASNs (matched anywhere in the AS path) and IPv4 ranges (overlap)."""

    asns: frozenset[int] = frozenset()
    ranges: tuple[tuple[int, int], ...] = ()

    @classmethod
    def build(
        cls,
        asns: Iterable[int] = (),
        prefixes: Iterable[str] = (),
        ranges: Iterable[tuple[int, int]] = (),
    ) -> Watch:
        """A watch from ASNs, prefix texts and/or (start, end) ranges (merged)."""
        all_ranges = [prefix_range(p) for p in prefixes] + [(int(s), int(e)) for s, e in ranges]
        return cls(frozenset(int(a) for a in asns), merge_ranges(all_ranges))


def watch_for_config(config: Mapping[str, Any], prefix_origin: pa.Table | pl.DataFrame) -> Watch:
    """The watched ASNs of every configured event, plus the prefixes ``prefix_origin`` (the
    prefix_origin table: start_ip, end_ip, origins, first_day, last_day; Arrow or polars)
    attributes to them in each event's pre window [t0 - windows.pre_days, t0)."""
    import numpy as np
    import pyarrow as pa

    from takedowns.arrow_buffers import to_numpy
    from takedowns.study import events

    table = prefix_origin if not hasattr(prefix_origin, "to_arrow") else prefix_origin.to_arrow()
    pre_days = int(config["windows"]["pre_days"])
    asns: set[int] = set()
    ranges: list[tuple[int, int]] = []
    if table.num_rows:
        origins = table["origins"].combine_chunks()
        wide = "int64" if pa.types.is_large_list(origins.type) else "int32"
        bounds = to_numpy(origins.offsets, wide).astype(np.int64)
        parent = np.repeat(np.arange(len(origins), dtype=np.int64), np.diff(bounds))
        values = to_numpy(origins.values, "uint32")[bounds[0] : bounds[-1]].astype(np.int64)
        first = to_numpy(table["first_day"], "int32")  # days since 1970-01-01
        last = to_numpy(table["last_day"], "int32")
        start = to_numpy(table["start_ip"], "uint32").astype(np.int64)
        end = to_numpy(table["end_ip"], "uint32").astype(np.int64)
    for event in events(config):
        asns.update(event.asns)
        if not table.num_rows:
            continue
        t0 = (event.nominal_cutoff.date() - dt.date(1970, 1, 1)).days
        held = np.zeros(table.num_rows, dtype=bool)
        held[parent[np.isin(values, list(event.asns))]] = True
        hits = held & (first < t0) & (last >= t0 - pre_days)
        ranges += list(zip(start[hits].tolist(), end[hits].tolist(), strict=True))
    return Watch.build(asns, ranges=ranges)


# --------------------------------------------------------------------------------------------
# Elements to columns


def _raw_frame(batch: Sequence[Any]) -> pl.DataFrame:
    """The parser's elements as columns (one attribute read per element and column)."""
    import polars as pl

    return pl.DataFrame(
        {
            "ts": [e.timestamp for e in batch],
            "elem_type": [e.elem_type for e in batch],
            "peer_ip": [e.peer_ip for e in batch],
            "peer_asn": [e.peer_asn for e in batch],
            "prefix": [e.prefix for e in batch],
            "as_path_text": [e.as_path for e in batch],
        },
        schema={
            "ts": pl.Float64,
            "elem_type": pl.String,
            "peer_ip": pl.String,
            "peer_asn": pl.UInt32,
            "prefix": pl.String,
            "as_path_text": pl.String,
        },
    )


def _prefix_hits(start: pl.Series, end: pl.Series, ranges: Sequence[tuple[int, int]]) -> np.ndarray:
    """True where [start, end] overlaps one of the merged, sorted ``ranges``."""
    import numpy as np
    import polars as pl

    if not ranges:
        return np.zeros(len(start), dtype=bool)
    starts = np.array([s for s, _ in ranges], dtype=np.int64)
    ends = np.array([e for _, e in ranges], dtype=np.int64)
    e_np = end.cast(pl.Int64).fill_null(-1).to_numpy()
    s_np = start.cast(pl.Int64).fill_null(-1).to_numpy()
    idx = np.searchsorted(starts, e_np, side="right") - 1
    ok = idx >= 0
    return ok & (ends[np.clip(idx, 0, None)] >= s_np)


def _upstreams(frame: pl.DataFrame) -> pl.Series:
    """The AS before the origin once prepending is removed: the last path token that differs
    from the last one. Null when there is none, or when it is an AS_SET (``{..}``)."""
    import polars as pl

    tokens = (
        frame.select(
            pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"),
            pl.col("as_path_text").str.split(" ").alias("token"),
        )
        .explode("token")
        .with_columns(origin=pl.col("token").last().over("row"))
    )
    before = (
        tokens.filter(pl.col("token") != pl.col("origin"))
        .group_by("row")
        .agg(pl.col("token").last())
    )
    rows = pl.DataFrame({"row": pl.int_range(frame.height, dtype=pl.UInt32, eager=True)})
    joined = rows.join(before, on="row", how="left", maintain_order="left")
    # an AS_SET token ("{1,2}") does not cast: no single upstream
    return joined["token"].cast(pl.UInt32, strict=False).rename("upstream_asn")


def elements_frame(
    raw: pl.DataFrame,
    *,
    kind: str,
    collector: str,
    source_file: str,
    watch: Watch | None,
    extra: Sequence[str] = (),
) -> pl.DataFrame:
    """Normalize a raw element frame into :data:`ELEMENT_SCHEMA`, keeping IPv4 elements
    that ``watch`` selects (all of them when ``watch`` is None), with the ``extra`` columns
    of ``raw`` after them. The rows built directly
    from plain records (:mod:`takedowns.routing.element_columns`) have the same values."""
    import polars as pl

    from takedowns.ipv4 import address_to_int, network_of, prefix_end

    frame = raw.filter(~pl.col("prefix").str.contains(":", literal=True))
    parts = pl.col("prefix").str.split("/")
    last = pl.col("as_path_text").str.extract(r"(\S+)$", 1)
    set_origin = last.str.extract_all(r"\d+").cast(pl.List(pl.UInt32)).list.unique().list.sort()
    frame = frame.with_columns(
        time=(pl.col("ts") * 1_000_000)
        .round(0)
        .cast(pl.Int64)
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone("UTC"),
        collector=pl.lit(collector, pl.String),
        kind=pl.lit(kind, pl.String)
        if kind == "rib"
        else pl.when(pl.col("elem_type") == "W")
        .then(pl.lit("withdraw"))
        .otherwise(pl.lit("announce")),
        # the network: host bits a record carries are cleared (``prefix`` keeps them)
        start_ip=network_of(address_to_int(parts.list.first()), parts.list.last().cast(pl.UInt8)),
        length=parts.list.last().cast(pl.UInt8, strict=False),
        as_path=pl.col("as_path_text").str.extract_all(r"\d+").cast(pl.List(pl.UInt32)),
        # a final AS_SET is kept as the set of its members (sorted); else the last ASN
        origins=pl.when(last.is_null())
        .then(None)
        .when(last.str.starts_with("{"))
        .then(set_origin)
        .otherwise(pl.concat_list(last.cast(pl.UInt32, strict=False))),
        source_file=pl.lit(source_file, pl.String),
    ).with_columns(end_ip=prefix_end(pl.col("start_ip"), pl.col("length")))
    frame = frame.with_columns(_upstreams(frame))
    if watch is not None:
        path_hit = pl.col("as_path").list.eval(pl.element().is_in(sorted(watch.asns))).list.any()
        hits = _prefix_hits(frame["start_ip"], frame["end_ip"], watch.ranges)
        frame = frame.filter(path_hit.fill_null(False) | pl.Series(hits))
    schema = _polars_schemas()["ELEMENT_SCHEMA"]
    return frame.select([*schema, *extra]).cast(schema)


# --------------------------------------------------------------------------------------------
# Parsing a stream


class _Sink:
    """Batches of the element table, appended to one Parquet file (bounded memory)."""

    def __init__(self, path: Path, metadata: Mapping[str, str] | None) -> None:
        import pyarrow.parquet as pq

        from takedowns.routing.element_columns import ELEMENT_ARROW_SCHEMA

        self.schema = ELEMENT_ARROW_SCHEMA.with_metadata(dict(metadata or {}))
        self.path = path
        # dictionary pages only where values repeat (peers, constants): on the prefixes and
        # paths they cost time and grow the file (a third smaller, a third faster on updates)
        self.writer = pq.ParquetWriter(
            path, self.schema, compression="zstd", use_dictionary=list(_DICTIONARY_COLUMNS)
        )
        self.rows = 0

    def write(self, rows: pl.DataFrame | pa.Table) -> None:
        """Append ``rows`` (a polars frame of :data:`ELEMENT_SCHEMA` or an Arrow table)."""
        table = rows.to_arrow() if hasattr(rows, "to_arrow") else rows
        if table.num_rows:
            if not table.schema.equals(self.schema):  # metadata aside
                table = table.cast(self.schema)
            self.writer.write_table(table)
            self.rows += table.num_rows

    def close(self) -> None:
        self.writer.close()


def _parse_stream(
    path: str,
    sink: _Sink,
    *,
    name: str,
    kind: str,
    collector: str,
    watch: Watch | None,
    batch_rows: int,
    close_fd: int | None = None,
) -> int:
    """Run pybgpkit-parser over every record at ``path`` (IPv4 elements only), append the
    kept elements to ``sink``, and return how many elements the parser returned (the
    reference that :func:`_parse_checked_stream` is tested against)."""
    from pybgpkit_parser import Parser

    try:
        parser = Parser(path, filters={"ip_version": "4"})
    except BaseException as exc:  # pyo3 raises PanicException (a BaseException) on open errors
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise MalformedInput(f"{name}: pybgpkit-parser could not open the stream ({exc})") from exc
    finally:
        if close_fd is not None:
            os.close(close_fd)  # the parser holds its own descriptor
    returned = 0
    try:
        while batch := list(islice(parser, batch_rows)):
            returned += len(batch)
            frame = _raw_frame(batch)
            sink.write(
                elements_frame(frame, kind=kind, collector=collector, source_file=name, watch=watch)
            )
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise MalformedInput(f"{name}: pybgpkit-parser failed ({exc})") from exc
    finally:
        del parser  # closes the stream: a walk still writing sees EPIPE
    return returned


def _records_of(data: bytes) -> tuple[list[int], int]:
    """Offsets of the complete MRT records in ``data`` and where the first incomplete one
    starts."""
    from takedowns.routing.walk import _HDR

    offsets, pos, n, hdr = [], 0, len(data), _HDR.unpack_from
    while pos + 12 <= n:
        end = pos + 12 + hdr(data, pos)[3]
        if end > n:
            break
        offsets.append(pos)
        pos = end
    return offsets, pos


def _stream_pieces(fh: Any, threaded: bool) -> Iterator[bytes]:
    """The bytes of ``fh`` as they come; from a pipe, a thread keeps reading while the
    caller works, so the walk writing into it does not wait."""
    if not threaded:
        while piece := fh.read(1 << 22):
            yield piece
        return
    import queue
    import threading

    # at most 256 pieces of at most 64 KiB wait: 16 MiB, however far the walk runs ahead
    pieces: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=256)
    done = threading.Event()

    def pump() -> None:
        try:
            while not done.is_set():
                piece = fh.read(1 << 16)
                pieces.put(piece)
                if not piece:
                    return
        except BaseException as exc:  # handed to the reading thread
            pieces.put(exc)

    thread = threading.Thread(target=pump, name="mrt-stream", daemon=True)
    thread.start()
    try:
        while True:
            item = pieces.get()
            if isinstance(item, BaseException):
                raise item
            if not item:
                return
            yield item
    finally:
        done.set()
        with contextlib.suppress(queue.Empty):
            while True:
                pieces.get_nowait()


@dataclass
class _Chunk:
    """Complete records of the checked stream: the bytes, as numpy, the records' offsets and
    their headers (time, type, subtype, body length), read once per chunk."""

    data: bytes
    buf: np.ndarray
    off: np.ndarray
    ts: np.ndarray
    typ: np.ndarray
    sub: np.ndarray
    length: np.ndarray

    @classmethod
    def of(cls, data: bytes, offsets: list[int]) -> _Chunk:
        import numpy as np

        from takedowns.routing.fast_walk import headers

        buf = np.frombuffer(data, dtype=np.uint8)
        off = np.array(offsets, dtype=np.int64)
        return cls(data, buf, off, *headers(buf, off))

    def arrays(self) -> tuple[np.ndarray, ...]:
        """buf, off, ts, typ, sub, length."""
        return self.buf, self.off, self.ts, self.typ, self.sub, self.length

    def peer_tables(self) -> np.ndarray:
        """The indexes of the PEER_INDEX_TABLE records."""
        import numpy as np

        return np.flatnonzero((self.typ == 13) & (self.sub == 1))

    def record(self, k: int) -> bytes:
        return self.data[int(self.off[k]) : int(self.off[k]) + 12 + int(self.length[k])]


def _parse_checked_stream(
    path: str,
    sink: _Sink,
    *,
    workdir: Path,
    name: str,
    kind: str,
    collector: str,
    watch: Watch | None,
    batch_rows: int,
    close_fd: int | None = None,
) -> int:
    """Turn the checked records at ``path`` into rows, a chunk of records at a time, append
    the kept elements to ``sink`` and return how many elements were read (as
    :func:`_parse_stream`, which it replaces).

    The plain records become rows directly from their bytes
    (:mod:`takedowns.routing.element_columns`, :func:`_direct_rows`): in a RIB, the
    TABLE_DUMP IPv4 entries and the TABLE_DUMP_V2 RIB_IPV4_UNICAST entries of IPv4 peers; in
    an update file, the BGP4MP messages of IPv4 sessions (AS4_PATH merged where both paths
    are one AS_SEQUENCE). The others (TABLE_DUMP entries the walk rewrote to merge AS4_PATH,
    other AS4_PATH merges, IPv6 peers and sessions) go to pybgpkit-parser, with the
    PEER_INDEX_TABLE in force (:func:`_parsed_rows`), and the rows keep the records'
    order."""
    import numpy as np

    threaded = close_fd is not None
    try:
        fh = open(path, "rb", buffering=0)  # noqa: SIM115 - closed below
    finally:
        if close_fd is not None:
            os.close(close_fd)  # the reader holds its own descriptor
    returned = 0
    pit = b""  # the latest PEER_INDEX_TABLE record, for the parser's next chunk
    carry = b""
    try:
        pending: list[bytes] = []
        size = 0
        for piece in _with_end(_stream_pieces(fh, threaded)):
            if piece:
                pending.append(piece)
                size += len(piece)
                if size < RIB_CHUNK_BYTES:
                    continue
            data = carry + b"".join(pending)
            pending, size = [], 0
            offsets, stop = _records_of(data)
            carry = data[stop:]
            if not offsets:
                continue
            chunk = _Chunk.of(data, offsets)
            direct, table, rows_k, read = _direct_rows(
                chunk, kind=kind, collector=collector, name=name, watch=watch, pit=pit
            )
            tables = chunk.peer_tables()
            chunk_pit, pit = pit, chunk.record(int(tables[-1])) if tables.size else pit
            returned += read
            others = np.flatnonzero(~direct)
            if not others.size:
                if table is not None:
                    sink.write(table)
                continue
            parsed = _parsed_rows(chunk, others, chunk_pit, workdir, name)
            returned += parsed.height
            frames = [
                elements_frame(
                    parsed.slice(start, batch_rows),
                    kind=kind,
                    collector=collector,
                    source_file=name,
                    watch=watch,
                    extra=["_k"],
                )
                for start in range(0, parsed.height, batch_rows)
            ]
            if table is not None and table.num_rows:
                import polars as pl

                frames.append(pl.from_arrow(table).with_columns(_k=pl.Series(rows_k)))  # type: ignore[union-attr]
                merged = pl.concat(frames).sort("_k", maintain_order=True).drop("_k")
                sink.write(merged)
            else:
                for frame in frames:
                    sink.write(frame.drop("_k"))
    finally:
        fh.close()  # a walk still writing sees EPIPE
    return returned


def _direct_rows(
    chunk: _Chunk,
    *,
    kind: str,
    collector: str,
    name: str,
    watch: Watch | None,
    pit: bytes = b"",
) -> tuple[np.ndarray, pa.Table | None, np.ndarray, int]:
    """The rows of the chunk's plain records: which records they cover, the kept rows
    (Arrow, :data:`ELEMENT_SCHEMA`) with each row's record index, and how many elements
    those records hold. ``pit``: the PEER_INDEX_TABLE record in force at the chunk's start
    (TABLE_DUMP_V2 entries name their peers by index into it)."""
    import numpy as np
    import pyarrow as pa

    # a PEER_INDEX_TABLE holds no elements: read here, and given to the parser with the
    # records it reads (:func:`_parsed_rows`)
    direct = np.zeros(len(chunk.off), dtype=bool)
    direct[chunk.peer_tables()] = True
    pieces = []
    if kind == "rib":
        pieces.append(_table_dump_units(chunk))
        pieces += _table_dump_v2_units(chunk, pit)
    else:
        pieces.append(_bgp4mp_units(chunk))
    tables, keys, read = [], [], 0
    for piece in pieces:
        if piece is None:
            continue
        table, rows, covered, elements = _piece_rows(
            chunk.buf, *piece, kind=kind, collector=collector, name=name, watch=watch
        )
        direct[covered] = True
        read += elements
        if table is not None:
            tables.append(table)
            keys.append(rows)
    if not tables:
        return direct, None, np.zeros(0, dtype=np.int64), read
    if len(tables) == 1:
        return direct, tables[0], keys[0], read
    key = np.concatenate(keys)
    order = np.argsort(key, kind="stable")
    from takedowns.arrow_buffers import from_numpy

    table = pa.concat_tables(tables).take(from_numpy(order.astype(np.int64), pa.int64()))
    return direct, table, key[order], read


def _piece_rows(
    buf: np.ndarray,
    cand: np.ndarray,
    unit_record: np.ndarray,
    plain: np.ndarray,
    decoded: Any,
    *,
    kind: str,
    collector: str,
    name: str,
    watch: Watch | None,
) -> tuple[pa.Table | None, np.ndarray, np.ndarray, int]:
    """The rows of one kind of plain record: ``cand`` are the records' indexes in the
    chunk, ``plain`` says which are plain, ``decoded`` holds their units (a record, or a
    TABLE_DUMP_V2 entry) and ``unit_record`` each unit's record (into ``cand``). Returns the
    kept rows, each row's record index, the records covered and their element count."""
    import numpy as np

    from takedowns.routing import element_columns as columns

    plain = plain.copy()
    plain[unit_record[~columns.direct_ok(decoded)]] = False
    covered = cand[plain]
    units = plain[unit_record]
    decoded = columns.only_records(decoded, units)
    read = len(decoded.rec)
    if not read:
        return None, np.zeros(0, dtype=np.int64), covered, 0
    table, rows = columns.element_table(
        buf,
        decoded,
        kind=kind,
        collector=collector,
        source_file=name,
        asns=None if watch is None else sorted(watch.asns),
        ranges=() if watch is None else watch.ranges,
    )
    return table, cand[unit_record[np.flatnonzero(units)][rows]], covered, read


def _table_dump_units(chunk: _Chunk) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any] | None:
    """The plain TABLE_DUMP IPv4 entries of a chunk, as :func:`_piece_rows` takes them."""
    import numpy as np

    from takedowns.routing import element_columns as columns
    from takedowns.routing.fast_walk import _u32, table_dump_v4

    buf, off, ts, typ, sub, length = chunk.arrays()
    cand = np.flatnonzero((typ == 12) & (sub == 1))
    if not cand.size:
        return None
    found = table_dump_v4(buf, off[cand], length[cand], None, None, None, True)
    body = off[cand] + 12
    units = np.arange(len(cand), dtype=np.int64)
    decoded = columns.decoded_from(
        found,
        ts=ts[cand],
        withdrawn=None,
        peer_ip=found.peer_ip,
        peer_asn=found.peer_as,
        prefix=_u32(buf, np.where(found.plain, body + 4, 0)),
        length=buf[np.where(found.plain, body + 8, 0)].astype(np.int64),
        rec=units,
    )
    return cand, units, found.plain, decoded


def _table_dump_v2_units(
    chunk: _Chunk, pit: bytes
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, Any]]:
    """The entries of the plain TABLE_DUMP_V2 RIB_IPV4_UNICAST records of a chunk, one unit
    per entry, as :func:`_piece_rows` takes them: one piece per PEER_INDEX_TABLE in force
    (``pit`` at the chunk's start, then each one the chunk holds)."""
    import numpy as np

    from takedowns.routing import element_columns as columns
    from takedowns.routing.fast_walk import PeerIndex, table_dump_v2_v4

    buf, off, ts, typ, sub, length = chunk.arrays()
    cand = np.flatnonzero((typ == 13) & (sub == 2))
    tables = chunk.peer_tables()
    records = [pit] + [chunk.record(k) for k in tables.tolist()]
    which = np.searchsorted(tables, cand)  # 0: the table in force at the start
    pieces = []
    for t, record in enumerate(records):
        part = cand[which == t]
        entries = parse_peer_index(record, 12, len(record)) if record else None
        peers = None if entries is None else PeerIndex.of(entries)
        if peers is None or not part.size:
            continue  # no (well-formed) table: the parser's, which refuses or reads them
        found = table_dump_v2_v4(buf, off[part], length[part], peers)
        units = found.ent_rec
        decoded = columns.decoded_from(
            found,
            ts=ts[part][units],
            withdrawn=None,
            peer_ip=peers.ip[found.ent_peer],
            peer_asn=peers.asn[found.ent_peer],
            prefix=found.prefix[units],
            length=found.length[units],
            rec=np.arange(len(units), dtype=np.int64),
        )
        pieces.append((part, units, found.plain, decoded))
    return pieces


def _bgp4mp_units(chunk: _Chunk) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any] | None:
    """The plain BGP4MP messages of a chunk (one unit per record; its elements are the
    decoded rows), as :func:`_piece_rows` takes them."""
    import numpy as np

    from takedowns.routing import element_columns as columns
    from takedowns.routing.fast_walk import bgp4mp_v4

    buf, off, ts, typ, sub, length = chunk.arrays()
    cand = np.flatnonzero((typ == 16) & ((sub == 1) | (sub == 4)))
    if not cand.size:
        return None
    found = bgp4mp_v4(
        buf, off[cand], length[cand], sub[cand], None, None, None, True,
        sessions_v6=False, as4_merge=True,
    )  # fmt: skip
    decoded = columns.decoded_from(
        found,
        ts=ts[cand][found.el_rec],
        withdrawn=found.el_withdrawn,
        peer_ip=found.peer_v4()[found.el_rec],
        peer_asn=found.peer_as[found.el_rec],
        prefix=found.el_prefix,
        length=found.el_length,
        rec=found.el_rec,
    )
    return cand, np.arange(len(cand), dtype=np.int64), found.plain, decoded


def _parsed_rows(
    chunk: _Chunk, others: np.ndarray, pit: bytes, workdir: Path, name: str
) -> pl.DataFrame:
    """pybgpkit-parser's raw rows of the chunk's records at ``others`` (with ``_k``, each
    row's record index), after ``pit``, the PEER_INDEX_TABLE record in force at the chunk's
    start; the chunk's own peer tables go with them."""
    import numpy as np
    import polars as pl

    others = np.union1d(others, chunk.peer_tables())
    parsed = _parse_records(
        chunk.data,
        chunk.off[others],
        chunk.ts[others],
        chunk.length[others],
        pit,
        workdir / "chunk.mrt",
        name,
    )
    return parsed.with_columns(_k=pl.Series(others[parsed["_k"].to_numpy()]))


def _with_end(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """``pieces``, then one empty piece (the end of the stream)."""
    yield from pieces
    yield b""


def _parse_records(
    data: bytes,
    off: np.ndarray,
    ts: np.ndarray,
    length: np.ndarray,
    pit: bytes,
    tmp: Path,
    name: str,
) -> pl.DataFrame:
    """pybgpkit-parser's IPv4 elements of the records at ``off`` (after ``pit``, the
    PEER_INDEX_TABLE that TABLE_DUMP_V2 records refer to), as a raw frame with ``_k``, the
    position in ``off`` of the record each element came from.

    The parser is given each record with its position in place of its time (the parser
    gives every element of a record that record's time), so the elements are mapped to their
    records exactly; ``ts`` (the records' times) is put back, with any microseconds."""
    import numpy as np
    import polars as pl
    from pybgpkit_parser import Parser

    mv = memoryview(data)
    with open(tmp, "wb") as out:
        out.write(pit)
        for k, (o, n) in enumerate(zip(off.tolist(), length.tolist(), strict=True)):
            out.write(k.to_bytes(4, "big"))
            out.write(mv[o + 4 : o + 12 + n])
    try:
        elements = list(Parser(str(tmp), filters={"ip_version": "4"}))
    except BaseException as exc:  # pyo3 raises PanicException (a BaseException)
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise MalformedInput(f"{name}: pybgpkit-parser failed ({exc})") from exc
    raw = _raw_frame(elements)
    stamp = raw["ts"].to_numpy()
    k = np.floor(stamp).astype(np.int64)
    if len(k) and (k.min() < 0 or k.max() >= len(off) or (np.diff(k) < 0).any()):
        raise MalformedInput(f"{name}: pybgpkit-parser returned elements out of record order")
    return raw.with_columns(
        ts=pl.Series(ts[k].astype(np.float64) + (stamp - k)), _k=pl.Series(k, dtype=pl.Int64)
    )


# --------------------------------------------------------------------------------------------
# One file


def file_kind(path: Path) -> str:
    """``rib`` for ``rib.*``/``bview.*`` dumps, ``updates`` for ``updates.*``; otherwise the
    type of the first MRT record decides."""
    name = Path(path).name
    if name.startswith(("rib.", "bview.")):
        return "rib"
    if name.startswith("updates."):
        return "updates"
    probe = WalkResult()
    for chunk in decompressed_chunks(Path(path), probe):
        if len(chunk) >= 6:
            mrt_type = int.from_bytes(chunk[4:6], "big")
            return "rib" if mrt_type in (12, 13) else "updates"
        break
    return "updates"


def file_time(name: str) -> dt.datetime | None:
    """The dump time in a RouteViews/RIS file name (``rib.20080501.0644.bz2``), if any."""
    match = _FILE_TIME_RE.search(Path(name).name)
    if not match:
        return None
    return dt.datetime.strptime(match[1] + match[2], "%Y%m%d%H%M").replace(tzinfo=dt.UTC)


def peers_table(result: WalkResult, *, source_file: str, collector: str, kind: str) -> pa.Table:
    """One row per peer of the file with its IPv4 and IPv6 element counts
    (:data:`PEER_SCHEMA`)."""
    import numpy as np
    import pyarrow as pa

    from takedowns.arrow_buffers import constant, from_numpy, strings
    from takedowns.routing.element_columns import PEER_ARROW_SCHEMA

    def stamp(ts: int | None) -> dt.datetime | None:
        return None if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC)

    def times(moment: dt.datetime | None) -> pa.Array:
        micros = 0 if moment is None else round(moment.timestamp() * 1_000_000)
        valid = np.full(n, moment is not None)
        return from_numpy(np.full(n, micros, dtype=np.int64), stamp_type, valid=valid)

    n = len(result.peers)
    stamp_type = PEER_ARROW_SCHEMA.field("file_time").type
    named = file_time(source_file) or stamp(result.first_time)
    ips, asns, v4, v6 = zip(*result.peers, strict=True) if n else ((), (), (), ())
    columns = {
        "source_file": constant(source_file, n),
        "collector": constant(collector, n),
        "kind": constant(kind, n),
        "file_time": times(named),
        "first_time": times(stamp(result.first_time)),
        "last_time": times(stamp(result.last_time)),
        "peer_ip": strings(list(ips)),
        "peer_asn": from_numpy(np.array(asns, dtype=np.uint32), pa.uint32()),
        "elements_ipv4": from_numpy(np.array(v4, dtype=np.int64), pa.int64()),
        "elements_ipv6": from_numpy(np.array(v6, dtype=np.int64), pa.int64()),
    }
    return pa.table([columns[f.name] for f in PEER_ARROW_SCHEMA], schema=PEER_ARROW_SCHEMA)


class _Walk:
    """The framing walk, in a child process (streaming through a pipe) or in-process."""

    def __init__(self, raw: Path, workdir: Path, routing: Routing, parallel: bool) -> None:
        self.raw, self.workdir, self.routing, self.parallel = raw, workdir, routing, parallel
        self.result_path = workdir / "walk.json"
        self.records_path = workdir / "records.mrt"
        self.proc: subprocess.Popen[bytes] | None = None
        self.read_fd: int | None = None
        self.result: WalkResult | None = None

    def start(self) -> str:
        """Start the walk; return the path the parser reads the checked records from."""
        if not self.parallel:
            with open(self.records_path, "wb") as out:
                self.result = walk(self.raw, replace(self.routing, out=out))
            return str(self.records_path)
        read_fd, write_fd = os.pipe()
        spec = {
            "source": str(self.raw),
            "out_fd": write_fd,
            "ranges": [list(r) for r in self.routing.ranges],
            "asns": None if self.routing.asns is None else sorted(self.routing.asns),
            "result_path": str(self.result_path),
        }
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_SRC_DIR), env.get("PYTHONPATH")]))
        self.stderr = open(self.workdir / "walk.err", "wb")  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "takedowns.routing.walk", json.dumps(spec)],
                pass_fds=(write_fd,),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self.stderr,
                env=env,
            )
        finally:
            os.close(write_fd)
        self.read_fd = read_fd
        return f"/dev/fd/{read_fd}"

    def finish(self, name: str) -> WalkResult:
        """Wait for the walk and return what it found."""
        if self.result is not None:
            return self.result
        assert self.proc is not None
        code = self.proc.wait()
        self.stderr.close()
        if code != 0 or not self.result_path.exists():
            err = (self.workdir / "walk.err").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{name}: the MRT framing walk failed (exit {code}): {err}")
        data = json.loads(self.result_path.read_text(encoding="utf-8"))
        data["peers"] = [tuple(p) for p in data["peers"]]
        self.result = WalkResult(**data)
        return self.result

    def abort(self) -> None:
        if self.read_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.read_fd)
            self.read_fd = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _summary(result: WalkResult) -> str:
    types = ", ".join(f"{k}={v}" for k, v in result.records_by_type.items()) or "none"
    note = (
        f"{result.compression}; MRT records by type/subtype: {types}; elements "
        f"ipv4={result.elements_ipv4} ipv6={result.elements_ipv6}"
    )
    if result.confed_paths:
        note += f"; AS_CONFED segments removed from {result.confed_paths} records"
    if result.as4_merged:
        note += f"; AS4_PATH merged into {result.as4_merged} TABLE_DUMP entries"
    return note


def normalize_mrt(
    raw: Path,
    out: Path,
    *,
    collector: str,
    source_file: str | None = None,
    watch: Watch | None = None,
    keep_all: bool = False,
    allow_partial: bool = False,
    max_malformed: int = 0,
    peers_out: Path | None = None,
    qc_out: Path | None = None,
    metadata: Mapping[str, str] | None = None,
    sha256: str = "",
    batch_rows: int = 20_000,
    parallel: bool | None = None,
    direct: bool = True,
) -> FileQC:
    """Normalize one MRT file to ``out`` (Parquet, :data:`ELEMENT_SCHEMA`) and return its QC.

    ``records_read`` counts MRT records; ``records_kept`` counts elements kept; ``skipped``
    counts, by reason, elements (``elements_ipv6``, ``elements_not_watched``,
    ``elements_ipv4_multicast``), records (``records_unknown_mrt_type``, ``records_not_bgp``,
    ``records_unsupported_subtype``, ``records_malformed``, ``records_incomplete``) or bytes
    (``bytes_trailing_garbage``). A file that is not MRT, a TABLE_DUMP_V2 RIB without its
    PEER_INDEX_TABLE, or a parser that disagrees with the independent count, raises
    :class:`MalformedInput` naming the file. So does a truncated file (a compressed stream
    without its end marker, a record running past the end, corrupt framing), unless
    ``allow_partial``: then its complete records are kept and QC says ``partial``. Malformed
    records beyond ``max_malformed`` fail too; for these two errors the QC record is written
    to ``qc_out`` (when given) before the error is raised, and travels with it as ``.qc``.

    ``parallel``: walk in a child process that pipes the checked records to the parser (two
    cores); False walks first, in this process, into a temporary file. The default picks the
    child process for files above :data:`PARALLEL_FROM_BYTES`.

    ``direct``: build the rows of plain records from their bytes
    (:func:`_parse_checked_stream`); False gives every checked record to pybgpkit-parser
    (:func:`_parse_stream`), which is slower and gives the same table (the tests compare them).
    """
    raw, out = Path(raw), Path(out)
    name = source_file or str(raw)
    if not raw.is_file():
        raise MalformedInput(f"{name}: no such file")
    if watch is None and not keep_all:
        raise ValueError("normalize_mrt needs a watch, or keep_all=True")
    kind = file_kind(raw)
    if parallel is None:
        parallel = raw.stat().st_size >= PARALLEL_FROM_BYTES
    keep = None if keep_all else watch
    routing = Routing(
        out=None,
        ranges=keep.ranges if keep else (),
        asns=None if keep is None else keep.asns,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        workdir = Path(tmp)
        part = workdir / "elements.parquet"
        walker = _Walk(raw, workdir, routing, parallel)
        sink = None
        try:
            stream = walker.start()
            sink = _Sink(part, metadata)
            returned = 0
            if not (walker.result and walker.result.fatal):
                fd, walker.read_fd = walker.read_fd, None
                how = {
                    "name": name,
                    "kind": kind,
                    "collector": collector,
                    "watch": keep,
                    "batch_rows": batch_rows,
                    "close_fd": fd,
                }
                if direct:
                    returned = _parse_checked_stream(stream, sink, workdir=workdir, **how)
                else:
                    returned = _parse_stream(stream, sink, **how)
            result = walker.finish(name)
            if result.fatal:
                raise MalformedInput(f"{name}: {result.fatal}")
            _check_kind(result, kind, name)
            if returned != result.forwarded_ipv4:
                raise MalformedInput(
                    f"{name}: {returned} IPv4 elements were read from records that hold "
                    f"{result.forwarded_ipv4}: pybgpkit-parser skipped some or stopped early"
                )
        finally:
            if sink is not None:
                sink.close()
            walker.abort()
        assert sink is not None
        qc = _file_qc(result, name, sink.rows)
        qc.sha256 = sha256
        if qc.truncated:
            qc.status = "partial" if allow_partial else "truncated"
        error = _qc_error(qc, result, name, allow_partial, max_malformed)
        if qc_out is not None:
            qc.write(Path(qc_out))
        if error is not None:
            error.qc = qc  # type: ignore[attr-defined]
            raise error
        part.replace(out)
        if peers_out is not None:
            from takedowns.tables import write_parquet

            peers = peers_table(result, source_file=name, collector=collector, kind=kind)
            write_parquet(peers, Path(peers_out), metadata=dict(metadata or {}))
    return qc


def _check_kind(result: WalkResult, kind: str, name: str) -> None:
    if len(result.kinds) > 1:
        raise MalformedInput(f"{name}: holds both RIB (TABLE_DUMP) and update (BGP4MP) records")
    if result.kinds and result.kinds[0] != kind:
        raise MalformedInput(
            f"{name}: the file name says {kind}, but its records are {result.kinds[0]} records"
        )


def _file_qc(result: WalkResult, name: str, kept: int) -> FileQC:
    qc = FileQC(stage="routing", source_file=name, records_read=result.records_read)
    qc.records_kept = kept
    for reason, count in sorted(result.skipped.items()):
        qc.skip(reason, count)
    multicast = result.skipped.get("elements_ipv4_multicast", 0)
    qc.skip("elements_not_watched", result.elements_ipv4 - multicast - kept)
    qc.truncated = result.truncated
    qc.note = _summary(result)
    if result.truncated:
        qc.note = f"TRUNCATED: {result.truncation}; " + qc.note
    return qc


def _qc_error(
    qc: FileQC, result: WalkResult, name: str, allow_partial: bool, max_malformed: int
) -> MalformedInput | None:
    if qc.truncated and not allow_partial:
        return MalformedInput(
            f"{name}: truncated or corrupt ({result.truncation}); its {result.records_read} "
            f"complete records were read, but a partial file is refused "
            "(set qc.allow_partial_files: true to keep it, flagged 'partial' in QC)"
        )
    malformed = FileQC(stage="routing", source_file=name)
    malformed.skip("records_malformed", result.skipped.get("records_malformed", 0))
    if result.skipped.get("bytes_trailing_garbage"):  # one stretch of bytes: one bad record
        malformed.skip("trailing_garbage", 1)
    examples = {
        ("trailing_garbage" if k == "bytes_trailing_garbage" else k): v
        for k, v in result.examples.items()
        if k in MALFORMED_REASONS
    }
    try:
        enforce_malformed_limit(malformed, max_malformed, examples)
    except MalformedInput as exc:
        return exc
    return None


def normalize_routing_file(
    raw: Path,
    out: Path,
    peers_out: Path,
    qc_out: Path,
    *,
    collector: str,
    source_file: str,
    config: Mapping[str, Any],
    prefix_origin: Path | None,
    sha256: str = "",
    metadata: Mapping[str, str] | None = None,
) -> FileQC:
    """:func:`normalize_mrt` as the workflow runs it: the watch from the config and
    ``prefix_origin`` (unless ``routing.keep_all``), QC limits from ``qc.*``."""
    keep_all = bool(config["routing"]["keep_all"])  # as routing_sources.routing_settings
    watch = None
    if not keep_all:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = ["start_ip", "end_ip", "origins", "first_day", "last_day"]
        # ParquetFile, not read_table: that loads pyarrow.dataset, and pandas with it (0.3 s)
        table = pq.ParquetFile(prefix_origin).read(columns) if prefix_origin else pa.table({})
        watch = watch_for_config(config, table)
    return normalize_mrt(
        raw,
        out,
        collector=collector,
        source_file=source_file,
        watch=watch,
        keep_all=keep_all,
        allow_partial=bool(config["qc"]["allow_partial_files"]),
        max_malformed=int(config["qc"]["max_malformed_records"]),
        peers_out=peers_out,
        qc_out=qc_out,
        metadata=metadata,
        sha256=sha256,
    )


def write_missing_routing_file(
    out: Path,
    peers_out: Path,
    qc_out: Path,
    *,
    source_file: str,
    sha256: str,
    metadata: Mapping[str, str] | None,
) -> FileQC:
    """Empty element and peer tables and QC status ``missing`` for a routing file that is
    truncated at the source and counted as missing (``routing.allow_missing_files``)."""
    from takedowns.tables import write_parquet

    qc = FileQC(stage="routing", source_file=source_file, sha256=sha256, status="missing")
    qc.truncated = True
    qc.note = (
        "truncated_at_source; counted as missing (routing.allow_missing_files: true, "
        "qc.allow_partial_files: false)"
    )
    from takedowns.routing.element_columns import ELEMENT_ARROW_SCHEMA, PEER_ARROW_SCHEMA

    for schema, path in ((ELEMENT_ARROW_SCHEMA, out), (PEER_ARROW_SCHEMA, peers_out)):
        write_parquet(schema.empty_table(), Path(path), metadata=dict(metadata or {}))
    qc.write(Path(qc_out))
    return qc


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m takedowns.routing.mrt RAW --out ... --config-json ...``: one workflow job.

    Runs :func:`normalize_routing_file` in its own process: pybgpkit-parser holds the GIL
    while it parses, so normalize jobs run as threads of one Snakemake process would take
    turns on one core.
    """
    import argparse

    from takedowns.joblog import job_log
    from takedowns.provenance import parquet_metadata
    from takedowns.sources.ledger import recorded_status, truncated_at_source_error, verify_raw

    parser = argparse.ArgumentParser(prog="python -m takedowns.routing.mrt", description=__doc__)
    parser.add_argument("raw", type=Path, help="the raw MRT file (data/raw/<host>/<path>)")
    parser.add_argument("--out", type=Path, required=True, help="element table (Parquet)")
    parser.add_argument("--peers", type=Path, required=True, help="peer table (Parquet)")
    parser.add_argument("--qc", type=Path, required=True, help="QC record (JSON)")
    parser.add_argument("--collector", required=True)
    parser.add_argument("--source-file", help="name recorded in the tables (default: raw)")
    parser.add_argument("--prefix-origin", type=Path, help="prefix_origin.parquet (the watch)")
    parser.add_argument("--config-json", required=True, help="the workflow's config as JSON")
    parser.add_argument("--checksums", type=Path, help="verify raw against this SHA256SUMS")
    parser.add_argument("--log", type=Path)
    args = parser.parse_args(argv)
    config = json.loads(args.config_json)
    source = args.source_file or str(args.raw)
    with job_log(args.log) as logger:
        sha = verify_raw(args.raw, args.checksums) if args.checksums else ""
        status = recorded_status(args.raw, args.checksums) if args.checksums else "complete"
        at_source = status == "truncated_at_source"
        if at_source and not config["qc"]["allow_partial_files"]:
            if not config["routing"]["allow_missing_files"]:
                print(f"takedowns: {truncated_at_source_error(source)}", file=sys.stderr)
                return 1
            qc = write_missing_routing_file(
                args.out,
                args.peers,
                args.qc,
                source_file=source,
                sha256=sha,
                metadata=parquet_metadata(config, source=source),
            )
            logger.warning("%s: %s", source, qc.note)
            return 0
        try:
            qc = normalize_routing_file(
                args.raw,
                args.out,
                args.peers,
                args.qc,
                collector=args.collector,
                source_file=source,
                config=config,
                prefix_origin=args.prefix_origin,
                sha256=sha,
                metadata=parquet_metadata(config, source=source),
            )
        except MalformedInput as exc:
            print(f"takedowns: {exc}", file=sys.stderr)
            return 1
        if at_source:
            qc.status = "partial"
            qc.note = f"truncated_at_source; {qc.note}"
            qc.write(args.qc)
        logger.info(
            "%s: %d records, %d elements kept, skipped %s%s",
            source,
            qc.records_read,
            qc.records_kept,
            qc.skipped or "none",
            f" ({qc.status})" if qc.status != "ok" else "",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
