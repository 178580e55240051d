"""The MRT framing walk: decompress once, check every record, pick what the parser sees.

pybgpkit-parser (0.6.2, bgpkit-parser 0.11.1) is fast, but it is silent about what it does
not parse: on a truncated ``.bz2``/``.gz`` or a cut last record it simply stops; it stops for
good at an MRT type it does not know; it drops a record whose lengths are inconsistent; a
TABLE_DUMP_V2 RIB without its PEER_INDEX_TABLE yields nothing; an HTML page yields nothing;
and it does not merge AS4_PATH in TABLE_DUMP records. So this module reads the file itself,
independently of the parser (in a child process, see :func:`main`, or in-process):

* decompresses gzip or bzip2 (chosen by the magic bytes, multi-member streams included) in
  bounded chunks and notes whether the compressed stream reached its end-of-stream marker
  (:mod:`takedowns.routing.decompress`: isal for gzip; indexed_bzip2 on several threads for a bzip2
  file whose end-of-stream marker is in place, which is checked before anything is read, so
  a truncated bzip2 file is known before the walk and read with :mod:`bz2`);
* walks the 12-byte MRT headers, counts records by type, and checks each routing record's
  structure (lengths of attributes, AS_PATH segments, prefixes, peer indexes) without
  building Python objects for routes: it is a framing check, not a parser. The plain
  TABLE_DUMP IPv4 entries (the bulk of a 2007-2008 RouteViews RIB) and BGP4MP messages (the
  bulk of an update file) of a run of records are checked at once with numpy
  (:mod:`takedowns.routing.fast_walk`); every other record, and every one that code does not
  call plain, one by one, with the same counts and examples;
* counts the elements each record holds (IPv4 and IPv6 prefixes), so that the parser's output
  is checked against an independent count;
* forwards only complete, well-formed routing records with IPv4 prefixes to the parser:
  unknown MRT types, non-routing records, malformed and IPv6-only records are counted and
  left out; with a watch, only records with a prefix overlapping a watched range or a
  watched ASN in AS_PATH/AS4_PATH go on (the parser's own filters combine only with AND,
  and reading a path's ASNs here is cheaper than a parse of every record);
* removes AS_CONFED_SEQUENCE/AS_CONFED_SET segments from AS_PATH (RFC 5065: they are internal
  to the peer's confederation, never part of the inter-AS path), and rewrites a TABLE_DUMP
  entry whose 2-byte path holds AS23456 into an equivalent BGP4MP record with the merged
  4-byte path (RFC 6793), counting both.

It never decides which elements are kept: :mod:`takedowns.routing.mrt` does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import struct
import sys
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from takedowns.routing.decompress import (
    Bz2Fallback,
    bz2_parallel_chunks,
    bz2_tail_complete,
    default_threads,
    gzip_errors,
    new_decompressor,
    skip_output,
)

if TYPE_CHECKING:
    import numpy as np

#: MRT types registered in RFC 6396 (0-10 deprecated, 11 OSPFv2, 32/33 IS-IS, 48/49 OSPFv3).
KNOWN_MRT_TYPES = frozenset(range(0, 14)) | {16, 17, 32, 33, 48, 49}
TABLE_DUMP, TABLE_DUMP_V2, BGP4MP, BGP4MP_ET = 12, 13, 16, 17
#: A record longer than this is taken as corrupt framing, not as data.
MAX_RECORD_LENGTH = 1 << 24
#: Bytes of decompressed output handled per step (bounds memory).
CHUNK = 1 << 22
#: A run of framed records with at least this many TABLE_DUMP records is checked with numpy
#: (:mod:`takedowns.routing.fast_walk`); shorter runs, one record at a time.
FAST_FROM_RECORDS = 64
_HDR = struct.Struct(">IHHI")
_TD1_V4 = struct.Struct(">HHIBBI4sHH")  # view, seq, prefix, len, status, originated, peer, as, alen
_TD1_V6 = struct.Struct(">HH16sBBI16sHH")
_ENTRY = struct.Struct(">HIH")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
AS_TRANS = 23456
_AS_TRANS_BYTES = AS_TRANS.to_bytes(2, "big")


@dataclass
class WalkResult:
    """What the walk found in one file; :mod:`takedowns.routing.mrt` turns it into QC."""

    compression: str = "none"
    bytes_decompressed: int = 0
    records_read: int = 0
    records_by_type: dict[str, int] = field(default_factory=dict)
    elements_ipv4: int = 0
    elements_ipv6: int = 0
    forwarded_ipv4: int = 0  # IPv4 elements in the records passed on to the parser
    skipped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)
    truncated: bool = False
    truncation: str = ""
    fatal: str = ""
    kinds: list[str] = field(default_factory=list)
    peers: list[tuple[str, int, int, int]] = field(default_factory=list)
    first_time: int | None = None
    last_time: int | None = None
    confed_paths: int = 0
    as4_merged: int = 0  # TABLE_DUMP entries whose AS4_PATH was merged by the walk
    consumer_closed: bool = False

    def skip(self, reason: str, count: int = 1, example: str = "") -> None:
        """Count ``count`` skipped units for ``reason``, keeping the first example."""
        if count:
            self.skipped[reason] = self.skipped.get(reason, 0) + count
            if example and reason not in self.examples:
                self.examples[reason] = example


# --------------------------------------------------------------------------------------------
# Decompression


def _compression_of(head: bytes) -> str:
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:3] == b"BZh":
        return "bz2"
    return "none"


def _new_decompressor(kind: str) -> object:
    return new_decompressor(kind)


def describe_head(head: bytes) -> str:
    """A short description of a file's first bytes, for error messages."""
    text = head[:64].lstrip().lower()
    if text.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body")):
        return "an HTML page"
    shown = head[:24]
    return f"bytes {shown!r}"


