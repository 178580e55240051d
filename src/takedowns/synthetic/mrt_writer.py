"""Write valid MRT bytes (RFC 6396): the record shapes of the 2007-2009 routing archives.

Used by the SYNTHETIC mirror generator (:mod:`takedowns.synthetic.gen_routing`), the MRT tests
(small byte fixtures, including deliberately broken ones) and the benchmarks. Every record is
built with :mod:`struct` from the RFCs, and the tests check the bytes with two independent
readers (pybgpkit-parser and ``bgpdump -m``).

* ``TABLE_DUMP`` (type 12, subtype 1 = AFI IPv4): route-views2 RIBs until early 2009, one
  record per (prefix, peer), 2-byte ASNs (a 4-byte ASN travels in ``AS4_PATH``).
* ``TABLE_DUMP_V2`` (type 13): ``PEER_INDEX_TABLE`` then ``RIB_IPV4_UNICAST`` records, one per
  prefix with an entry per peer; AS paths are 4-byte encoded (RFC 6396 section 4.3.4).
* ``BGP4MP`` (type 16) ``MESSAGE`` (subtype 1, 2-byte ASNs) and ``MESSAGE_AS4`` (subtype 4)
  carrying BGP UPDATE messages (announcements with ORIGIN, AS_PATH and NEXT_HOP; withdrawals).

AS paths are written as segments: ``[("seq", [3549, 26780]), ("set", [1, 2])]``, or parsed
from text with :func:`parse_as_path` (``"3549 26780"``, ``"701 {1,2}"``, ``"(65001) 3356"``).
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# MRT types and subtypes (RFC 6396)
TABLE_DUMP = 12
TABLE_DUMP_V2 = 13
BGP4MP = 16
BGP4MP_ET = 17
TD_AFI_IPV4 = 1
TD_AFI_IPV6 = 2
PEER_INDEX_TABLE = 1
RIB_IPV4_UNICAST = 2
RIB_IPV6_UNICAST = 4
BGP4MP_STATE_CHANGE = 0
BGP4MP_MESSAGE = 1
BGP4MP_MESSAGE_AS4 = 4

# BGP path attributes (RFC 4271, RFC 6793)
ATTR_ORIGIN = 1
ATTR_AS_PATH = 2
ATTR_NEXT_HOP = 3
ATTR_MED = 4
ATTR_AS4_PATH = 17
FLAG_OPTIONAL = 0x80
FLAG_TRANSITIVE = 0x40
FLAG_EXTENDED = 0x10
ORIGINS = {"IGP": 0, "EGP": 1, "INCOMPLETE": 2}

# AS_PATH segment types
SEGMENT_TYPES = {"set": 1, "seq": 2, "confed_seq": 3, "confed_set": 4}
AS_TRANS = 23456
BGP_MARKER = b"\xff" * 16

Segment = tuple[str, Sequence[int]]


def parse_as_path(text: str) -> list[Segment]:
    """Segments from text: ``{a,b}`` is an AS_SET, ``(a b)`` a confederation sequence,
    ``[a,b]`` a confederation set, bare numbers an AS_SEQUENCE."""
    segments: list[Segment] = []
    tokens = text.replace("{", " { ").replace("}", " } ").replace("(", " ( ")
    tokens = tokens.replace(")", " ) ").replace("[", " [ ").replace("]", " ] ").replace(",", " ")
    closing = {"{": ("}", "set"), "(": (")", "confed_seq"), "[": ("]", "confed_set")}
    words = tokens.split()
    i = 0
    current: list[int] = []
    while i < len(words):
        word = words[i]
        if word in closing:
            if current:
                segments.append(("seq", current))
                current = []
            end, kind = closing[word]
            j = words.index(end, i + 1)
            segments.append((kind, [int(w) for w in words[i + 1 : j]]))
            i = j + 1
            continue
        current.append(int(word))
        i += 1
    if current:
        segments.append(("seq", current))
    return segments


def encode_prefix(prefix: str) -> bytes:
    """NLRI encoding: length byte, then the significant octets of the address."""
    net = ipaddress.ip_network(prefix)
    nbytes = (net.prefixlen + 7) // 8
    return bytes([net.prefixlen]) + net.network_address.packed[:nbytes]


def attribute(flags: int, code: int, value: bytes) -> bytes:
    """One path attribute; the extended-length flag is set when the value needs it."""
    if len(value) > 255:
        return struct.pack(">BBH", flags | FLAG_EXTENDED, code, len(value)) + value
    return struct.pack(">BBB", flags, code, len(value)) + value


def encode_segments(segments: Iterable[Segment], four_byte: bool) -> bytes:
    """AS_PATH attribute value: segment type, count, then 2- or 4-byte ASNs."""
    out = bytearray()
    fmt = ">I" if four_byte else ">H"
    for kind, asns in segments:
        out += struct.pack(">BB", SEGMENT_TYPES[kind], len(asns))
        for asn in asns:
            value = asn if four_byte or asn <= 0xFFFF else AS_TRANS
            out += struct.pack(fmt, value)
    return bytes(out)


def _needs_as4(segments: Iterable[Segment]) -> bool:
    return any(asn > 0xFFFF for _, asns in segments for asn in asns)


def path_attributes(
    as_path: str | Sequence[Segment],
    next_hop: str,
    *,
    four_byte: bool,
    origin: str = "IGP",
    med: int | None = None,
) -> bytes:
    """ORIGIN, AS_PATH (and AS4_PATH when a 2-byte path must carry a 4-byte ASN), NEXT_HOP."""
    segments = parse_as_path(as_path) if isinstance(as_path, str) else list(as_path)
    out = attribute(FLAG_TRANSITIVE, ATTR_ORIGIN, bytes([ORIGINS[origin]]))
    out += attribute(FLAG_TRANSITIVE, ATTR_AS_PATH, encode_segments(segments, four_byte))
    out += attribute(FLAG_TRANSITIVE, ATTR_NEXT_HOP, ipaddress.IPv4Address(next_hop).packed)
    if med is not None:
        out += attribute(FLAG_OPTIONAL, ATTR_MED, struct.pack(">I", med))
    if not four_byte and _needs_as4(segments):
        # RFC 6793: AS4_PATH carries the true path; confederation segments are left out.
        real = [(k, a) for k, a in segments if k in ("seq", "set")]
        out += attribute(
            FLAG_OPTIONAL | FLAG_TRANSITIVE, ATTR_AS4_PATH, encode_segments(real, True)
        )
    return out


def record(timestamp: int, mrt_type: int, subtype: int, body: bytes) -> bytes:
    """An MRT record: 12-byte common header (timestamp, type, subtype, length) and body."""
    return struct.pack(">IHHI", timestamp, mrt_type, subtype, len(body)) + body


# --------------------------------------------------------------------------------------------
# TABLE_DUMP (v1)


def table_dump_v1(
    timestamp: int,
    prefix: str,
    peer_ip: str,
    peer_as: int,
    as_path: str | Sequence[Segment],
    *,
    next_hop: str | None = None,
    sequence: int = 0,
    originated: int | None = None,
    view: int = 0,
    status: int = 1,
) -> bytes:
    """One TABLE_DUMP (AFI IPv4) entry. ``peer_as`` above 65535 is written as AS_TRANS."""
    net = ipaddress.IPv4Network(prefix)
    attrs = path_attributes(as_path, next_hop or peer_ip, four_byte=False)
    body = struct.pack(
        ">HH4sBBI4sHH",
        view,
        sequence & 0xFFFF,
        net.network_address.packed,
        net.prefixlen,
        status,
        timestamp if originated is None else originated,
        ipaddress.IPv4Address(peer_ip).packed,
        peer_as if peer_as <= 0xFFFF else AS_TRANS,
        len(attrs),
    )
    return record(timestamp, TABLE_DUMP, TD_AFI_IPV4, body + attrs)


def table_dump_v1_ipv6(
    timestamp: int, prefix: str, peer_ip: str, peer_as: int, as_path: str, next_hop: str
) -> bytes:
    """One TABLE_DUMP entry with AFI IPv6 (subtype 2); NEXT_HOP is left out (it is IPv4-only)."""
    net = ipaddress.IPv6Network(prefix)
    segments = parse_as_path(as_path)
    attrs = attribute(FLAG_TRANSITIVE, ATTR_ORIGIN, b"\x00")
    attrs += attribute(FLAG_TRANSITIVE, ATTR_AS_PATH, encode_segments(segments, False))
    del next_hop
    body = struct.pack(
        ">HH16sBBI16sHH",
        0,
        0,
        net.network_address.packed,
        net.prefixlen,
        1,
        timestamp,
        ipaddress.IPv6Address(peer_ip).packed,
        peer_as,
        len(attrs),
    )
    return record(timestamp, TABLE_DUMP, TD_AFI_IPV6, body + attrs)


# --------------------------------------------------------------------------------------------
# TABLE_DUMP_V2


@dataclass(frozen=True)
class Peer:
    """A collector peer: BGP identifier, address (IPv4) and ASN."""

    ip: str
    asn: int
    bgp_id: str | None = None


def peer_index_table(
    timestamp: int, peers: Sequence[Peer], *, collector_id: str = "0.0.0.0", view: str = ""
) -> bytes:
    """The PEER_INDEX_TABLE that RIB records refer to by index (4-byte ASNs, IPv4 peers)."""
    name = view.encode()
    body = ipaddress.IPv4Address(collector_id).packed + struct.pack(">H", len(name)) + name
    body += struct.pack(">H", len(peers))
    for peer in peers:
        body += struct.pack(
            ">B4s4sI",
            0x02,  # peer type: IPv4 address, 4-byte AS
            ipaddress.IPv4Address(peer.bgp_id or peer.ip).packed,
            ipaddress.IPv4Address(peer.ip).packed,
            peer.asn,
        )
    return record(timestamp, TABLE_DUMP_V2, PEER_INDEX_TABLE, body)


@dataclass(frozen=True)
class RibEntry:
    """One peer's route for a prefix in a TABLE_DUMP_V2 RIB record."""

    peer_index: int
    as_path: str | Sequence[Segment]
    next_hop: str
    originated: int = 0


