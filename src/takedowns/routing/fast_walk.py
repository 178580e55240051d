"""The common cases of the MRT framing walk, vectorized with numpy.

:mod:`takedowns.routing.walk` frames a chunk of decompressed MRT (record offsets, one header
read per record) and hands the records here. :func:`table_dump_v4` checks every TABLE_DUMP
IPv4 entry (MRT type 12, subtype 1) at once, over arrays of offsets: the fixed part, the
attribute block (every attribute length fits, in as many steps as the longest block has
attributes) and the AS_PATH segments (well formed, filling the attribute). It reads the
peer, the prefix and, for a watch, whether the path holds a watched ASN or the prefix
overlaps a watched range. :func:`bgp4mp_v4` does the same for BGP4MP MESSAGE(_AS4) records:
the BGP message, its withdrawn routes, attributes, MP_REACH/MP_UNREACH_NLRI and NLRI, in as
many steps as the longest list has prefixes.

A record they do not call *plain* (malformed, an AS_CONFED segment, AS4_PATH, more than one
AS_PATH, an unusual MP attribute) is left to the per-record code of
:mod:`takedowns.routing.walk`, which counts and rewrites it exactly as before: this module
only speeds up records for which that code would pass the record on unchanged (or leave it
out, for a watch), and counts them the same way. With ``segments``/``elements``, both also
return what :mod:`takedowns.routing.element_columns` needs to build the rows.
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
        hit |= _overlapping(_u32(buf, safe + 4), plen, starts, ends)
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


def runs(keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The [first, stop) index ranges of consecutive True values of ``keep``."""
    edges = np.diff(np.concatenate(([0], keep.astype(np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


# --------------------------------------------------------------------------------------------
# BGP4MP updates


@dataclass
class Updates:
    """The plain BGP4MP messages among the records given to :func:`bgp4mp_v4`.

    A record is *plain* when it is a BGP4MP MESSAGE or MESSAGE_AS4 whose BGP message is well
    formed and is not an UPDATE (no routes), or is an UPDATE whose withdrawn routes,
    attributes and NLRI are well formed, with at most one AS_PATH of AS_SEQUENCE/AS_SET
    segments, no AS4_PATH, and at most one MP_REACH_NLRI and one MP_UNREACH_NLRI, each for
    IPv6 or for IPv4 unicast or multicast (which the parser, and so the table, gives as
    elements like any other). Every other record is left to the per-record code.
    """

    plain: np.ndarray  # bool per given record
    update: np.ndarray  # bool per given record: a plain UPDATE (its peer is counted)
    hit: np.ndarray  # bool per given record: a watched ASN in AS_PATH or a watched prefix
    peer_ip: np.ndarray  # (records, 16) uint8: the peer's address (IPv4: the first 4 bytes)
    session_v6: np.ndarray  # bool per given record: the peer's address is IPv6
    peer_as: np.ndarray  # int64 per given record
    ipv4: np.ndarray  # int64 per given record: IPv4 prefixes withdrawn or announced
    ipv6: np.ndarray  # int64 per given record: IPv6 prefixes (MP_REACH/MP_UNREACH_NLRI)
    #: with ``elements=True``: the AS_PATH segments of the plain updates as in
    #: :class:`Entries` (``seg_size``: 2 or 4 bytes per ASN), whether each has an AS_PATH,
    #: and their IPv4 elements in the parser's order (per record: the NLRI, the IPv4
    #: MP_REACH_NLRI, the withdrawn routes, the IPv4 MP_UNREACH_NLRI): record index, prefix
    #: value, prefix length, withdrawn or not
    seg_rec: np.ndarray | None = None
    seg_type: np.ndarray | None = None
    seg_n: np.ndarray | None = None
    seg_at: np.ndarray | None = None
    seg_size: np.ndarray | None = None
    has_path: np.ndarray | None = None
    el_rec: np.ndarray | None = None
    el_prefix: np.ndarray | None = None
    el_length: np.ndarray | None = None
    el_withdrawn: np.ndarray | None = None

    def peer_v4(self) -> np.ndarray:
        """The peers' IPv4 addresses as integers (meaningless for IPv6 sessions)."""
        ip = self.peer_ip.astype(np.int64)
        return (ip[:, 0] << 24) | (ip[:, 1] << 16) | (ip[:, 2] << 8) | ip[:, 3]


def _prefix_lists(
    buf: np.ndarray, start: np.ndarray, end: np.ndarray, ok: np.ndarray, max_length: int = 32
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The prefixes (length byte, then as many address bytes as it needs) filling
    [start, end) of each record where ``ok``; clears ``ok`` where they do not fill it
    exactly or a length exceeds ``max_length``. Returns the record index, the prefix value
    (IPv4 only: 0 for IPv6) and length of every prefix, in order within each record, and
    the count per record."""
    m = len(start)
    pos = start.copy()
    active = np.flatnonzero(ok & (pos < end))
    recs, values, lengths, steps = [], [], [], []
    step = 0
    while active.size:
        p = pos[active]
        plen = buf[p].astype(np.int64)
        nbytes = (plen + 7) >> 3
        good = (plen <= max_length) & (p + 1 + nbytes <= end[active])
        ok[active[~good]] = False
        a, p, plen, nbytes = active[good], p[good], plen[good], nbytes[good]
        value = np.zeros(len(a), dtype=np.int64)
        if max_length == 32:
            for k in range(4):  # the bytes past a prefix's own are masked off
                value |= (buf[p + 1 + k].astype(np.int64) * (nbytes > k)) << (24 - 8 * k)
        recs.append(a)
        values.append(value)
        lengths.append(plen)
        steps.append(np.full(len(a), step, dtype=np.int64))
        pos[a] = p + 1 + nbytes
        active = a[pos[a] < end[a]]
        step += 1
    if not recs:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, np.zeros(m, dtype=np.int64)
    rec, value, plen = np.concatenate(recs), np.concatenate(values), np.concatenate(lengths)
    order = np.lexsort((np.concatenate(steps), rec))
    rec, value, plen = rec[order], value[order], plen[order]
    keep = ok[rec]
    rec, value, plen = rec[keep], value[keep], plen[keep]
    return rec, value, plen, np.bincount(rec, minlength=m).astype(np.int64)


def _overlapping(
    value: np.ndarray, plen: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> np.ndarray:
    """True where the prefix ``value``/``plen`` (host bits set or not) overlaps one of the
    merged, sorted ranges."""
    host = (np.int64(1) << (32 - np.minimum(plen, 32))) - 1
    first = value & ~host
    idx = np.searchsorted(starts, first | host, side="right") - 1
    return (idx >= 0) & (ends[np.clip(idx, 0, None)] >= first)


def asn_values(
    buf: np.ndarray, first: np.ndarray, count: np.ndarray, size: np.ndarray
) -> np.ndarray:
    """The ASNs of segments whose first ASN is at ``first``, that hold ``count`` ASNs of
    ``size`` bytes (2 or 4) each, flattened in order."""
    total = int(count.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    width = np.repeat(size, count)
    at = np.repeat(first, count) + width * within
    return np.where(width == 4, _u32(buf, at), _u16(buf, at))


def _mp_nlri(
    buf: np.ndarray,
    value: np.ndarray,
    vend: np.ndarray,
    reach: bool,
    update: np.ndarray,
) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The prefixes of the MP_REACH_NLRI (``reach``) or MP_UNREACH_NLRI attributes at
    [value, vend) (-1: none), clearing ``update`` where one is not plain. Returns the IPv4
    prefixes (as :func:`_prefix_lists`) and the IPv6 count per record."""
    has = update & (value >= 0)
    at = np.where(has, value, 0)
    afi = _u16(buf, at)
    safi = buf[at + 2]
    if reach:
        hop = buf[at + 3].astype(np.int64)
        start = at + 5 + hop
        fits = (at + 4 <= vend) & np.isin(hop, (4, 16, 32))
    else:
        start = at + 3
        fits = at + 3 <= vend
    fine = fits & (start <= vend) & (((afi == 1) & np.isin(safi, (1, 2))) | (afi == 2))
    update[has & ~fine] = False
    v4 = has & fine & (afi == 1)
    v6 = has & fine & (afi == 2)
    four = _prefix_lists(buf, start, vend, v4)  # clears v4 where the NLRI is malformed
    six = _prefix_lists(buf, start, vend, v6, max_length=128)
    update[has & fine & (afi == 1) & ~v4] = False
    update[has & fine & (afi == 2) & ~v6] = False
    return four, np.where(v6, six[3], 0)


def _merge_as4(
    buf: np.ndarray,
    subtypes: np.ndarray,
    as_path: tuple[np.ndarray, np.ndarray],
    as4_path: tuple[np.ndarray, np.ndarray],
    update: np.ndarray,
    segments: tuple[list[np.ndarray], ...],
) -> np.ndarray:
    """The merged paths of the updates that carry AS4_PATH (see :func:`bgp4mp_v4`), appended
    to ``segments`` (record, first ASN offset, count, type, ASN size); the others that carry
    it are no longer plain (cleared in ``update``). Returns which records were merged."""
    (path_start, path_end), (four_start, four_end) = as_path, as4_path
    has = update & (four_start >= 0)
    merged = np.zeros(len(update), dtype=bool)
    if not has.any():
        return merged
    ps = np.where(has & (path_start >= 0), path_start, 0)
    fs = np.where(has, four_start, 0)
    n2 = buf[ps + 1].astype(np.int64)
    n4 = buf[fs + 1].astype(np.int64)
    single = (
        (subtypes == 1)
        & (path_start >= 0)
        & (buf[ps] == 2)
        & (ps + 2 + 2 * n2 == path_end)
        & (buf[fs] == 2)
        & (fs + 2 + 4 * n4 == four_end)
    )
    update[has & ~single] = False
    merged = has & single
    recs = np.flatnonzero(merged)
    lead = n2[recs] - n4[recs]  # the 2-byte ASNs AS4_PATH does not cover (< 0: ignore it)
    two = recs[lead != 0]  # the 2-byte lead, or the whole AS_PATH
    four = recs[lead >= 0]
    seg_rec, seg_at, seg_n, seg_type, seg_size = segments
    seg_rec += [two, four]
    seg_at += [ps[two] + 2, fs[four] + 2]
    seg_n += [np.where(lead[lead != 0] > 0, lead[lead != 0], n2[two]), n4[four]]
    seg_type += [np.full(len(two), 2, dtype=np.uint8), np.full(len(four), 2, dtype=np.uint8)]
    seg_size += [np.full(len(two), 2, dtype=np.int64), np.full(len(four), 4, dtype=np.int64)]
    return merged


def bgp4mp_v4(
    data: np.ndarray,
    offsets: np.ndarray,
    lengths: np.ndarray,
    subtypes: np.ndarray,
    watched: Sequence[int] | None,
    starts: np.ndarray | None,
    ends: np.ndarray | None,
    elements: bool = False,
    sessions_v6: bool = True,
    as4_merge: bool = False,
) -> Updates:
    """Check the BGP4MP MESSAGE (subtype 1) and MESSAGE_AS4 (subtype 4) records at
    ``offsets`` (``lengths`` body bytes, complete within ``data``), as the per-record code
    of :mod:`takedowns.routing.walk` would, over arrays of offsets; see :class:`Updates`.
    ``elements``: also return the plain updates' segments and IPv4 elements;
    ``sessions_v6``: False leaves the records of IPv6 sessions to the per-record code.
    ``as4_merge``: a MESSAGE (2-byte session) record whose AS_PATH and AS4_PATH are one
    AS_SEQUENCE each is plain too, its path merged as pybgpkit-parser merges it (RFC 6793: the
    leading ASNs of AS_PATH that AS4_PATH does not cover, then AS4_PATH; AS_PATH alone when
    AS4_PATH is longer), given as two AS_SEQUENCE segments (the 2-byte lead, then the 4-byte
    rest), which make the same path, text, origin and upstream as one."""
    m = len(offsets)
    buf = np.concatenate((data, np.zeros(40, dtype=np.uint8)))  # reads may run past the end
    body = offsets + 12
    stop = body + lengths
    size = np.where(subtypes == 4, 4, 2).astype(np.int64)
    ok = np.isin(subtypes, (1, 4)) & (body + 2 * size + 4 <= stop)
    safe = np.where(ok, body, 0)
    peer_as = np.where(size == 4, _u32(buf, safe), _u16(buf, safe))
    afi = _u16(buf, safe + 2 * size + 2)
    session_v6 = afi == 2
    ok &= (afi == 1) | (session_v6 & sessions_v6)
    iplen = np.where(session_v6, 16, 4)
    ip_at = safe + 2 * size + 4
    peer_ip = buf[ip_at[:, None] + np.arange(16)] * (np.arange(16) < iplen[:, None])
    msg = body + 2 * size + 4 + 2 * iplen
    ok &= msg + 19 <= stop
    msg = np.where(ok, msg, 0)
    msg_len = _u16(buf, msg + 16)
    ok &= (msg_len >= 19) & (msg + msg_len <= stop)
    is_update = ok & (buf[msg + 18] == 2)
    update = is_update.copy()  # cleared below where the UPDATE is not plain
    msg_end = msg + msg_len
    # withdrawn routes, attributes, NLRI
    update &= msg + 21 <= msg_end
    wd_len = _u16(buf, np.where(update, msg + 19, 0))
    update &= msg + 23 + wd_len <= msg_end
    attrs = np.where(update, msg + 21 + wd_len, 0)
    attr_len = _u16(buf, attrs)
    attrs += 2
    update &= attrs + attr_len <= msg_end
    wd = _prefix_lists(buf, msg + 21, msg + 21 + wd_len, update)
    nlri = _prefix_lists(buf, attrs + attr_len, msg_end, update)

    # the attribute block
    path_start = np.full(m, -1, dtype=np.int64)
    path_end = np.full(m, -1, dtype=np.int64)
    mp = {
        code: (np.full(m, -1, dtype=np.int64), np.full(m, -1, dtype=np.int64))
        for code in (14, 15, 17)  # MP_REACH_NLRI, MP_UNREACH_NLRI, AS4_PATH
    }
    block_end = attrs + attr_len
    pos = attrs.copy()
    active = np.flatnonzero(update & (pos < block_end))
    while active.size:
        a = pos[active]
        end = block_end[active]
        good = a + 3 <= end
        flags = buf[a]
        code = buf[a + 1]
        ext = (flags & 0x10) != 0
        good &= ~ext | (a + 4 <= end)
        short_len = buf[a + 2].astype(np.int64)
        long_len = (short_len << 8) | buf[a + 3]
        value = a + np.where(ext, 4, 3)
        vend = value + np.where(ext, long_len, short_len)
        good &= vend <= end
        if not as4_merge:
            good &= code != 17  # AS4_PATH: the per-record code merges it
        for which, (first, last) in ((2, (path_start, path_end)), *mp.items()):
            is_it = (code == which) & good
            second = is_it & (first[active] >= 0)  # the parser keeps only the last one
            good &= ~second
            is_it &= ~second
            first[active[is_it]] = value[is_it]
            last[active[is_it]] = vend[is_it]
        bad = active[~good]
        update[bad] = False
        pos[bad] = block_end[bad]
        pos[active[good]] = vend[good]
        active = active[good]
        active = active[pos[active] < block_end[active]]
    reach_v4, reach_v6 = _mp_nlri(buf, mp[14][0], mp[14][1], True, update)
    unreach_v4, unreach_v6 = _mp_nlri(buf, mp[15][0], mp[15][1], False, update)

    # AS_PATH segments: types 1/2 only, filling the attribute exactly
    seg_rec: list[np.ndarray] = []
    seg_at: list[np.ndarray] = []
    seg_n: list[np.ndarray] = []
    seg_type_of: list[np.ndarray] = []
    seg_size_of: list[np.ndarray] = []
    merged = np.zeros(m, dtype=bool)
    if as4_merge:
        merged = _merge_as4(
            buf, subtypes, (path_start, path_end), mp[17], update,
            (seg_rec, seg_at, seg_n, seg_type_of, seg_size_of),
        )  # fmt: skip
    j = path_start.copy()
    active = np.flatnonzero(update & ~merged & (path_start >= 0) & (path_start < path_end))
    while active.size:
        at = j[active]
        end = path_end[active]
        good = at + 2 <= end
        seg_type = buf[at]
        count = buf[at + 1].astype(np.int64)
        good &= np.isin(seg_type, _PLAIN_SEGMENTS)
        nxt = at + 2 + size[active] * count
        good &= nxt <= end
        update[active[~good]] = False
        keep = active[good]
        seg_rec.append(keep)
        seg_at.append(at[good] + 2)
        seg_n.append(count[good])
        seg_type_of.append(seg_type[good])
        seg_size_of.append(size[keep])
        j[keep] = nxt[good]
        active = keep[j[keep] < path_end[keep]]

    plain = (ok & ~is_update) | update
    empty = np.zeros(0, dtype=np.int64)
    rec = np.concatenate(seg_rec) if seg_rec else empty
    order = np.argsort(rec, kind="stable")
    order = order[update[rec[order]]]
    rec = rec[order]
    first = (np.concatenate(seg_at) if seg_at else empty)[order]
    n = (np.concatenate(seg_n) if seg_n else empty)[order]
    kinds = (np.concatenate(seg_type_of) if seg_type_of else empty)[order]
    seg_size = (np.concatenate(seg_size_of) if seg_size_of else empty)[order]

    v4_lists = (nlri, reach_v4, wd, unreach_v4)  # the parser's order within a record
    hit = np.zeros(m, dtype=bool)
    if watched is not None and rec.size:
        asn = asn_values(buf, first, n, seg_size)
        found = np.isin(asn, np.fromiter(watched, dtype=np.int64))
        hit[np.repeat(rec, n)[found]] = True
    if starts is not None and ends is not None and len(starts):
        for lists in v4_lists:
            hit[lists[0][_overlapping(lists[1], lists[2], starts, ends)]] = True
    hit &= update
    ipv4 = sum(lists[3] for lists in v4_lists)
    result = Updates(
        plain=plain,
        update=update,
        hit=hit,
        peer_ip=peer_ip.astype(np.uint8),
        session_v6=session_v6,
        peer_as=peer_as,
        ipv4=np.where(update, ipv4, 0),
        ipv6=np.where(update, reach_v6 + unreach_v6, 0),
    )
    if elements:
        result.seg_rec, result.seg_type, result.seg_n, result.seg_at = rec, kinds, n, first
        result.seg_size = seg_size
        result.has_path = update & (path_start >= 0)
        el_rec = np.concatenate([lists[0] for lists in v4_lists])
        group = np.concatenate([np.full(len(lists[0]), g) for g, lists in enumerate(v4_lists)])
        order = np.lexsort((group, el_rec))  # stable: each list keeps its own order
        order = order[update[el_rec[order]]]
        result.el_rec = el_rec[order]
        result.el_prefix = np.concatenate([lists[1] for lists in v4_lists])[order]
        result.el_length = np.concatenate([lists[2] for lists in v4_lists])[order]
        result.el_withdrawn = (group >= 2)[order]
    return result