def decompressed_chunks(
    path: Path, result: WalkResult, threads: int | None = None
) -> Iterator[bytes]:
    """Yield the decompressed contents of ``path`` in bounded chunks.

    Sets ``result.compression``, and ``result.truncated``/``truncation`` when a compressed
    stream ends before its end-of-stream marker or holds corrupt data. A bzip2 file that
    ends with its end-of-stream marker is decompressed by ``threads`` threads (default:
    :func:`takedowns.routing.decompress.default_threads`); one that does not is known to be
    truncated (or followed by other bytes) before it is read, and is read serially, so that
    its output ends exactly after its last complete block.
    """
    with open(path, "rb") as fh:
        head = fh.read(64)
        fh.seek(0)
        kind = _compression_of(head)
        result.compression = kind
        name = path.name.lower()
        expected = "gzip" if name.endswith(".gz") else "bz2" if name.endswith(".bz2") else None
        if expected and kind != expected:
            result.fatal = f"not {expected} data ({describe_head(head)}), although named {name}"
            return
        if kind == "none":
            while block := fh.read(CHUNK):
                yield block
            return
        skip = 0
        if kind == "bz2" and bz2_tail_complete(path):
            try:
                yield from bz2_parallel_chunks(path, CHUNK, threads or default_threads())
                return
            except Bz2Fallback as exc:
                skip = exc.done  # corrupt mid-file: the standard decompressor says where
        yield from skip_output(_serial_chunks(fh, kind, result), skip)


def _serial_chunks(fh: BinaryIO, kind: str, result: WalkResult) -> Iterator[bytes]:
    """The streaming decompression of ``fh`` (every member/stream), noting truncation,
    corruption and bytes after the last stream in ``result``."""
    errors = (OSError, EOFError, ValueError, *gzip_errors())
    decomp = _new_decompressor(kind)
    pending = b""
    while True:
        raw = pending or fh.read(1 << 20)
        pending = b""
        if not raw:
            break
        try:
            yield from _drain(decomp, raw, kind)
        except errors as exc:
            result.truncated = True
            result.truncation = f"corrupt {kind} data ({exc})"
            return
        if not decomp.eof:  # type: ignore[attr-defined]
            continue
        rest = decomp.unused_data or fh.read(1 << 20)  # type: ignore[attr-defined]
        if not rest:
            return  # the last stream ended exactly at the end of the file
        if _compression_of(rest) != kind:
            result.skip(
                "bytes_trailing_garbage",
                len(rest) + len(fh.read()),
                f"after the end of the {kind} stream: {rest[:16]!r}",
            )
            return
        decomp, pending = _new_decompressor(kind), rest  # a further member/stream
    if not decomp.eof:  # type: ignore[attr-defined]
        result.truncated = True
        result.truncation = f"the {kind} stream ends before its end-of-stream marker"


def _drain(decomp: object, raw: bytes, kind: str) -> Iterator[bytes]:
    """Feed ``raw`` to ``decomp``, yielding output at most :data:`CHUNK` bytes at a time."""
    if kind == "gzip":
        data = raw
        while True:
            out = decomp.decompress(data, CHUNK)  # type: ignore[attr-defined]
            if out:
                yield out
            data = decomp.unconsumed_tail  # type: ignore[attr-defined]
            if not data or decomp.eof:  # type: ignore[attr-defined]
                return
    else:
        out = decomp.decompress(raw, CHUNK)  # type: ignore[attr-defined]
        if out:
            yield out
        while not decomp.eof and not decomp.needs_input:  # type: ignore[attr-defined]
            out = decomp.decompress(b"", CHUNK)  # type: ignore[attr-defined]
            if out:
                yield out


# --------------------------------------------------------------------------------------------
# Record structure


def _v4_prefixes(data: bytes, i: int, end: int) -> list[tuple[int, int]] | None:
    """IPv4 NLRI between ``i`` and ``end`` as (first address, length); None if malformed."""
    out = []
    while i < end:
        plen = data[i]
        nbytes = (plen + 7) >> 3
        if plen > 32 or i + 1 + nbytes > end:
            return None
        value = int.from_bytes(data[i + 1 : i + 1 + nbytes], "big") << (8 * (4 - nbytes))
        out.append((value, plen))
        i += 1 + nbytes
    return out


def _v6_count(data: bytes, i: int, end: int) -> int:
    """Number of IPv6 prefixes between ``i`` and ``end``; -1 if malformed."""
    count = 0
    while i < end:
        plen = data[i]
        if plen > 128:
            return -1
        i += 1 + ((plen + 7) >> 3)
        count += 1
    return count if i == end else -1


@dataclass
class _Attrs:
    """What the attribute walk found in one attribute block."""

    error: str = ""
    confed: bool = False
    as_trans: bool = False  # a 2-byte AS_PATH holds AS23456
    as4_path: bool = False
    hit: bool = False  # a watched ASN is in AS_PATH or AS4_PATH
    mp_v4: list[tuple[int, int]] = field(default_factory=list)
    mp_v6: int = 0


def _path_hit(data: bytes, j: int, vend: int, size: int, watched: frozenset[int]) -> bool:
    """True when a segment of the (well-formed) path between ``j`` and ``vend`` holds one of
    ``watched``."""
    code = "H" if size == 2 else "I"
    while j < vend:
        count = data[j + 1]
        if not watched.isdisjoint(struct.unpack_from(f">{count}{code}", data, j + 2)):
            return True
        j += 2 + count * size
    return False


