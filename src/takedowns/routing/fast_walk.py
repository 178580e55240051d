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
from dataclasses import dataclass, field

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


def _attribute_values(
    buf: np.ndarray,
    start: np.ndarray,
    stop: np.ndarray,
    ok: np.ndarray,
    tracked: Sequence[int],
    refused: Sequence[int] = (),
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Walk the attribute blocks [start, stop) of the records where ``ok``, in as many steps
    as the longest block has attributes: every header and length must fit. Clears ``ok``
    where one does not, where an attribute of a ``refused`` type appears, or where one of a
    ``tracked`` type appears twice (the per-record code decides those). Returns, per tracked
    type, the [start, end) of its value in each record (-1 where absent)."""
    m = len(start)
    found = {
        code: (np.full(m, -1, dtype=np.int64), np.full(m, -1, dtype=np.int64)) for code in tracked
    }
    pos = np.where(ok, start, stop)
    active = np.flatnonzero(pos < stop)
    while active.size:
        a = pos[active]
        end = stop[active]
        good = a + 3 <= end
        a_safe = np.where(good, a, 0)  # reads stay inside the buffer
        flags = buf[a_safe]
        code = buf[a_safe + 1]
        ext = (flags & 0x10) != 0
        good &= ~ext | (a + 4 <= end)
        short_len = buf[a_safe + 2].astype(np.int64)
        long_len = (short_len << 8) | buf[np.where(good & ext, a_safe + 3, 0)]
        value = a + np.where(ext, 4, 3)
        vend = value + np.where(ext, long_len, short_len)
        good &= vend <= end
        if refused:
            good &= ~np.isin(code, refused)
        for which, (first, last) in found.items():
            is_it = (code == which) & good
            second = is_it & (first[active] >= 0)
            good &= ~second
            is_it &= ~second
            first[active[is_it]] = value[is_it]
            last[active[is_it]] = vend[is_it]
        bad = active[~good]
        ok[bad] = False
        pos[bad] = stop[bad]
        pos[active[good]] = vend[good]
        active = active[good]
        active = active[pos[active] < stop[active]]
    return found


@dataclass
class _Segments:
    """AS_PATH segments found one position at a time (lists of arrays, one per step)."""

    rec: list[np.ndarray] = field(default_factory=list)
    at: list[np.ndarray] = field(default_factory=list)  # offset of the first ASN
    n: list[np.ndarray] = field(default_factory=list)
    kind: list[np.ndarray] = field(default_factory=list)
    size: list[np.ndarray] = field(default_factory=list)  # bytes per ASN

    def add(
        self,
        rec: np.ndarray,
        at: np.ndarray,
        n: np.ndarray,
        kind: int | np.ndarray,
        size: int | np.ndarray,
    ) -> None:
        self.rec.append(rec)
        self.at.append(at)
        self.n.append(n)
        self.kind.append(np.broadcast_to(np.asarray(kind, dtype=np.int64), rec.shape))
        self.size.append(np.broadcast_to(np.asarray(size, dtype=np.int64), rec.shape))

    def walk(
        self,
        buf: np.ndarray,
        start: np.ndarray,
        end: np.ndarray,
        size: np.ndarray,
        walked: np.ndarray,
    ) -> np.ndarray:
        """Add the segments of the paths [start, end) of the records where ``walked`` (ASNs
        of ``size`` bytes): types AS_SET/AS_SEQUENCE only, filling the path exactly. Returns
        the records where they do not."""
        bad_records = np.zeros(len(start), dtype=bool)
        j = start.copy()
        active = np.flatnonzero(walked & (start >= 0) & (start < end))
        while active.size:
            at = j[active]
            stop = end[active]
            good = at + 2 <= stop
            at_safe = np.where(good, at, 0)
            seg_type = buf[at_safe]
            count = buf[at_safe + 1].astype(np.int64)
            good &= np.isin(seg_type, _PLAIN_SEGMENTS)
            nxt = at + 2 + size[active] * count
            good &= nxt <= stop
            bad_records[active[~good]] = True
            keep = active[good]
            self.add(keep, at[good] + 2, count[good], seg_type[good], size[keep])
            j[keep] = nxt[good]
            active = keep[j[keep] < end[keep]]
        return bad_records

    def sorted(self, ok: np.ndarray) -> tuple[np.ndarray, ...]:
        """rec, at, n, kind, size of the segments of the records where ``ok``, each record's
        in path order (a stable sort by record keeps the order they were found in)."""
        empty = np.zeros(0, dtype=np.int64)
        parts = [
            np.concatenate(x) if x else empty
            for x in (self.rec, self.at, self.n, self.kind, self.size)
        ]
        order = np.argsort(parts[0], kind="stable")
        order = order[ok[parts[0][order]]]
        return tuple(p[order] for p in parts)


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

    # AS4_PATH, or a second AS_PATH: the per-record code decides
    path_start, path_end = _attribute_values(buf, body + 22, stop, ok, (2,), refused=(17,))[2]
    found_segments = _Segments()
    ok &= ~found_segments.walk(buf, path_start, path_end, np.full(m, 2, dtype=np.int64), ok.copy())
    rec, first, count, kinds, _ = found_segments.sorted(ok)

    hit = np.zeros(m, dtype=bool)
    if watched is not None and rec.size:
        asn = asn_values(buf, first, count, np.full(len(rec), 2, dtype=np.int64))
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
        entries.seg_rec, entries.seg_at, entries.seg_n, entries.seg_type = rec, first, count, kinds
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
    segments: _Segments,
) -> np.ndarray:
    """The merged paths of the updates that carry AS4_PATH (see :func:`bgp4mp_v4`), added to
    ``segments``; the others that carry it are no longer plain (cleared in ``update``).
    Returns which records were merged."""
    (path_start, path_end), (four_start, four_end) = as_path, as4_path
    has = update & (four_start >= 0)
    if not has.any():
        return np.zeros(len(update), dtype=bool)
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
    two = lead != 0  # the 2-byte lead, or the whole AS_PATH
    segments.add(recs[two], ps[recs[two]] + 2, np.where(lead > 0, lead, n2[recs])[two], 2, 2)
    four = recs[lead >= 0]
    segments.add(four, fs[four] + 2, n4[four], 2, 4)
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

    # the attribute block: AS_PATH, MP_REACH_NLRI, MP_UNREACH_NLRI, AS4_PATH
    values = _attribute_values(
        buf, attrs, attrs + attr_len, update, (2, 14, 15, 17), refused=() if as4_merge else (17,)
    )
    path_start, path_end = values[2]
    mp = values
    reach_v4, reach_v6 = _mp_nlri(buf, mp[14][0], mp[14][1], True, update)
    unreach_v4, unreach_v6 = _mp_nlri(buf, mp[15][0], mp[15][1], False, update)

    # AS_PATH segments: types 1/2 only, filling the attribute exactly
    found_segments = _Segments()
    merged = np.zeros(m, dtype=bool)
    if as4_merge:
        merged = _merge_as4(buf, subtypes, (path_start, path_end), mp[17], update, found_segments)
    update &= ~found_segments.walk(buf, path_start, path_end, size, update & ~merged)
    plain = (ok & ~is_update) | update
    rec, first, n, kinds, seg_size = found_segments.sorted(update)

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


# --------------------------------------------------------------------------------------------
# TABLE_DUMP_V2 RIB entries


@dataclass
class PeerIndex:
    """A PEER_INDEX_TABLE: per peer, its address (IPv4 as an integer; -1 for an IPv6 peer)
    and its ASN."""

    ip: np.ndarray
    asn: np.ndarray

    @classmethod
    def of(cls, peers: Sequence[tuple[bytes, int]]) -> PeerIndex:
        """From the walk's (address bytes, ASN) pairs
        (:func:`takedowns.routing.walk.parse_peer_index`)."""
        return cls(
            np.array(
                [int.from_bytes(ip, "big") if len(ip) == 4 else -1 for ip, _ in peers],
                dtype=np.int64,
            ),
            np.array([asn for _, asn in peers], dtype=np.int64),
        )


@dataclass
class RibEntries:
    """The entries of the TABLE_DUMP_V2 RIB_IPV4_UNICAST records given to
    :func:`table_dump_v2_v4`: ``plain`` per record; per entry of the plain records, in
    order, its record, peer index, whether it has an AS_PATH; and the entries' AS_PATH
    segments (4-byte ASNs) as in :class:`Entries`, keyed by entry."""

    plain: np.ndarray
    prefix: np.ndarray  # per record
    length: np.ndarray  # per record
    ent_rec: np.ndarray
    ent_peer: np.ndarray
    has_path: np.ndarray
    seg_rec: np.ndarray
    seg_type: np.ndarray
    seg_n: np.ndarray
    seg_at: np.ndarray
    seg_size: np.ndarray


def table_dump_v2_v4(
    buf: np.ndarray, offsets: np.ndarray, lengths: np.ndarray, peers: PeerIndex
) -> RibEntries:
    """Decode the RIB_IPV4_UNICAST records at ``offsets`` (complete, checked by the walk)
    against the peer table ``peers``, over arrays: a record is *plain* when its prefix and
    every entry are well formed, every entry's peer is an IPv4 peer of ``peers`` and its
    attributes hold at most one AS_PATH of AS_SEQUENCE/AS_SET segments and no AS4_PATH.
    The others are left to the parser."""
    m = len(offsets)
    body = offsets + 12
    stop = body + lengths
    ok = lengths >= 7
    safe = np.where(ok, body, 0)
    plen = buf[safe + 4].astype(np.int64)
    nbytes = (plen + 7) >> 3
    ok &= (plen <= 32) & (body + 7 + nbytes <= stop)
    prefix = np.zeros(m, dtype=np.int64)
    for k in range(4):
        at = np.where(ok & (nbytes > k), safe + 5 + k, 0)
        prefix |= (buf[at].astype(np.int64) * (ok & (nbytes > k))) << (24 - 8 * k)
    count = _u16(buf, np.where(ok, safe + 5 + nbytes, 0))
    # the entries, one position at a time: peer index (2), originated (4), attribute length
    pos = np.where(ok, safe + 7 + nbytes, 0)
    left = np.where(ok, count, 0)
    recs, peer_of, starts, ends, steps = [], [], [], [], []
    active = np.flatnonzero(left > 0)
    step = 0
    while active.size:
        at = pos[active]
        good = at + 8 <= stop[active]
        at = np.where(good, at, 0)
        index = _u16(buf, at)
        alen = _u16(buf, at + 6)
        good &= (at + 8 + alen <= stop[active]) & (index < len(peers.ip))
        good &= peers.ip[np.where(good, index, 0)] >= 0  # an IPv4 peer
        ok[active[~good]] = False
        a = active[good]
        recs.append(a)
        peer_of.append(index[good])
        starts.append(at[good] + 8)
        ends.append(at[good] + 8 + alen[good])
        steps.append(np.full(len(a), step, dtype=np.int64))
        pos[a] = at[good] + 8 + alen[good]
        left[a] -= 1
        active = a[left[a] > 0]
        step += 1
    ok &= np.where(ok, pos == stop, False)  # no bytes after the last entry
    empty = np.zeros(0, dtype=np.int64)
    cat = lambda parts: np.concatenate(parts) if parts else empty  # noqa: E731
    ent_rec, ent_peer, a_start, a_end = cat(recs), cat(peer_of), cat(starts), cat(ends)
    order = np.lexsort((cat(steps), ent_rec))
    ent_rec, ent_peer, a_start, a_end = (
        ent_rec[order],
        ent_peer[order],
        a_start[order],
        a_end[order],
    )
    entry_ok = np.ones(len(ent_rec), dtype=bool)
    path_start, path_end = _attribute_values(buf, a_start, a_end, entry_ok, (2,), (17,))[2]
    segments = _Segments()
    entry_ok &= ~segments.walk(
        buf, path_start, path_end, np.full(len(ent_rec), 4, dtype=np.int64), entry_ok.copy()
    )
    bad = np.zeros(m, dtype=bool)
    bad[ent_rec[~entry_ok]] = True
    ok &= ~bad
    keep = ok[ent_rec]  # the entries of plain records
    renumber = np.cumsum(keep) - 1
    seg_rec, seg_at, seg_n, seg_type, seg_size = segments.sorted(keep)
    return RibEntries(
        plain=ok,
        prefix=prefix,
        length=plen,
        ent_rec=ent_rec[keep],
        ent_peer=ent_peer[keep],
        has_path=(path_start >= 0)[keep],
        seg_rec=renumber[seg_rec],
        seg_type=seg_type,
        seg_n=seg_n,
        seg_at=seg_at,
        seg_size=seg_size,
    )
