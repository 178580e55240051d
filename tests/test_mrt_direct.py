"""Rows built directly from plain TABLE_DUMP entries (:func:`takedowns.routing.mrt._direct_frame`)
against the rows pybgpkit-parser gives for the same records: every column, the order of the
rows, the peers table and the QC record must be the same."""

from __future__ import annotations

import bz2
import gzip
import ipaddress
import json
import random
import struct
from pathlib import Path

import polars as pl
import pytest

from takedowns.routing import element_columns, mrt
from takedowns.routing.element_columns import element_table
from takedowns.routing.mrt import Watch, normalize_mrt
from takedowns.synthetic import mrt_writer as mw
from test_mrt_fast import table_dump

TS = 1226440800
REAL_RIB = (
    Path(__file__).resolve().parents[2] / "shared/realdata/routing/rib.20080501.0644_firstMB.bz2"
)
WATCH = Watch.build([26780, 40989], prefixes=["208.66.192.0/22", "12.1.0.0/16"])


def _attr(code: int, value: bytes) -> bytes:
    if len(value) > 255:
        return struct.pack(">BBH", 0x50, code, len(value)) + value
    return struct.pack(">BBB", 0x40, code, len(value)) + value


def _segments(*segments: tuple[int, list[int]]) -> bytes:
    return b"".join(
        struct.pack(">BB", kind, len(asns)) + b"".join(struct.pack(">H", a) for a in asns)
        for kind, asns in segments
    )


def _entry(prefix: int, plen: int, peer_as: int, attrs: bytes, ts: int = TS) -> bytes:
    body = struct.pack(
        ">HHIBBI4sHH", 0, 0, prefix, plen, 1, 5, bytes([10, 0, 0, 1]), peer_as, len(attrs)
    )
    return struct.pack(">IHHI", ts, 12, 1, len(body) + len(attrs)) + body + attrs


def edge_entries() -> list[bytes]:
    """TABLE_DUMP entries whose text the parser writes in a particular way: AS sets (one
    member, repeated members, in the middle, empty), empty segments, an empty AS_PATH, none
    at all, host bits in the prefix, /0 and /32, ASN 0 and 65535, an extended-length path."""
    origin, hop = _attr(1, b"\x00"), _attr(3, bytes([10, 0, 0, 1]))
    net = int(ipaddress.IPv4Address("12.1.0.0"))
    paths = [
        _segments((2, [3549, 26780])),
        _segments((2, [3549]), (1, [7, 3, 5])),
        _segments((2, [3549]), (1, [7, 3]), (2, [9])),
        _segments((1, [7])),
        _segments((1, [7, 7, 3])),
        _segments((2, [1, 2]), (2, [3])),
        b"",
        _segments((2, [])),
        _segments((2, [1]), (2, []), (2, [2])),
        _segments((2, [1]), (1, [])),
        _segments((2, [65535, 0])),
        _segments((2, [23456, 5])),
        _segments((2, list(range(1, 200)))),
    ]
    out = [_entry(net, 16, 3549, origin + _attr(2, p) + hop) for p in paths]
    out.append(_entry(net, 16, 3549, origin + hop))  # no AS_PATH
    out.append(_entry(net, 16, 3549, b""))  # no attributes
    out.append(_entry(net | 0x0305, 16, 0, origin + _attr(2, _segments((2, [1]))) + hop))
    out.append(_entry(0, 0, 1, origin + _attr(2, _segments((2, [1]))) + hop))
    out.append(_entry(net | 7, 32, 1, origin + _attr(2, _segments((2, [26780]))) + hop))
    return out