def walk_attributes(
    data: bytes, i: int, end: int, as_size: int, mp: bool, watched: frozenset[int] | None = None
) -> _Attrs:
    """Check an attribute block: every length fits; AS_PATH segments are well formed.

    With ``mp`` (BGP4MP UPDATEs) the MP_REACH/MP_UNREACH NLRI are counted by family; with
    ``watched``, ``hit`` says whether AS_PATH or AS4_PATH holds one of those ASNs.
    """
    found = _Attrs()
    while i < end:
        if i + 3 > end:
            found.error = "attribute header runs past the attribute block"
            return found
        flags, code = data[i], data[i + 1]
        if flags & 0x10:
            if i + 4 > end:
                found.error = "attribute header runs past the attribute block"
                return found
            alen = (data[i + 2] << 8) | data[i + 3]
            v = i + 4
        else:
            alen = data[i + 2]
            v = i + 3
        vend = v + alen
        if vend > end:
            found.error = f"attribute {code} length {alen} runs past the attribute block"
            return found
        if code == 2:
            j = v
            while j < vend:
                if j + 2 > vend:
                    found.error = "AS_PATH segment header runs past the attribute"
                    return found
                seg_type = data[j]
                if seg_type < 1 or seg_type > 4:
                    found.error = f"AS_PATH segment type {seg_type}"
                    return found
                if seg_type > 2:
                    found.confed = True
                j += 2 + data[j + 1] * as_size
            if j != vend:
                found.error = "AS_PATH segments do not fill the attribute"
                return found
            if as_size == 2 and _AS_TRANS_BYTES in data[v:vend]:
                found.as_trans = True
            if watched and not found.hit:
                found.hit = _path_hit(data, v, vend, as_size, watched)
        elif code == 17:
            found.as4_path = True
            j = v
            while j + 2 <= vend:
                j += 2 + data[j + 1] * 4
            if j != vend:
                found.error = "AS4_PATH segments do not fill the attribute"
                return found
            if watched and not found.hit:
                found.hit = _path_hit(data, v, vend, 4, watched)
        elif mp and code in (14, 15):
            if alen < 3:
                found.error = f"MP attribute {code} too short"
                return found
            afi = (data[v] << 8) | data[v + 1]
            if code == 14:
                if v + 4 > vend:
                    found.error = "MP_REACH_NLRI too short"
                    return found
                start = v + 4 + data[v + 3] + 1
            else:
                start = v + 3
            if start > vend:
                found.error = f"MP attribute {code} too short"
                return found
            if afi == 1:
                prefixes = _v4_prefixes(data, start, vend)
                if prefixes is None:
                    found.error = f"malformed IPv4 NLRI in MP attribute {code}"
                    return found
                found.mp_v4 += prefixes
            elif afi == 2:
                count = _v6_count(data, start, vend)
                if count < 0:
                    found.error = f"malformed IPv6 NLRI in MP attribute {code}"
                    return found
                found.mp_v6 += count
        i = vend
    return found


def _attributes(attrs: bytes) -> Iterator[tuple[int, int, int, int, int]]:
    """Flags, type code, start, value start and value end of each attribute of a block that
    :func:`walk_attributes` has checked."""
    i = 0
    while i < len(attrs):
        flags, code = attrs[i], attrs[i + 1]
        if flags & 0x10:
            alen, v = (attrs[i + 2] << 8) | attrs[i + 3], i + 4
        else:
            alen, v = attrs[i + 2], i + 3
        yield flags, code, i, v, v + alen
        i = v + alen


def strip_confed(attrs: bytes, as_size: int) -> bytes:
    """The attribute block with AS_CONFED_SEQUENCE/SET segments removed from AS_PATH."""
    out = bytearray()
    for flags, code, _, v, vend in _attributes(attrs):
        value = attrs[v:vend]
        if code == 2:
            kept = bytearray()
            j = 0
            while j < len(value):
                seg_type, count = value[j], value[j + 1]
                size = 2 + count * as_size
                if seg_type in (1, 2):
                    kept += value[j : j + size]
                j += size
            value = bytes(kept)
        if len(value) > 255:
            out += struct.pack(">BBH", flags | 0x10, code, len(value))
        else:
            out += struct.pack(">BBB", flags & ~0x10, code, len(value))
        out += value
    return bytes(out)


def _segments(value: bytes, as_size: int) -> list[tuple[int, list[int]]]:
    out = []
    j = 0
    while j < len(value):
        seg_type, count = value[j], value[j + 1]
        asns = [
            int.from_bytes(value[j + 2 + k * as_size : j + 2 + (k + 1) * as_size], "big")
            for k in range(count)
        ]
        out.append((seg_type, asns))
        j += 2 + count * as_size
    return out


def _path_length(segments: list[tuple[int, list[int]]]) -> int:
    """RFC 6793: an AS_SET counts as one, confederation segments not at all."""
    return sum(len(a) if t == 2 else 1 if t == 1 else 0 for t, a in segments)


def merge_as4_path(as_path: bytes, as4_path: bytes) -> list[tuple[int, list[int]]]:
    """RFC 6793 section 4.2.3: the leading ASNs of the 2-byte AS_PATH that AS4_PATH does not
    cover, then AS4_PATH; AS4_PATH is ignored when it is longer than AS_PATH."""
    old, new = _segments(as_path, 2), _segments(as4_path, 4)
    need = _path_length(old) - _path_length(new)
    if need < 0:
        return old
    lead: list[tuple[int, list[int]]] = []
    for seg_type, asns in old:
        if need <= 0:
            break
        if seg_type == 2:
            lead.append((2, asns[:need]))
            need -= len(asns[:need])
        elif seg_type == 1:
            lead.append((1, asns))
            need -= 1
    return lead + new


def v1_as_bgp4mp(data: bytes, pos: int, end: int) -> bytes:
    """A TABLE_DUMP (IPv4) entry whose AS_PATH holds AS23456, rewritten as a BGP4MP
    MESSAGE_AS4 UPDATE with the merged 4-byte path (pybgpkit-parser does not merge AS4_PATH
    in TABLE_DUMP records; it does in BGP4MP). Same time, peer, prefix and attributes, except
    AS4_PATH, AGGREGATOR and AS4_AGGREGATOR (their AS widths differ), which are dropped."""
    ts = _U32.unpack_from(data, pos)[0]
    body = pos + 12
    _, _, prefix, plen, _, _, peer, peer_as, _ = _TD1_V4.unpack_from(data, body)
    attrs = strip_confed(bytes(data[body + 22 : end]), 2)
    values: dict[int, bytes] = {}
    kept = bytearray()
    for _, code, start, v, vend in _attributes(attrs):
        values[code] = attrs[v:vend]
        if code not in (2, 7, 17, 18):
            kept += attrs[start:vend]
    merged = merge_as4_path(values.get(2, b""), values.get(17, b""))
    path = b"".join(
        struct.pack(">BB", t, len(a)) + b"".join(x.to_bytes(4, "big") for x in a) for t, a in merged
    )
    head = struct.pack(">BBH", 0x50, 2, len(path)) + path  # transitive, extended length
    new_attrs = head + bytes(kept)
    nbytes = (plen + 7) >> 3
    nlri = bytes([plen]) + prefix.to_bytes(4, "big")[:nbytes]
    payload = b"\x00\x00" + struct.pack(">H", len(new_attrs)) + new_attrs + nlri
    message = b"\xff" * 16 + struct.pack(">HB", 19 + len(payload), 2) + payload
    head4 = struct.pack(">IIHH4s4s", peer_as, 0, 0, 1, peer, b"\x00\x00\x00\x00")
    return _HDR.pack(ts, BGP4MP, 4, len(head4) + len(message)) + head4 + message