def rib_ipv4_unicast(
    timestamp: int, sequence: int, prefix: str, entries: Sequence[RibEntry]
) -> bytes:
    """A RIB_IPV4_UNICAST record: sequence, prefix, and one entry per peer."""
    body = struct.pack(">I", sequence) + encode_prefix(prefix) + struct.pack(">H", len(entries))
    for entry in entries:
        attrs = path_attributes(entry.as_path, entry.next_hop, four_byte=True)
        body += struct.pack(">HIH", entry.peer_index, entry.originated or timestamp, len(attrs))
        body += attrs
    return record(timestamp, TABLE_DUMP_V2, RIB_IPV4_UNICAST, body)


# --------------------------------------------------------------------------------------------
# BGP4MP


def bgp_update(
    *,
    withdrawn: Sequence[str] = (),
    announced: Sequence[str] = (),
    attributes: bytes = b"",
) -> bytes:
    """A BGP UPDATE message (marker, length, type 2, withdrawn routes, attributes, NLRI)."""
    wd = b"".join(encode_prefix(p) for p in withdrawn)
    nlri = b"".join(encode_prefix(p) for p in announced)
    payload = struct.pack(">H", len(wd)) + wd + struct.pack(">H", len(attributes)) + attributes
    payload += nlri
    return BGP_MARKER + struct.pack(">HB", 19 + len(payload), 2) + payload