def table_dump_v2(entries: int, seed: int) -> bytes:
    rng = random.Random(seed)
    peers = [mw.Peer("10.0.0.1", 3549), mw.Peer("10.0.0.2", 196613), mw.Peer("10.0.0.3", 174)]
    paths = ["3549 26780", "196613 {7018,701}", "174 23456 1234", "(65000 65001) 3549 26780"]
    out = [mw.peer_index_table(TS, peers)]
    for i in range(entries):
        routes = [mw.RibEntry(k, rng.choice(paths), "10.0.0.9") for k in range(rng.randint(1, 3))]
        out.append(mw.rib_ipv4_unicast(TS + i // 50, i, f"12.{i % 250}.{i // 250}.0/24", routes))
    return b"".join(out)


def _normalize(
    raw: Path, out: Path, *, keep_all: bool, parallel: bool, direct: bool = True
) -> tuple:
    qc = normalize_mrt(
        raw,
        out / "t.parquet",
        collector="route-views2",
        source_file=raw.name,
        watch=None if keep_all else WATCH,
        keep_all=keep_all,
        allow_partial=True,
        max_malformed=10**6,
        peers_out=out / "p.parquet",
        qc_out=out / "q.json",
        parallel=parallel,
        direct=direct,
    )
    return (
        pl.read_parquet(out / "t.parquet"),
        pl.read_parquet(out / "p.parquet"),
        json.loads((out / "q.json").read_text()),
        qc,
    )


def both_ways(raw: Path, tmp: Path, monkeypatch: pytest.MonkeyPatch, **kw: bool) -> int:
    """Normalize ``raw`` with direct rows and with the parser alone; assert the same tables,
    peers and QC; return how many rows were built directly."""
    built = []

    def counted(*a: object, **k: object) -> tuple:
        table, rows = element_table(*a, **k)  # type: ignore[arg-type]
        built.append(table.num_rows)
        return table, rows

    with monkeypatch.context() as m:
        m.setattr(element_columns, "element_table", counted)
        direct = _normalize(raw, tmp / "direct", **kw)
    parsed = _normalize(raw, tmp / "parsed", direct=False, **kw)
    assert direct[0].equals(parsed[0]), raw.name
    assert direct[0].schema == parsed[0].schema
    assert direct[1].equals(parsed[1])
    assert direct[2] == parsed[2]
    return sum(built)


@pytest.mark.parametrize("keep_all", [True, False])
@pytest.mark.parametrize("parallel", [False, True])
def test_direct_rows_equal_the_parser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep_all: bool, parallel: bool
) -> None:
    """AS4_PATH, confederations, AS sets, IPv6 (skipped), malformed entries and the edge
    cases above, over several chunks (so chunks mixing direct rows and parsed rows occur)."""
    rng = random.Random(3)
    edges = edge_entries()
    data = table_dump(4000, seed=11) + b"".join(rng.choice(edges) for _ in range(3000))
    raw = tmp_path / "rib.20081111.2200.bz2"
    raw.write_bytes(bz2.compress(data))
    monkeypatch.setattr(mrt, "RIB_CHUNK_BYTES", 64 << 10)
    built = both_ways(raw, tmp_path, monkeypatch, keep_all=keep_all, parallel=parallel)
    assert built > 0


def test_table_dump_v2_and_mixed_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TABLE_DUMP_V2 entries are built directly against the PEER_INDEX_TABLE in force, which
    the records the parser reads get in every chunk; a file mixing both versions keeps its
    order."""
    monkeypatch.setattr(mrt, "RIB_CHUNK_BYTES", 16 << 10)
    v2 = tmp_path / "rib.20081111.2300.gz"
    v2.write_bytes(gzip.compress(table_dump_v2(3000, seed=5)))
    assert both_ways(v2, tmp_path / "v2", monkeypatch, keep_all=True, parallel=False) > 5000
    mixed = tmp_path / "rib.20081112.0000.gz"
    data = table_dump(800, seed=9) + table_dump_v2(500, seed=6) + table_dump(800, seed=10)
    mixed.write_bytes(gzip.compress(data))
    assert both_ways(mixed, tmp_path / "mixed", monkeypatch, keep_all=True, parallel=True) > 0


@pytest.mark.skipif(not REAL_RIB.exists(), reason="../shared/realdata is not available")
@pytest.mark.parametrize("keep_all", [True, False])
def test_direct_rows_on_the_real_rib(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep_all: bool
) -> None:
    built = both_ways(REAL_RIB, tmp_path, monkeypatch, keep_all=keep_all, parallel=True)
    # keep_all: every entry but the few the parser reads (AS4_PATH); a watch: those forwarded
    assert built > (130_000 if keep_all else 0)


def _pit(peers: list[tuple[str, int]]) -> bytes:
    """A PEER_INDEX_TABLE with IPv4 and IPv6 peers, 2- and 4-byte ASNs."""
    body = bytes(4) + struct.pack(">H", 0) + struct.pack(">H", len(peers))
    for ip, asn in peers:
        address = ipaddress.ip_address(ip)
        kind = (1 if address.version == 6 else 0) | (2 if asn > 0xFFFF else 0)
        body += bytes([kind]) + bytes(4) + address.packed
        body += struct.pack(">I" if asn > 0xFFFF else ">H", asn)
    return struct.pack(">IHHI", TS, 13, 1, len(body)) + body


def _rib(seq: int, prefix: str, entries: list[tuple[int, bytes]], subtype: int = 2) -> bytes:
    """A TABLE_DUMP_V2 RIB record with entries of (peer index, attribute bytes)."""
    body = struct.pack(">I", seq) + mw.encode_prefix(prefix) + struct.pack(">H", len(entries))
    for index, attrs in entries:
        body += struct.pack(">HIH", index, TS, len(attrs)) + attrs
    return struct.pack(">IHHI", TS, 13, subtype, len(body)) + body


def _path4(*segments: tuple[int, list[int]]) -> bytes:
    value = b"".join(
        struct.pack(">BB", kind, len(asns)) + b"".join(struct.pack(">I", a) for a in asns)
        for kind, asns in segments
    )
    return _attr(2, value)


def table_dump_v2_edges() -> bytes:
    """TABLE_DUMP_V2 records of every shape the direct rows and the parser treat apart: an
    IPv6 peer's IPv4 entries, 2-byte-AS peers, AS sets, confederations, an empty path, none,
    an empty AS_SET, two sets, AS4_PATH, multicast and IPv6 records, a malformed entry, and a
    second PEER_INDEX_TABLE that renumbers the peers."""
    origin, hop = _attr(1, b"\x00"), _attr(3, bytes([10, 0, 0, 1]))
    plain = origin + _path4((2, [3549, 26780])) + hop
    records = [_pit([("10.0.0.1", 3549), ("2001:db8::1", 6939), ("10.0.0.3", 196613)])]
    shapes = [
        [(0, plain), (2, origin + _path4((2, [196613]), (1, [7018, 701])) + hop)],
        [(1, plain)],  # an IPv6 peer's IPv4 route: the parser writes its address
        [(0, origin + _path4((3, [65000]), (2, [3549, 40989])) + hop)],  # confederation
        [(0, origin + _path4() + hop), (2, origin + hop)],  # empty path, no path
        [(0, origin + _path4((2, [1]), (1, [])) + hop)],  # an empty AS_SET
        [(0, origin + _path4((1, [1, 2]), (2, [5]), (1, [1, 2])) + hop)],  # two sets
        [(0, plain + _attr(17, struct.pack(">BBI", 2, 1, 26780)))],  # AS4_PATH
        [(0, plain), (0, plain), (2, plain)],
    ]
    for i in range(600):
        records.append(_rib(i, f"12.{i % 250}.{i // 250}.0/24", shapes[i % len(shapes)]))
        if i == 300:
            records.append(_rib(i, "13.0.0.0/8", [(0, plain)], subtype=3))  # multicast
            records.append(_pit([("10.0.0.9", 174), ("10.0.0.1", 3549), ("10.0.0.3", 196613)]))
        if i == 450:
            bad = bytearray(_rib(i, "14.0.0.0/8", [(0, plain)]))
            bad[-len(plain) - 2 : -len(plain)] = struct.pack(">H", len(plain) + 9)
            records.append(bytes(bad))
    return b"".join(records)


@pytest.mark.parametrize("keep_all", [True, False])
@pytest.mark.parametrize("parallel", [False, True])
def test_table_dump_v2_edges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep_all: bool, parallel: bool
) -> None:
    monkeypatch.setattr(mrt, "RIB_CHUNK_BYTES", 8 << 10)
    raw = tmp_path / "bview.20081111.2300.gz"
    raw.write_bytes(gzip.compress(table_dump_v2_edges()))
    built = both_ways(raw, tmp_path, monkeypatch, keep_all=keep_all, parallel=parallel)
    assert built > (400 if keep_all else 0)


@pytest.mark.parametrize("asns", [None, frozenset({26780, 40989})])
def test_vectorized_table_dump_v2_walk_equals_the_per_record_walk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, asns: frozenset[int] | None
) -> None:
    """Counts, peers, examples and the records passed on, with two peer tables in a run."""
    import io
    from dataclasses import asdict

    from takedowns.routing import walk as mrt_walk
    from takedowns.routing.walk import Routing, walk

    raw = tmp_path / "bview.20081111.2300.gz"
    raw.write_bytes(gzip.compress(table_dump_v2_edges() + table_dump_v2(2000, seed=8)))
    ranges = ((int(ipaddress.IPv4Address("12.1.0.0")), int(ipaddress.IPv4Address("12.1.255.255"))),)

    def walked() -> tuple[dict, bytes]:
        out = io.BytesIO()
        result = walk(raw, Routing(out=out, ranges=ranges, asns=asns))
        return asdict(result), out.getvalue()

    fast = walked()
    monkeypatch.setattr(mrt_walk, "FAST_FROM_RECORDS", 10**9)
    slow = walked()
    assert fast == slow
    assert fast[0]["skipped"]["records_malformed"] == 1 and fast[0]["confed_paths"] > 0