# --------------------------------------------------------------------------------------------
# The walk


def parse_peer_index(data: bytes, i: int, end: int) -> list[tuple[bytes, int]] | None:
    """The peers (address bytes, ASN) of the PEER_INDEX_TABLE body between ``i`` and
    ``end``; None if it is malformed."""
    if i + 6 > end:
        return None
    name_len = _U16.unpack_from(data, i + 4)[0]
    i += 6 + name_len
    if i + 2 > end:
        return None
    count = _U16.unpack_from(data, i)[0]
    i += 2
    peers = []
    for _ in range(count):
        if i + 1 > end:
            return None
        ptype = data[i]
        iplen = 16 if ptype & 1 else 4
        aslen = 4 if ptype & 2 else 2
        stop = i + 5 + iplen + aslen
        if stop > end:
            return None
        ip = bytes(data[i + 5 : i + 5 + iplen])
        asn = int.from_bytes(data[i + 5 + iplen : stop], "big")
        peers.append((ip, asn))
        i = stop
    return peers if i == end else None


@dataclass
class Routing:
    """What goes to the parser (``out``): with ``asns`` None, every record with IPv4
    prefixes; otherwise those with a prefix overlapping one of ``ranges`` (merged, sorted,
    disjoint IPv4 ranges) or one of ``asns`` in the path."""

    out: BinaryIO | None
    ranges: Sequence[tuple[int, int]] = ()
    asns: frozenset[int] | None = None


