"""The element table built straight from decoded records, with numpy and pyarrow.

:mod:`takedowns.routing.fast_walk` decodes the plain records of a chunk (TABLE_DUMP IPv4
entries, BGP4MP messages of IPv4 sessions) into arrays: per element its time, peer, prefix,
whether it is a withdrawal and the record it came from; per record its AS_PATH segments.
:func:`element_table` turns them into the columns of the element table
(:data:`ELEMENT_ARROW_SCHEMA`, the same as ``takedowns.routing.mrt.ELEMENT_SCHEMA``) with
the values :func:`takedowns.routing.mrt.elements_frame` derives from pybgpkit-parser's text
for the same records; the tests normalize every file both ways and compare the tables.

No polars is loaded on this path: a job whose records are all plain (most update files)
starts and ends without it. :func:`direct_ok` names the few records whose rows are left to
the parser instead (an empty AS_PATH segment, more than one AS_SET).
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from takedowns.arrow_buffers import constant, from_numpy, strings, text
from takedowns.routing.fast_walk import _overlapping, asn_values

#: The element table's Arrow schema (what polars writes for ``mrt.ELEMENT_SCHEMA``).
ELEMENT_ARROW_SCHEMA = pa.schema(
    [
        ("time", pa.timestamp("us", tz="UTC")),
        ("collector", pa.large_string()),
        ("kind", pa.large_string()),
        ("peer_ip", pa.large_string()),
        ("peer_asn", pa.uint32()),
        ("prefix", pa.large_string()),
        ("start_ip", pa.uint32()),
        ("end_ip", pa.uint32()),
        ("length", pa.uint8()),
        ("as_path", pa.large_list(pa.uint32())),
        ("as_path_text", pa.large_string()),
        ("origins", pa.large_list(pa.uint32())),
        ("upstream_asn", pa.uint32()),
        ("source_file", pa.large_string()),
    ]
)
#: The peer table's Arrow schema (what polars writes for ``mrt.PEER_SCHEMA``).
PEER_ARROW_SCHEMA = pa.schema(
    [
        ("source_file", pa.large_string()),
        ("collector", pa.large_string()),
        ("kind", pa.large_string()),
        ("file_time", pa.timestamp("us", tz="UTC")),
        ("first_time", pa.timestamp("us", tz="UTC")),
        ("last_time", pa.timestamp("us", tz="UTC")),
        ("peer_ip", pa.large_string()),
        ("peer_asn", pa.uint32()),
        ("elements_ipv4", pa.int64()),
        ("elements_ipv6", pa.int64()),
    ]
)
_SET = 1  # AS_SET segment type


@dataclass
class Decoded:
    """Elements of plain records and the records' AS paths.

    Per element: ``ts`` (seconds), ``withdrawn`` (None in a RIB: every element is a route),
    ``peer_ip`` and ``prefix`` (IPv4 addresses as integers; the prefix as stored, host bits
    kept), ``peer_asn``, ``length`` and ``rec``, the index of its record. Per record:
    ``has_path`` (an AS_PATH attribute is present). Per AS_PATH segment, in path order within
    each record: ``seg_rec``, ``seg_type``, ``seg_n`` (ASNs), ``seg_at`` (offset of its first
    ASN in the buffer) and ``seg_size`` (2 or 4 bytes per ASN)."""

    ts: np.ndarray
    withdrawn: np.ndarray | None
    peer_ip: np.ndarray
    peer_asn: np.ndarray
    prefix: np.ndarray
    length: np.ndarray
    rec: np.ndarray
    has_path: np.ndarray
    seg_rec: np.ndarray
    seg_type: np.ndarray
    seg_n: np.ndarray
    seg_at: np.ndarray
    seg_size: np.ndarray


def decoded_from(
    found: object,
    *,
    ts: np.ndarray,
    withdrawn: np.ndarray | None,
    peer_ip: np.ndarray,
    peer_asn: np.ndarray,
    prefix: np.ndarray,
    length: np.ndarray,
    rec: np.ndarray,
) -> Decoded:
    """A :class:`Decoded` with the per-element values given and the records' paths from
    ``found``, a :mod:`takedowns.routing.fast_walk` result (``has_path`` and the ``seg_*``
    arrays; ASNs of 2 bytes where it has no ``seg_size``)."""
    seg_rec = found.seg_rec  # type: ignore[attr-defined]
    size = getattr(found, "seg_size", None)
    return Decoded(
        ts=ts,
        withdrawn=withdrawn,
        peer_ip=peer_ip,
        peer_asn=peer_asn,
        prefix=prefix,
        length=length,
        rec=rec,
        has_path=found.has_path,  # type: ignore[attr-defined]
        seg_rec=seg_rec,
        seg_type=found.seg_type,  # type: ignore[attr-defined]
        seg_n=found.seg_n,  # type: ignore[attr-defined]
        seg_at=found.seg_at,  # type: ignore[attr-defined]
        seg_size=np.full(len(seg_rec), 2, dtype=np.int64) if size is None else size,
    )


def direct_ok(decoded: Decoded) -> np.ndarray:
    """Per record: True where :func:`element_table` gives the parser's values. False for a
    record with an empty AS_PATH segment or more than one AS_SET (their text and tokens are
    the parser's to write)."""
    d = decoded
    m = len(d.has_path)
    ok = np.ones(m, dtype=bool)
    ok[d.seg_rec[d.seg_n == 0]] = False
    ok &= np.bincount(d.seg_rec[d.seg_type == _SET], minlength=m) <= 1
    return ok


def only_records(decoded: Decoded, keep: np.ndarray) -> Decoded:
    """``decoded`` restricted to the records where ``keep`` is True (renumbered)."""
    d = decoded
    index = np.cumsum(keep) - 1
    el = keep[d.rec]
    seg = keep[d.seg_rec]
    return Decoded(
        ts=d.ts[el],
        withdrawn=None if d.withdrawn is None else d.withdrawn[el],
        peer_ip=d.peer_ip[el],
        peer_asn=d.peer_asn[el],
        prefix=d.prefix[el],
        length=d.length[el],
        rec=index[d.rec[el]],
        has_path=d.has_path[keep],
        seg_rec=index[d.seg_rec[seg]],
        seg_type=d.seg_type[seg],
        seg_n=d.seg_n[seg],
        seg_at=d.seg_at[seg],
        seg_size=d.seg_size[seg],
    )


def _only_elements(decoded: Decoded, keep: np.ndarray) -> Decoded:
    d = decoded
    return replace(
        d,
        ts=d.ts[keep],
        withdrawn=None if d.withdrawn is None else d.withdrawn[keep],
        peer_ip=d.peer_ip[keep],
        peer_asn=d.peer_asn[keep],
        prefix=d.prefix[keep],
        length=d.length[keep],
        rec=d.rec[keep],
    )


@dataclass
class _Paths:
    """The records' AS paths as flat ASNs: ``asn`` in path order, ``start``/``count`` per
    record, and per record the origin(s) (``origin_start``/``origin_count`` into
    ``origins``) and the upstream ASN (-1: none)."""

    asn: np.ndarray
    start: np.ndarray
    count: np.ndarray
    origins: np.ndarray
    origin_start: np.ndarray
    origin_count: np.ndarray
    upstream: np.ndarray


def _last_of_runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sorted ``keys``: each distinct key and the index of its last occurrence."""
    last = np.flatnonzero(np.diff(keys, append=np.iinfo(np.int64).max) != 0)
    return keys[last], last


def _paths(buf: np.ndarray, d: Decoded) -> _Paths:
    """The records' ASNs, origins and upstreams from their segments (see :class:`_Paths`)."""
    m = len(d.has_path)
    asn = asn_values(buf, d.seg_at, d.seg_n, d.seg_size)
    count = np.bincount(d.seg_rec, weights=d.seg_n, minlength=m).astype(np.int64)
    start = np.cumsum(count) - count
    # per ASN: its record, its segment's type, whether it is the segment's last/first member
    asn_seg = np.repeat(np.arange(len(d.seg_n)), d.seg_n)
    asn_rec = d.seg_rec[asn_seg]
    asn_set = d.seg_type[asn_seg] == _SET
    seg_first = np.cumsum(d.seg_n) - d.seg_n
    first_of_seg = np.zeros(len(asn), dtype=bool)
    first_of_seg[seg_first[d.seg_n > 0]] = True
    # the last segment of each record that has segments
    seg_count = np.bincount(d.seg_rec, minlength=m)
    has_seg = seg_count > 0
    last_seg = (np.cumsum(seg_count) - 1)[has_seg]
    last_is_set = np.zeros(m, dtype=bool)
    last_is_set[has_seg] = d.seg_type[last_seg] == _SET
    # origins: the last ASN, or the members of a final AS_SET, sorted and unique
    origin_of = np.zeros(len(asn), dtype=bool)
    ends = start + count - 1
    plain_last = has_seg & ~last_is_set
    origin_of[ends[plain_last]] = True
    set_recs = np.flatnonzero(last_is_set)
    if set_recs.size:
        in_last = np.zeros(len(d.seg_n), dtype=bool)
        in_last[last_seg[last_is_set[has_seg]]] = True
        origin_of |= in_last[asn_seg]
    o_rec, o_val = asn_rec[origin_of], asn[origin_of]
    order = np.lexsort((o_val, o_rec))
    o_rec, o_val = o_rec[order], o_val[order]
    dup = np.zeros(len(o_val), dtype=bool)
    dup[1:] = (o_rec[1:] == o_rec[:-1]) & (o_val[1:] == o_val[:-1])
    o_rec, o_val = o_rec[~dup], o_val[~dup]
    origin_count = np.bincount(o_rec, minlength=m).astype(np.int64)
    # upstream: the last token that differs from the origin token; an AS_SET is one token
    # (-1 here), which is never a single upstream
    token = ~asn_set | first_of_seg
    t_rec = asn_rec[token]
    t_val = np.where(asn_set, -1, asn)[token]
    t_pos = np.flatnonzero(token)
    origin_token = np.full(m, -2, dtype=np.int64)
    recs, last = _last_of_runs(t_rec)  # tokens are in record order
    origin_token[recs] = t_val[last]
    differs = t_val != origin_token[t_rec]
    upstream = np.full(m, -1, dtype=np.int64)
    recs, last = _last_of_runs(t_rec[differs])
    at = t_pos[differs][last]
    upstream[recs] = np.where(asn_set[at], -1, asn[at])
    return _Paths(
        asn=asn,
        start=start,
        count=count,
        origins=o_val,
        origin_start=np.cumsum(origin_count) - origin_count,
        origin_count=origin_count,
        upstream=upstream,
    )


def _gather_lists(
    values: np.ndarray, start: np.ndarray, count: np.ndarray, rows: np.ndarray, valid: np.ndarray
) -> pa.Array:
    """A ``large_list<uint32>`` with, for each row, the ``count[r]`` values from
    ``start[r]`` of its record ``r = rows[i]``; null where not ``valid``."""
    n = np.where(valid, count[rows], 0)
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(n, out=offsets[1:])
    total = int(offsets[-1])
    index = np.repeat(start[rows] - offsets[:-1], n) + np.arange(total, dtype=np.int64)
    return pa.LargeListArray.from_arrays(
        from_numpy(offsets, pa.int64()),
        from_numpy(values[index].astype(np.uint32), pa.uint32()),
        mask=from_numpy(~valid, pa.bool_()),
    )


def _dotted(values: np.ndarray) -> pa.Array:
    """IPv4 addresses (integers) as dotted text."""
    uniq, index = np.unique(values, return_inverse=True)
    if len(uniq) * 4 < len(values):  # peers: a few addresses, many times
        texts = strings([socket.inet_ntoa(int(v).to_bytes(4, "big")) for v in uniq.tolist()])
        return texts.take(from_numpy(index.astype(np.int64), pa.int64()))
    octets = [
        from_numpy(((values >> s) & 255).astype(np.int64), pa.int64()).cast(pa.large_string())
        for s in (24, 16, 8, 0)
    ]
    return pc.binary_join_element_wise(*octets, text("."))


def _path_text(buf: np.ndarray, d: Decoded, paths: _Paths) -> pa.Array:
    """Per record, the AS path as the parser writes it: AS_SEQUENCE members joined by
    spaces, AS_SET members as ``{a,b}``, segments joined by spaces."""
    m = len(d.has_path)
    asn_text = from_numpy(paths.asn, pa.int64()).cast(pa.large_string())
    seg_offsets = np.zeros(len(d.seg_n) + 1, dtype=np.int64)
    np.cumsum(d.seg_n, out=seg_offsets[1:])
    members = pa.LargeListArray.from_arrays(from_numpy(seg_offsets, pa.int64()), asn_text)
    is_set = from_numpy(d.seg_type == _SET, pa.bool_())
    space = text(" ")
    segments = pc.if_else(
        is_set,
        pc.binary_join_element_wise(
            text("{"), pc.binary_join(members, text(",")), text("}"), text("")
        ),
        pc.binary_join(members, space),
    )
    rec_offsets = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(d.seg_rec, minlength=m), out=rec_offsets[1:])
    by_record = pa.LargeListArray.from_arrays(from_numpy(rec_offsets, pa.int64()), segments)
    return pc.binary_join(by_record, space)