def bgp4mp_message(
    timestamp: int,
    message: bytes,
    *,
    peer_as: int,
    peer_ip: str,
    local_as: int = 6447,
    local_ip: str = "128.223.51.102",
    as4: bool = True,
) -> bytes:
    """A BGP4MP MESSAGE_AS4 (``as4``) or MESSAGE record around a BGP message (IPv4 session)."""
    fmt = ">IIHH4s4s" if as4 else ">HHHH4s4s"
    if not as4:
        peer_as = peer_as if peer_as <= 0xFFFF else AS_TRANS
        local_as = local_as if local_as <= 0xFFFF else AS_TRANS
    head = struct.pack(
        fmt,
        peer_as,
        local_as,
        0,  # interface index
        1,  # AFI IPv4
        ipaddress.IPv4Address(peer_ip).packed,
        ipaddress.IPv4Address(local_ip).packed,
    )
    subtype = BGP4MP_MESSAGE_AS4 if as4 else BGP4MP_MESSAGE
    return record(timestamp, BGP4MP, subtype, head + message)


def announce(
    timestamp: int,
    peer_ip: str,
    peer_as: int,
    prefixes: Sequence[str],
    as_path: str | Sequence[Segment],
    *,
    next_hop: str | None = None,
    as4: bool = True,
    origin: str = "IGP",
) -> bytes:
    """A BGP4MP record announcing ``prefixes`` with ORIGIN, AS_PATH and NEXT_HOP."""
    attrs = path_attributes(as_path, next_hop or peer_ip, four_byte=as4, origin=origin)
    message = bgp_update(announced=prefixes, attributes=attrs)
    return bgp4mp_message(timestamp, message, peer_as=peer_as, peer_ip=peer_ip, as4=as4)


def withdraw(
    timestamp: int, peer_ip: str, peer_as: int, prefixes: Sequence[str], *, as4: bool = True
) -> bytes:
    """A BGP4MP record withdrawing ``prefixes``."""
    message = bgp_update(withdrawn=prefixes)
    return bgp4mp_message(timestamp, message, peer_as=peer_as, peer_ip=peer_ip, as4=as4)


def state_change(timestamp: int, peer_ip: str, peer_as: int, old: int = 6, new: int = 1) -> bytes:
    """A BGP4MP STATE_CHANGE record (2-byte ASNs): no routes, but a record all the same."""
    body = struct.pack(
        ">HHHH4s4sHH",
        peer_as if peer_as <= 0xFFFF else AS_TRANS,
        6447,
        0,
        1,
        ipaddress.IPv4Address(peer_ip).packed,
        ipaddress.IPv4Address("128.223.51.102").packed,
        old,
        new,
    )
    return record(timestamp, BGP4MP, BGP4MP_STATE_CHANGE, body)


@dataclass
class MrtStream:
    """Collects records in order; ``bytes()`` gives the file contents."""

    records: list[bytes] = field(default_factory=list)

    def add(self, *records: bytes) -> None:
        self.records.extend(records)

    def __bytes__(self) -> bytes:
        return b"".join(self.records)

    def __len__(self) -> int:
        return len(self.records)