class _Walker:
    """Walks the records of consecutive decompressed chunks (state: peers, PIT, counts)."""

    def __init__(self, result: WalkResult, routing: Routing) -> None:
        self.r = result
        self.out = routing.out
        self.keep_all = routing.asns is None
        self.watched = frozenset(routing.asns or ()) or None
        self.starts = [s for s, _ in routing.ranges]
        self.ends = [e for _, e in routing.ranges]
        self.check_ranges = not self.keep_all and bool(self.starts)
        self.offset = 0  # byte offset of the current chunk in the decompressed stream
        self.peers: dict[tuple[bytes, int], list[int]] = {}
        self.pit: list[tuple[bytes, int]] | None = None
        self.types: dict[tuple[int, int], int] = {}
        self.prev_time: int | None = None
        self.kinds: set[str] = set()
        self._hit = False
        self._ranges_np: tuple[object, object] | None = None

    # -- helpers -----------------------------------------------------------------------------

    def _overlaps(self, start: int, plen: int) -> bool:
        host = (1 << (32 - plen)) - 1
        start &= ~host  # a prefix recorded with host bits set stands for its network
        end = start | host
        i = bisect_right(self.starts, end) - 1
        return i >= 0 and self.ends[i] >= start

    def _v4_scan(self, data: bytes, i: int, end: int) -> int:
        """Count the IPv4 prefixes between ``i`` and ``end`` (-1 if malformed); sets
        ``self._hit`` when one overlaps a watched range."""
        count = 0
        check = self.check_ranges and not self._hit
        while i < end:
            plen = data[i]
            nbytes = (plen + 7) >> 3
            if plen > 32 or i + 1 + nbytes > end:
                return -1
            if check:
                value = int.from_bytes(data[i + 1 : i + 1 + nbytes], "big") << (8 * (4 - nbytes))
                if self._overlaps(value, plen):
                    self._hit, check = True, False
            i += 1 + nbytes
            count += 1
        return count

    def _bad(self, reason: str, pos: int, typ: int, sub: int, detail: str) -> None:
        where = f"record at byte {self.offset + pos} (type {typ}/{sub})"
        self.r.skip(reason, 1, f"{where}: {detail}")

    def _peer(self, ip: bytes, asn: int, v4: int, v6: int) -> None:
        counts = self.peers.get((ip, asn))
        if counts is None:
            self.peers[(ip, asn)] = [v4, v6]
        else:
            counts[0] += v4
            counts[1] += v6

    def _keep(self, hit: bool, elements: int) -> bool:
        """Whether a record with ``elements`` IPv4 elements goes to the parser."""
        if elements and (self.keep_all or hit):
            self.r.forwarded_ipv4 += elements
            return True
        return False

    # -- the loop ----------------------------------------------------------------------------

    def process(self, data: bytes) -> int:
        """Walk the complete records of ``data``; return the offset of the first incomplete
        one (-1 after a fatal error)."""
        n = len(data)
        pos = 0
        mv = memoryview(data)
        hdr = _HDR.unpack_from
        while True:
            # frame a run of complete records of known types (one header read each)
            offsets = []
            tables = 0
            stop = pos
            while stop + 12 <= n:
                _, typ, _, length = hdr(data, stop)
                if typ not in KNOWN_MRT_TYPES or length > MAX_RECORD_LENGTH:
                    break
                end = stop + 12 + length
                if end > n:
                    break
                offsets.append(stop)
                tables += typ in (TABLE_DUMP, TABLE_DUMP_V2, BGP4MP)
                stop = end
            if offsets:
                if tables >= FAST_FROM_RECORDS:
                    done = self._fast_run(data, mv, offsets, stop)
                else:
                    done = self._record_run(data, mv, pos, stop)
                if not done:
                    return -1
            pos = stop
            if pos + 12 > n:
                break
            ts, typ, _, length = hdr(data, pos)
            end = pos + 12 + length
            if typ in KNOWN_MRT_TYPES and length <= MAX_RECORD_LENGTH:
                break  # a known record that is not complete in this chunk
            if not self._unknown_ok(ts, typ, length, end, n, data, pos):
                return -1
            if end > n:
                break
            pos = end
        self.offset += pos
        return pos

    def _count(self, ts: int, typ: int, sub: int) -> None:
        r = self.r
        r.records_read += 1
        key = (typ, sub)
        self.types[key] = self.types.get(key, 0) + 1
        if r.first_time is None or ts < r.first_time:
            r.first_time = ts
        if r.last_time is None or ts > r.last_time:
            r.last_time = ts
        self.prev_time = ts

    def _dispatch(self, data: bytes, pos: int, end: int, ts: int, typ: int, sub: int) -> object:
        """Check one record. True: pass it on as is; None/False: leave it out; bytes: pass
        these on instead."""
        if typ == TABLE_DUMP:
            return self._table_dump(data, pos, end, sub)
        if typ == TABLE_DUMP_V2:
            return self._table_dump_v2(data, pos, end, sub, ts)
        if typ in (BGP4MP, BGP4MP_ET):
            return self._bgp4mp(data, pos, end, typ, sub)
        self.r.skip("records_not_bgp", 1, f"MRT type {typ}")
        return None

    def _record_run(self, data: bytes, mv: memoryview, pos: int, stop: int) -> bool:
        """Walk the complete, known-type records between ``pos`` and ``stop`` one by one;
        False after a fatal error."""
        r = self.r
        run = pos  # start of a run of records passed on unchanged
        hdr = _HDR.unpack_from
        while pos < stop:
            ts, typ, sub, length = hdr(data, pos)
            end = pos + 12 + length
            self._count(ts, typ, sub)
            action = self._dispatch(data, pos, end, ts, typ, sub)
            if r.fatal:
                return False
            if action is True:
                pos = end
                continue
            self._flush(mv, run, pos)
            if action and self.out is not None:
                self.out.write(action)  # type: ignore[arg-type]
            pos = run = end
        self._flush(mv, run, pos)
        return True

    def _fast_run(self, data: bytes, mv: memoryview, offsets: list[int], stop: int) -> bool:
        """The records at ``offsets`` (complete, known types, ending at ``stop``), with the
        plain TABLE_DUMP IPv4 entries checked at once (:mod:`takedowns.routing.fast_walk`) and the
        others one by one; False after a fatal error."""
        import numpy as np

        from takedowns.routing.fast_walk import headers, runs, table_dump_v4

        r = self.r
        buf = np.frombuffer(data, dtype=np.uint8)
        off = np.array(offsets, dtype=np.int64)
        ts, typ, sub, length = headers(buf, off)
        r.records_read += len(offsets)
        keys, counts = np.unique((typ << 16) | sub, return_counts=True)
        for key, count in zip(keys.tolist(), counts.tolist(), strict=True):
            pair = (key >> 16, key & 0xFFFF)
            self.types[pair] = self.types.get(pair, 0) + count
        low, high = int(ts.min()), int(ts.max())
        if r.first_time is None or low < r.first_time:
            r.first_time = low
        if r.last_time is None or high > r.last_time:
            r.last_time = high
        self.prev_time = int(ts[-1])
        plain = np.zeros(len(offsets), dtype=bool)
        keep = np.zeros(len(offsets), dtype=bool)
        candidates = np.flatnonzero((typ == TABLE_DUMP) & (sub == 1))
        if candidates.size:
            starts, ends = self._ranges_arrays()
            found = table_dump_v4(
                buf,
                off[candidates],
                length[candidates],
                sorted(self.watched) if self.watched else None,
                starts,
                ends,
            )
            checked = candidates[found.plain]
            plain[checked] = True
            if checked.size:
                self.kinds.add("rib")
                r.elements_ipv4 += int(checked.size)
                peer_key = (found.peer_ip[found.plain] << 16) | found.peer_as[found.plain]
                peers, per_peer = np.unique(peer_key, return_counts=True)
                for key, count in zip(peers.tolist(), per_peer.tolist(), strict=True):
                    self._peer((key >> 16).to_bytes(4, "big"), key & 0xFFFF, count, 0)
                sent = checked if self.keep_all else checked[found.hit[found.plain]]
                keep[sent] = True
                r.forwarded_ipv4 += int(sent.size)
        updates = np.flatnonzero((typ == BGP4MP) & ((sub == 1) | (sub == 4)))
        if updates.size:
            self._fast_updates(buf, off, length, sub, updates, plain, keep)
        if ((typ == TABLE_DUMP_V2) & (sub == 2)).any():
            self._fast_rib_v2(data, buf, off, typ, sub, length, plain, keep)
        rewrites: dict[int, bytes] = {}
        for k in np.flatnonzero(~plain).tolist():
            pos = offsets[k]
            t, ty, su, ln = _HDR.unpack_from(data, pos)
            action = self._dispatch(data, pos, pos + 12 + ln, t, ty, su)
            if r.fatal:
                return False
            if action is True:
                keep[k] = True
            elif action:
                rewrites[k] = action  # type: ignore[assignment]
        if self.out is None:
            return True
        firsts, stops = runs(keep)
        pieces = [(a, b, b"") for a, b in zip(firsts.tolist(), stops.tolist(), strict=True)]
        pieces += [(k, k, rec) for k, rec in rewrites.items()]
        bounds = [*offsets, stop]
        for first, last, rec in sorted(pieces, key=lambda p: p[0]):
            if rec:
                self.out.write(rec)
            else:
                self.out.write(mv[bounds[first] : bounds[last]])
        return True

    def _ranges_arrays(self) -> tuple[object, object]:
        import numpy as np

        if self._ranges_np is None:
            self._ranges_np = (
                np.array(self.starts, dtype=np.int64),
                np.array(self.ends, dtype=np.int64),
            )
        return self._ranges_np if self.check_ranges else (None, None)

    def _fast_updates(
        self,
        buf: np.ndarray,
        off: np.ndarray,
        length: np.ndarray,
        sub: np.ndarray,
        candidates: np.ndarray,
        plain: np.ndarray,
        keep: np.ndarray,
    ) -> None:
        """Check the BGP4MP MESSAGE(_AS4) records at ``candidates`` at once
        (:func:`takedowns.routing.fast_walk.bgp4mp_v4`), counting the plain ones as
        :meth:`_bgp4mp` does and marking them in ``plain`` (and in ``keep`` those the parser
        is to see)."""
        import numpy as np

        from takedowns.routing.fast_walk import bgp4mp_v4

        r = self.r
        starts, ends = self._ranges_arrays()
        found = bgp4mp_v4(
            buf,
            off[candidates],
            length[candidates],
            sub[candidates],
            sorted(self.watched) if self.watched else None,
            starts,
            ends,
        )
        checked = candidates[found.plain]
        if not checked.size:
            return
        self.kinds.add("updates")
        plain[checked] = True
        counted = found.update
        r.elements_ipv4 += int(found.ipv4[counted].sum())
        r.elements_ipv6 += int(found.ipv6[counted].sum())
        r.skip("elements_ipv6", int(found.ipv6[counted].sum()))
        # peers: (address, session family, ASN) per record, grouped by a sort on three words
        ip = np.ascontiguousarray(found.peer_ip[counted]).view(">u8").astype(np.uint64)
        words = (
            found.session_v6[counted].astype(np.uint64) << np.uint64(32)
            | found.peer_as[counted].astype(np.uint64),
            ip[:, 1],
            ip[:, 0],
        )
        order = np.lexsort(words)
        changed = np.zeros(len(order), dtype=bool)
        changed[:1] = True
        for word in words:
            w = word[order]
            changed[1:] |= w[1:] != w[:-1]
        firsts = order[changed]
        group = np.cumsum(changed) - 1
        v4 = np.bincount(group, weights=found.ipv4[counted][order], minlength=len(firsts))
        v6 = np.bincount(group, weights=found.ipv6[counted][order], minlength=len(firsts))
        peers = found.peer_ip[counted][firsts]
        family = found.session_v6[counted][firsts]
        asns = found.peer_as[counted][firsts]
        for k in range(len(firsts)):
            address = peers[k].tobytes()[: 16 if family[k] else 4]
            self._peer(address, int(asns[k]), int(v4[k]), int(v6[k]))
        sent = counted & (found.ipv4 > 0)
        if not self.keep_all:
            sent &= found.hit
        keep[candidates[sent]] = True
        r.forwarded_ipv4 += int(found.ipv4[sent].sum())

    def _fast_rib_v2(
        self,
        data: bytes,
        buf: np.ndarray,
        off: np.ndarray,
        typ: np.ndarray,
        sub: np.ndarray,
        length: np.ndarray,
        plain: np.ndarray,
        keep: np.ndarray,
    ) -> None:
        """Check the TABLE_DUMP_V2 RIB_IPV4_UNICAST records of a run at once
        (:func:`takedowns.routing.fast_walk.table_dump_v2_v4`), each against the
        PEER_INDEX_TABLE in force, counting the plain ones as :meth:`_table_dump_v2` does."""
        import numpy as np

        from takedowns.routing.fast_walk import (
            PeerIndex,
            _overlapping,
            asn_values,
            table_dump_v2_v4,
        )

        r = self.r
        cand = np.flatnonzero((typ == TABLE_DUMP_V2) & (sub == 2))
        tables = np.flatnonzero((typ == TABLE_DUMP_V2) & (sub == 1))
        pits = [self.pit]
        for k in tables.tolist():
            body = int(off[k]) + 12
            pits.append(self._peer_index(data, body, body + int(length[k])))
        which = np.searchsorted(tables, cand)
        starts, ends = self._ranges_arrays()
        watched = np.fromiter(sorted(self.watched), dtype=np.int64) if self.watched else None
        for t, pit in enumerate(pits):
            part = cand[which == t]
            if pit is None or not part.size:
                continue  # no table in force (or a malformed one): the per-record code's
            peers = PeerIndex.of(pit)
            found = table_dump_v2_v4(buf, off[part], length[part], peers)
            checked = part[found.plain]
            if not checked.size:
                continue
            self.kinds.add("rib")
            plain[checked] = True
            entries = np.bincount(found.ent_rec, minlength=len(part))
            r.elements_ipv4 += int(found.ent_rec.size)
            index, per_peer = np.unique(found.ent_peer, return_counts=True)
            for k, n in zip(index.tolist(), per_peer.tolist(), strict=True):
                self._peer(pit[k][0], pit[k][1], n, 0)
            hit = np.zeros(len(part), dtype=bool)
            if watched is not None and found.seg_rec.size:
                asn = asn_values(buf, found.seg_at, found.seg_n, found.seg_size)
                held = np.isin(asn, watched)
                hit[found.ent_rec[np.repeat(found.seg_rec, found.seg_n)[held]]] = True
            if starts is not None and ends is not None:
                hit |= _overlapping(found.prefix, found.length, starts, ends)
            sent = found.plain & (entries > 0) & (self.keep_all | hit)
            keep[part[sent]] = True
            r.forwarded_ipv4 += int(entries[sent].sum())

    def _flush(self, mv: memoryview, start: int, stop: int) -> None:
        if stop > start and self.out is not None:
            self.out.write(mv[start:stop])

    def _unknown_ok(
        self, ts: int, typ: int, length: int, end: int, n: int, data: bytes, pos: int
    ) -> bool:
        """An unknown MRT type: counted and skipped if its header is plausible; else the
        framing is broken (not MRT at all, or garbage mid-file)."""
        r = self.r
        if r.records_read == 0 and self.offset + pos == 0:
            r.fatal = f"not an MRT file: it starts with {describe_head(bytes(data[:64]))}"
            return False
        plausible = (
            length <= MAX_RECORD_LENGTH
            and self.prev_time is not None
            and abs(ts - self.prev_time) <= 366 * 86400
        )
        if not plausible:
            r.truncated = True
            r.truncation = (
                f"corrupt MRT framing at byte {self.offset + pos}: header type {typ}, "
                f"length {length}, time {ts}"
            )
            return False
        if end <= n:
            r.records_read += 1
            self.types[(typ, -1)] = self.types.get((typ, -1), 0) + 1
            r.skip("records_unknown_mrt_type", 1, f"type {typ} at byte {self.offset + pos}")
        return True

    # -- TABLE_DUMP ----------------------------------------------------------------------------

    def _table_dump(self, data: bytes, pos: int, end: int, sub: int) -> object:
        r = self.r
        self.kinds.add("rib")
        body = pos + 12
        if sub == 1:
            if end - body < 22:
                self._bad("records_malformed", pos, 12, sub, "body shorter than its fixed part")
                return None
            _, _, prefix, plen, _, _, peer, peer_as, alen = _TD1_V4.unpack_from(data, body)
            if plen > 32 or body + 22 + alen != end:
                self._bad("records_malformed", pos, 12, sub, "prefix length or attribute length")
                return None
            attrs = walk_attributes(data, body + 22, end, 2, False, self.watched)
            if attrs.error:
                self._bad("records_malformed", pos, 12, sub, attrs.error)
                return None
            r.elements_ipv4 += 1
            self._peer(peer, peer_as, 1, 0)
            hit = attrs.hit or (self.check_ranges and self._overlaps(prefix, plen))
            if not self._keep(hit, 1):
                return None
            if attrs.as_trans and attrs.as4_path:
                r.as4_merged += 1
                r.confed_paths += attrs.confed
                return v1_as_bgp4mp(data, pos, end)
            if attrs.confed:
                r.confed_paths += 1
                new = strip_confed(bytes(data[body + 22 : end]), 2)
                fixed = bytearray(data[body : body + 22])
                fixed[20:22] = _U16.pack(len(new))
                header = _HDR.pack(*_HDR.unpack_from(data, pos)[:3], 22 + len(new))
                return header + bytes(fixed) + new
            return True
        if sub == 2:
            if end - body < 46:
                self._bad("records_malformed", pos, 12, sub, "body shorter than its fixed part")
                return None
            _, _, _, plen, _, _, peer, peer_as, alen = _TD1_V6.unpack_from(data, body)
            if plen > 128 or body + 46 + alen != end:
                self._bad("records_malformed", pos, 12, sub, "prefix length or attribute length")
                return None
            r.elements_ipv6 += 1
            self._peer(peer, peer_as, 0, 1)
            r.skip("elements_ipv6", 1)
            return None
        r.skip("records_unsupported_subtype", 1, f"TABLE_DUMP subtype {sub}")
        return None

    # -- TABLE_DUMP_V2 -------------------------------------------------------------------------

    def _table_dump_v2(self, data: bytes, pos: int, end: int, sub: int, ts: int) -> object:
        r = self.r
        body = pos + 12
        if sub == 1:
            peers = self._peer_index(data, body, end)
            if peers is None:
                self._bad("records_malformed", pos, 13, sub, "PEER_INDEX_TABLE lengths")
                r.fatal = "its PEER_INDEX_TABLE is malformed"
                return None
            self.pit = peers
            return True  # the parser needs it for the RIB records after it
        if sub in (2, 3, 4, 5):
            self.kinds.add("rib")
            if self.pit is None:
                r.fatal = (
                    f"a TABLE_DUMP_V2 RIB record (subtype {sub}) at byte {self.offset + pos} "
                    "comes before any PEER_INDEX_TABLE (the peer index table is missing)"
                )
                return None
            v6 = sub >= 4
            if body + 5 > end:
                self._bad("records_malformed", pos, 13, sub, "body too short")
                return None
            plen = data[body + 4]
            nbytes = (plen + 7) >> 3
            if plen > (128 if v6 else 32) or body + 5 + nbytes + 2 > end:
                self._bad("records_malformed", pos, 13, sub, "prefix")
                return None
            prefix = 0
            if not v6:
                prefix = int.from_bytes(data[body + 5 : body + 5 + nbytes], "big") << (
                    8 * (4 - nbytes)
                )
            i = body + 5 + nbytes
            count = _U16.unpack_from(data, i)[0]
            i += 2
            entries = []
            confed = hit = False
            npeers = len(self.pit)
            for _ in range(count):
                if i + 8 > end:
                    self._bad("records_malformed", pos, 13, sub, "RIB entry runs past the record")
                    return None
                index, _, alen = _ENTRY.unpack_from(data, i)
                if index >= npeers or i + 8 + alen > end:
                    self._bad("records_malformed", pos, 13, sub, "peer index or attribute length")
                    return None
                if not v6:
                    attrs = walk_attributes(data, i + 8, i + 8 + alen, 4, False, self.watched)
                    if attrs.error:
                        self._bad("records_malformed", pos, 13, sub, attrs.error)
                        return None
                    confed = confed or attrs.confed
                    hit = hit or attrs.hit
                entries.append((index, i, i + 8 + alen))
                i += 8 + alen
            if i != end:
                self._bad("records_malformed", pos, 13, sub, "bytes after the last RIB entry")
                return None
            for index, _, _ in entries:
                ip, asn = self.pit[index]
                self._peer(ip, asn, 0 if v6 else 1, 1 if v6 else 0)
            if v6:
                r.elements_ipv6 += count
                r.skip("elements_ipv6", count)
                return None
            if sub == 3:
                r.elements_ipv4 += count
                r.skip("elements_ipv4_multicast", count)
                return None
            r.elements_ipv4 += count
            hit = hit or (self.check_ranges and self._overlaps(prefix, plen))
            if not self._keep(hit, count):
                return None
            if confed:
                r.confed_paths += 1
                rebuilt = bytearray(data[body : body + 5 + nbytes + 2])
                for _, start, stop in entries:
                    new = strip_confed(bytes(data[start + 8 : stop]), 4)
                    rebuilt += data[start : start + 6] + _U16.pack(len(new)) + new
                return _HDR.pack(ts, 13, sub, len(rebuilt)) + bytes(rebuilt)
            return True
        r.skip("records_unsupported_subtype", 1, f"TABLE_DUMP_V2 subtype {sub}")
        return None

    def _peer_index(self, data: bytes, i: int, end: int) -> list[tuple[bytes, int]] | None:
        return parse_peer_index(data, i, end)

    # -- BGP4MP --------------------------------------------------------------------------------

    def _bgp4mp(self, data: bytes, pos: int, end: int, typ: int, sub: int) -> object:
        r = self.r
        self.kinds.add("updates")
        i = pos + 12 + (4 if typ == BGP4MP_ET else 0)
        if sub in (0, 5):  # STATE_CHANGE(_AS4): no routes
            return None
        if sub not in (1, 4, 6, 7):
            r.skip("records_unsupported_subtype", 1, f"BGP4MP subtype {sub}")
            return None
        as_size = 4 if sub in (4, 7) else 2
        if i + 2 * as_size + 4 > end:
            self._bad("records_malformed", pos, typ, sub, "BGP4MP header")
            return None
        peer_as = int.from_bytes(data[i : i + as_size], "big")
        i += 2 * as_size + 2
        afi = _U16.unpack_from(data, i)[0]
        i += 2
        if afi not in (1, 2):
            self._bad("records_malformed", pos, typ, sub, f"address family {afi}")
            return None
        iplen = 4 if afi == 1 else 16
        peer = bytes(data[i : i + iplen])
        msg = i + 2 * iplen
        if msg + 19 > end:
            self._bad("records_malformed", pos, typ, sub, "BGP message header")
            return None
        msg_len = _U16.unpack_from(data, msg + 16)[0]
        msg_type = data[msg + 18]
        if msg_len < 19 or msg + msg_len > end:
            self._bad("records_malformed", pos, typ, sub, f"BGP message length {msg_len}")
            return None
        if msg_type != 2:  # OPEN, NOTIFICATION, KEEPALIVE: no routes
            return None
        msg_end = msg + msg_len
        j = msg + 19
        if j + 2 > msg_end:
            self._bad("records_malformed", pos, typ, sub, "UPDATE too short")
            return None
        wd_len = _U16.unpack_from(data, j)[0]
        self._hit = False
        n_wd = self._v4_scan(data, j + 2, j + 2 + wd_len) if j + 4 + wd_len <= msg_end else -1
        if n_wd < 0:
            self._bad("records_malformed", pos, typ, sub, "withdrawn routes")
            return None
        j += 2 + wd_len
        attr_len = _U16.unpack_from(data, j)[0]
        a0 = j + 2
        if a0 + attr_len > msg_end:
            self._bad("records_malformed", pos, typ, sub, f"path attribute length {attr_len}")
            return None
        attrs = walk_attributes(data, a0, a0 + attr_len, as_size, True, self.watched)
        if attrs.error:
            self._bad("records_malformed", pos, typ, sub, attrs.error)
            return None
        n_nlri = self._v4_scan(data, a0 + attr_len, msg_end)
        if n_nlri < 0:
            self._bad("records_malformed", pos, typ, sub, "NLRI")
            return None
        n4, n6 = n_wd + n_nlri + len(attrs.mp_v4), attrs.mp_v6
        r.elements_ipv4 += n4
        r.elements_ipv6 += n6
        self._peer(peer, peer_as, n4, n6)
        if n6:
            r.skip("elements_ipv6", n6)
        hit = attrs.hit or self._hit
        if not hit and self.check_ranges and attrs.mp_v4:
            hit = any(self._overlaps(s, p) for s, p in attrs.mp_v4)
        if not self._keep(hit, n4):
            return None  # nothing IPv4, or nothing watched: the parser need not see it
        if attrs.confed:
            r.confed_paths += 1
            new_attrs = strip_confed(bytes(data[a0 : a0 + attr_len]), as_size)
            payload = bytes(data[msg + 19 : a0 - 2]) + _U16.pack(len(new_attrs)) + new_attrs
            payload += bytes(data[a0 + attr_len : msg_end])
            message = b"\xff" * 16 + struct.pack(">HB", 19 + len(payload), 2) + payload
            body = bytes(data[pos + 12 : msg]) + message
            return _HDR.pack(*_HDR.unpack_from(data, pos)[:3], len(body)) + body
        return True

    # -- end -----------------------------------------------------------------------------------

    def finish(self) -> None:
        r = self.r
        r.records_by_type = {
            (f"{t}/{s}" if s >= 0 else f"{t}/?"): c for (t, s), c in sorted(self.types.items())
        }
        r.kinds = sorted(self.kinds)
        r.peers = sorted((_ip_text(ip), asn, v4, v6) for (ip, asn), (v4, v6) in self.peers.items())