def element_table(
    buf: np.ndarray,
    decoded: Decoded,
    *,
    kind: str,
    collector: str,
    source_file: str,
    asns: Sequence[int] | None,
    ranges: Sequence[tuple[int, int]],
) -> tuple[pa.Table, np.ndarray]:
    """The element table of ``decoded`` (every :func:`direct_ok` record), keeping, with
    ``asns`` not None, only the elements whose AS path holds one of ``asns`` or whose prefix
    overlaps one of ``ranges`` (merged, sorted); and the record index of each row."""
    d = decoded
    paths = _paths(buf, d)
    routed = d.has_path[d.rec]
    if d.withdrawn is not None:
        routed &= ~d.withdrawn
    host = (np.int64(1) << (32 - np.minimum(d.length, 32))) - 1
    start = d.prefix & ~host  # the network: host bits a record carries are cleared
    end = start | host
    if asns is not None:
        keep = np.zeros(len(d.rec), dtype=bool)
        if paths.asn.size and len(asns):
            asn_rec = np.repeat(np.arange(len(d.has_path)), paths.count)
            hit = np.zeros(len(d.has_path), dtype=bool)
            hit[asn_rec[np.isin(paths.asn, np.asarray(asns, dtype=np.int64))]] = True
            keep |= hit[d.rec] & routed
        if len(ranges):
            starts = np.array([s for s, _ in ranges], dtype=np.int64)
            stops = np.array([e for _, e in ranges], dtype=np.int64)
            keep |= _overlapping(d.prefix, d.length, starts, stops)
        d = _only_elements(d, keep)
        routed, start, end = routed[keep], start[keep], end[keep]
    n = len(d.rec)
    if d.withdrawn is None:
        kinds = constant(kind, n)
    else:
        kinds = strings(["announce", "withdraw"]).take(
            from_numpy(d.withdrawn.astype(np.int64), pa.int64())
        )
    length_text = from_numpy(d.length.astype(np.int64), pa.int64()).cast(pa.large_string())
    # the records' path texts and a null after them, for the rows without a path
    texts = pa.concat_arrays(
        [_path_text(buf, decoded, paths).cast(pa.large_string()), pa.nulls(1, pa.large_string())]
    )
    text_of = np.where(routed, d.rec, len(decoded.has_path)).astype(np.int64)
    has_origin = routed & (paths.count[d.rec] > 0)
    upstream = paths.upstream[d.rec]
    columns = {
        "time": from_numpy(d.ts.astype(np.int64) * 1_000_000, pa.timestamp("us", tz="UTC")),
        "collector": constant(collector, n),
        "kind": kinds,
        "peer_ip": _dotted(d.peer_ip),
        "peer_asn": from_numpy(d.peer_asn.astype(np.uint32), pa.uint32()),
        "prefix": pc.binary_join_element_wise(_dotted(d.prefix), length_text, text("/")),
        "start_ip": from_numpy(start.astype(np.uint32), pa.uint32()),
        "end_ip": from_numpy(end.astype(np.uint32), pa.uint32()),
        "length": from_numpy(d.length.astype(np.uint8), pa.uint8()),
        "as_path": _gather_lists(paths.asn, paths.start, paths.count, d.rec, routed),
        "as_path_text": texts.take(from_numpy(text_of, pa.int64())),
        "origins": _gather_lists(
            paths.origins, paths.origin_start, paths.origin_count, d.rec, has_origin
        ),
        "upstream_asn": from_numpy(
            upstream.astype(np.uint32), pa.uint32(), valid=routed & (upstream >= 0)
        ),
        "source_file": constant(source_file, n),
    }
    table = pa.table(
        [columns[f.name].cast(f.type) for f in ELEMENT_ARROW_SCHEMA],
        schema=ELEMENT_ARROW_SCHEMA,
    )
    return table, d.rec
