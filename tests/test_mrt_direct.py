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
    """TABLE_DUMP_V2 records go to the parser with their PEER_INDEX_TABLE in every chunk; a
    file mixing both versions keeps its order."""
    monkeypatch.setattr(mrt, "RIB_CHUNK_BYTES", 16 << 10)
    v2 = tmp_path / "rib.20081111.2300.gz"
    v2.write_bytes(gzip.compress(table_dump_v2(3000, seed=5)))
    assert both_ways(v2, tmp_path / "v2", monkeypatch, keep_all=True, parallel=False) == 0
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