def _ip_text(ip: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if len(ip) == 4 else socket.AF_INET6, ip)


def walk(path: Path, routing: Routing) -> WalkResult:
    """Walk ``path`` (gzip, bzip2 or raw MRT), writing records as ``routing`` says."""
    result = WalkResult()
    walker = _Walker(result, routing)
    leftover = b""
    try:
        for chunk in decompressed_chunks(Path(path), result):
            result.bytes_decompressed += len(chunk)
            data = leftover + chunk if leftover else chunk
            done = walker.process(data)
            if done < 0:
                leftover = b""
                break
            leftover = data[done:]
    except BrokenPipeError:
        result.consumer_closed = True
        return result
    if result.fatal:
        return result
    if leftover:
        if len(leftover) < 12:
            cut = f"the data ends inside a record header ({len(leftover)} bytes)"
        else:
            _, typ, sub, length = _HDR.unpack_from(leftover, 0)
            cut = (
                f"the last record (type {typ}/{sub}) claims {length} bytes but only "
                f"{len(leftover) - 12} remain"
            )
        result.truncation = f"{result.truncation}; {cut}" if result.truncated else cut
        result.truncated = True
        result.skip("records_incomplete", 1, cut)
    if result.records_read == 0 and not result.truncated and result.bytes_decompressed:
        result.fatal = "not an MRT file: no complete record"
    walker.finish()
    try:
        if routing.out is not None:
            routing.out.flush()
    except BrokenPipeError:
        result.consumer_closed = True
    return result


# --------------------------------------------------------------------------------------------
# Child-process entry point


def main(argv: list[str] | None = None) -> int:
    """``python -m takedowns.routing.walk SPEC_JSON``: walk ``source``, write the records for the
    parser to the inherited file descriptor ``out_fd`` and the result to ``result_path``."""
    parser = argparse.ArgumentParser(prog="python -m takedowns.routing.walk")
    parser.add_argument("spec", help="JSON: source, out_fd, ranges, asns, result_path")
    args = parser.parse_args(argv)
    spec = json.loads(args.spec)
    out = os.fdopen(spec["out_fd"], "wb", buffering=1 << 20)
    try:
        asns = spec.get("asns")
        routing = Routing(
            out=out,
            ranges=[tuple(r) for r in spec.get("ranges", [])],
            asns=None if asns is None else frozenset(asns),
        )
        result = walk(Path(spec["source"]), routing)
    finally:
        with contextlib.suppress(BrokenPipeError):
            out.close()
    tmp = Path(spec["result_path"] + ".tmp")
    tmp.write_text(json.dumps(asdict(result)), encoding="utf-8")
    tmp.replace(spec["result_path"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
