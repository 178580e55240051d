"""The common case of the MRT framing walk, vectorized with numpy.

:mod:`takedowns.routing.walk` frames a chunk of decompressed MRT (record offsets, one header
read per record) and hands the records here. :func:`table_dump_v4` checks every TABLE_DUMP
IPv4 entry (MRT type 12, subtype 1) at once, over arrays of offsets: the fixed part, the
attribute block (every attribute length fits, in as many steps as the longest block has
attributes) and the AS_PATH segments (well formed, filling the attribute). It reads the
peer, the prefix and, for a watch, whether the path holds a watched ASN or the prefix
overlaps a watched range.

An entry it does not call *plain* (malformed, an AS_CONFED segment, AS4_PATH, more than one
AS_PATH) is left to the per-record code of :mod:`takedowns.routing.walk`, which counts and
rewrites it exactly as before: this module only speeds up entries for which that code would
pass the record on unchanged (or leave it out, for a watch), and counts them the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: AS_PATH segment types the fast path accepts (AS_SET, AS_SEQUENCE).
_PLAIN_SEGMENTS = (1, 2)


@dataclass
class Entries:
    """The plain TABLE_DUMP IPv4 entries among the records given to :func:`table_dump_v4`."""

    plain: np.ndarray  # bool per given record: checked here
    hit: np.ndarray  # bool per given record: a watched ASN or range (plain ones only)
    peer_ip: np.ndarray  # uint32 per given record
    peer_as: np.ndarray  # int64 per given record
    #: the AS_PATH segments of the plain entries, in path order within each entry: the
    #: entry's index, the segment type, its ASN count and the offset of its first ASN
    #: (filled with ``segments=True``); and whether each entry has an AS_PATH attribute
    seg_rec: np.ndarray | None = None
    seg_type: np.ndarray | None = None
    seg_n: np.ndarray | None = None
    seg_at: np.ndarray | None = None
    has_path: np.ndarray | None = None


def _u16(buf: np.ndarray, at: np.ndarray) -> np.ndarray:
    return (buf[at].astype(np.int64) << 8) | buf[at + 1]


def _u32(buf: np.ndarray, at: np.ndarray) -> np.ndarray:
    return (
        (buf[at].astype(np.int64) << 24)
        | (buf[at + 1].astype(np.int64) << 16)
        | (buf[at + 2].astype(np.int64) << 8)
        | buf[at + 3]
    )


def headers(buf: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, ...]:
    """time, type, subtype and length of the records at ``offsets``."""
    return (
        _u32(buf, offsets),
        _u16(buf, offsets + 4),
        _u16(buf, offsets + 6),
        _u32(buf, offsets + 8),
    )


def table_dump_v4(
    buf: np.ndarray,
    offsets: np.ndarray,
    lengths: np.ndarray,
    watched: Sequence[int] | None,
    starts: np.ndarray | None,
    ends: np.ndarray | None,
    segments: bool = False,
) -> Entries:
    """Check the TABLE_DUMP IPv4 entries at ``offsets`` (records of ``lengths`` body bytes,
    all complete within ``buf``); see the module docstring. ``segments``: also return the
    AS_PATH segments of the plain entries (for building their columns directly)."""
    m = len(offsets)
    body = offsets + 12
    stop = body + lengths
    ok = lengths >= 22
    safe = np.where(ok, body, 0)  # fixed-part reads stay inside the buffer
    plen = buf[safe + 8].astype(np.int64)
    alen = _u16(buf, safe + 20)
    ok &= (plen <= 32) & (22 + alen == lengths)

    path_start = np.full(m, -1, dtype=np.int64)
    path_end = np.full(m, -1, dtype=np.int64)
    pos = np.where(ok, body + 22, stop)
    active = np.flatnonzero(pos < stop)
    while active.size:
        a = pos[active]
        end = stop[active]
        good = a + 3 <= end
        a_safe = np.where(good, a, 0)
        flags = buf[a_safe]
        code = buf[a_safe + 1]
        ext = (flags & 0x10) != 0
        good &= ~ext | (a + 4 <= end)
        short_len = buf[a_safe + 2].astype(np.int64)
        long_len = (short_len << 8) | buf[np.where(good & ext, a_safe + 3, 0)]
        value = a + np.where(ext, 4, 3)
        vend = value + np.where(ext, long_len, short_len)
        good &= vend <= end
        # AS4_PATH, or a second AS_PATH: the per-record code decides
        good &= code != 17
        is_path = (code == 2) & good
        second = is_path & (path_start[active] >= 0)
        good &= ~second
        is_path &= ~second
        path_start[active[is_path]] = value[is_path]
        path_end[active[is_path]] = vend[is_path]
        bad = active[~good]
        ok[bad] = False
        pos[bad] = stop[bad]
        pos[active[good]] = vend[good]
        active = active[good]
        active = active[pos[active] < stop[active]]

    # AS_PATH segments (2-byte ASNs): types 1/2 only, filling the attribute exactly
    seg_rec: list[np.ndarray] = []
    seg_at: list[np.ndarray] = []
    seg_n: list[np.ndarray] = []
    seg_type_of: list[np.ndarray] = []
    j = path_start.copy()
    active = np.flatnonzero(ok & (path_start >= 0) & (path_start < path_end))
    while active.size:
        at = j[active]
        end = path_end[active]
        good = at + 2 <= end
        at_safe = np.where(good, at, 0)
        seg_type = buf[at_safe]
        count = buf[at_safe + 1].astype(np.int64)
        good &= np.isin(seg_type, _PLAIN_SEGMENTS)
        nxt = at + 2 + 2 * count
        good &= nxt <= end
        bad = active[~good]
        ok[bad] = False
        keep = active[good]
        seg_rec.append(keep)
        seg_at.append(at[good] + 2)
        seg_n.append(count[good])
        seg_type_of.append(seg_type[good])
        j[keep] = nxt[good]
        active = keep[j[keep] < path_end[keep]]

    hit = np.zeros(m, dtype=bool)
    if watched is not None and seg_rec:
        rec = np.concatenate(seg_rec)
        first = np.concatenate(seg_at)
        count = np.concatenate(seg_n)
        total = int(count.sum())
        if total:
            # the byte offset of every ASN of every segment
            base = np.repeat(first - 2 * (np.cumsum(count) - count), count)
            at = base + 2 * np.arange(total, dtype=np.int64)
            asn = _u16(buf, at)
            found = np.isin(asn, np.fromiter(watched, dtype=np.int64))
            hit[np.repeat(rec, count)[found]] = True
    if starts is not None and ends is not None and len(starts):
        prefix = _u32(buf, safe + 4)
        last = prefix | ((np.int64(1) << (32 - np.minimum(plen, 32))) - 1)
        idx = np.searchsorted(starts, last, side="right") - 1
        hit |= (idx >= 0) & (ends[np.clip(idx, 0, None)] >= prefix)
    hit &= ok
    entries = Entries(
        plain=ok,
        hit=hit,
        peer_ip=_u32(buf, safe + 14),
        peer_as=_u16(buf, safe + 18),
    )
    if segments:
        empty = np.zeros(0, dtype=np.int64)
        rec = np.concatenate(seg_rec) if seg_rec else empty
        # segments were found one position at a time: a stable sort by entry puts each
        # entry's segments in path order; those of entries found bad later are dropped
        order = np.argsort(rec, kind="stable")
        order = order[ok[rec[order]]]
        entries.seg_rec = rec[order]
        entries.seg_type = (np.concatenate(seg_type_of) if seg_type_of else empty)[order]
        entries.seg_n = (np.concatenate(seg_n) if seg_n else empty)[order]
        entries.seg_at = (np.concatenate(seg_at) if seg_at else empty)[order]
        entries.has_path = ok & (path_start >= 0)
    return entries


def asns_at(buf: np.ndarray, first: np.ndarray, count: np.ndarray) -> np.ndarray:
    """The 2-byte ASNs of segments whose first ASN is at ``first`` and that hold ``count``
    ASNs, flattened in order."""
    total = int(count.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    base = np.repeat(first - 2 * (np.cumsum(count) - count), count)
    return _u16(buf, base + 2 * np.arange(total, dtype=np.int64))


def runs(keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The [first, stop) index ranges of consecutive True values of ``keep``."""
    edges = np.diff(np.concatenate(([0], keep.astype(np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
