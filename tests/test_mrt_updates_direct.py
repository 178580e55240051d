"""Update files (BGP4MP) read without the parser: the vectorized check of
:func:`takedowns.routing.fast_walk.bgp4mp_v4` against the per-record walk, and the rows of
:mod:`takedowns.routing.element_columns` against pybgpkit-parser's, on records of every shape
the two treat differently; and a plain update file's job loads neither polars nor pandas."""

from __future__ import annotations

import gzip
import io
import ipaddress
import json
import os
import random
import struct
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from takedowns.routing import walk as mrt_walk
from takedowns.routing.walk import Routing, walk
from takedowns.synthetic import mrt_writer as mw
from test_mrt_direct import both_ways

TS = 1226440800
REAL = Path(__file__).resolve().parents[2] / "shared/realdata/routing"
SRC = Path(__file__).resolve().parents[1] / "src"
ORIGIN = mw.attribute(0x40, 1, b"\x00")
EDGE_COPIES = 3  # each edge record is in a generated update file this many times


def hop(address: str = "10.0.0.9") -> bytes:
    return mw.attribute(0x40, 3, ipaddress.IPv4Address(address).packed)


def path(text: str, four: bool = True) -> bytes:
    return mw.attribute(0x40, 2, mw.encode_segments(mw.parse_as_path(text), four))


def raw_path(*segments: tuple[int, list[int]], four: bool = True) -> bytes:
    fmt = ">I" if four else ">H"
    value = b"".join(
        struct.pack(">BB", kind, len(asns)) + b"".join(struct.pack(fmt, a) for a in asns)
        for kind, asns in segments
    )
    return mw.attribute(0x40, 2, value)


def mp_reach(afi: int, safi: int, prefixes: list[str], next_hop: bytes) -> bytes:
    nlri = b"".join(mw.encode_prefix(p) for p in prefixes)
    value = struct.pack(">HBB", afi, safi, len(next_hop)) + next_hop + b"\x00" + nlri
    return mw.attribute(0x80, 14, value)


def mp_unreach(afi: int, safi: int, prefixes: list[str]) -> bytes:
    nlri = b"".join(mw.encode_prefix(p) for p in prefixes)
    return mw.attribute(0x80, 15, struct.pack(">HB", afi, safi) + nlri)


def message(
    ts: int,
    *,
    announced: tuple[str, ...] = (),
    withdrawn: tuple[str, ...] = (),
    attributes: bytes = b"",
    peer: str = "10.0.0.1",
    peer_as: int = 3549,
    as4: bool = True,
) -> bytes:
    update = mw.bgp_update(withdrawn=withdrawn, announced=announced, attributes=attributes)
    return mw.bgp4mp_message(ts, update, peer_as=peer_as, peer_ip=peer, as4=as4)


def host_bits(ts: int, nlri: bytes, attributes: bytes) -> bytes:
    """An UPDATE announcing NLRI given as bytes (prefixes with host bits set)."""
    payload = struct.pack(">H", 0) + struct.pack(">H", len(attributes)) + attributes + nlri
    update = mw.BGP_MARKER + struct.pack(">HB", 19 + len(payload), 2) + payload
    return mw.bgp4mp_message(ts, update, peer_as=3549, peer_ip="10.0.0.1")


def v6_session(ts: int, update: bytes, peer_as: int = 6939) -> bytes:
    """A BGP4MP MESSAGE_AS4 record of an IPv6 session."""
    head = struct.pack(
        ">IIHH16s16s",
        peer_as,
        6447,
        0,
        2,
        ipaddress.IPv6Address("2001:db8::1").packed,
        ipaddress.IPv6Address("2001:db8::2").packed,
    )
    return mw.record(ts, 16, 4, head + update)


def edge_records() -> list[bytes]:
    """One record of each shape: plain updates of every path form (sets, prepending, an
    empty path, none, a 2-byte session, host bits, /0 and /32), announce and withdraw in one
    message, many prefixes, MP_REACH/MP_UNREACH for IPv6 and IPv4 (unicast, multicast),
    IPv6 sessions, AS4_PATH, confederations, empty and repeated AS sets, a second AS_PATH,
    KEEPALIVE and OPEN messages, state changes and malformed records. (A default route is
    left out: the parser loses it, see :func:`test_a_default_route_is_an_element`.)"""
    v6_hop = ipaddress.IPv6Address("2001:db8::9").packed
    many = tuple(f"12.{i // 256}.{i % 256}.0/24" for i in range(300))
    base = ORIGIN + hop()
    out = [
        message(TS, announced=("208.66.192.0/22",), attributes=ORIGIN + path("3549 26780") + hop()),
        message(
            TS, announced=("12.1.0.0/16", "12.2.0.0/16"), attributes=base + path("7018 {1,2,3}")
        ),
        message(TS, announced=("9.9.9.0/24",), attributes=ORIGIN + path("3356 3356 15169") + hop()),
        message(TS, announced=("9.9.8.0/24",), attributes=ORIGIN + path("{7,3} 40989") + hop()),
        message(TS, announced=("9.9.7.0/24",), attributes=ORIGIN + path("40989 {7,7,3}") + hop()),
        message(TS, announced=("9.9.6.0/24",), attributes=ORIGIN + raw_path() + hop()),
        message(TS, announced=("9.9.5.0/24",), attributes=base),  # no AS_PATH
        message(
            TS, announced=("9.9.4.0/24",), attributes=base + path("1299 40989", False), as4=False
        ),
        message(TS, announced=("1.2.3.4/32", "12.0.0.0/8"), attributes=base + path("1 2")),
        message(TS + 1, withdrawn=("208.66.192.0/22", "13.0.0.0/8")),
        message(
            TS + 1,
            announced=("14.0.0.0/8",),
            withdrawn=("15.0.0.0/8",),
            attributes=base + path("174 26780"),
        ),
        message(TS + 2, announced=many, attributes=base + path("3257 27595")),
        message(TS + 2, withdrawn=many[:150]),
        message(
            TS + 3, attributes=ORIGIN + path("6939 1") + mp_reach(2, 1, ["2001:db8::/32"], v6_hop)
        ),
        message(TS + 3, withdrawn=("16.0.0.0/8",), attributes=mp_unreach(2, 1, ["2001:db8::/32"])),
        message(
            TS + 3,
            announced=("17.0.0.0/8",),
            attributes=ORIGIN + path("6939 2") + mp_reach(1, 1, ["18.0.0.0/8"], bytes(4)) + hop(),
        ),
        message(
            TS + 3, attributes=ORIGIN + path("6939 3") + mp_reach(1, 2, ["19.0.0.0/8"], bytes(4))
        ),
        message(TS + 3, withdrawn=("20.0.0.0/8",), attributes=mp_unreach(1, 1, ["21.0.0.0/8"])),
        v6_session(
            TS + 4,
            mw.bgp_update(
                attributes=ORIGIN + path("6939 5") + mp_reach(2, 1, ["2001:db8:1::/48"], v6_hop)
            ),
        ),
        v6_session(
            TS + 4, mw.bgp_update(announced=("23.0.0.0/8",), attributes=base + path("6939 6"))
        ),
        mw.announce(TS + 5, "10.0.0.5", 196613, ["24.0.0.0/8"], "196613 3356 26780", as4=False),
        mw.announce(TS + 5, "10.0.0.5", 3356, ["24.1.0.0/16"], "3356 196613 {7018,701}", as4=False),
        # AS4_PATH as long as AS_PATH, and longer (then ignored)
        message(
            TS + 5,
            announced=("24.2.0.0/16",),
            attributes=base
            + path("1 23456", False)
            + mw.attribute(0xC0, 17, mw.encode_segments(mw.parse_as_path("7 196613"), True)),
            as4=False,
        ),
        message(
            TS + 5,
            announced=("24.3.0.0/16",),
            attributes=base
            + path("23456", False)
            + mw.attribute(0xC0, 17, mw.encode_segments(mw.parse_as_path("7 196613"), True)),
            as4=False,
        ),
        mw.announce(TS + 5, "10.0.0.6", 3356, ["25.0.0.0/8"], "(65000 65001) 3356 26780"),
        message(TS + 5, announced=("26.0.0.0/8",), attributes=base + raw_path((2, [1]), (1, []))),
        message(
            TS + 5,
            announced=("27.0.0.0/8",),
            attributes=base + raw_path((2, [1]), (2, []), (2, [2])),
        ),
        message(TS + 5, announced=("28.0.0.0/8",), attributes=base + path("{1,2} 5 {1,2}")),
        message(TS + 5, announced=("29.0.0.0/8",), attributes=base + path("1 2") + path("3 4")),
        # host bits: 12.1.3.0/20, and 255.255.0.0/12, whose last address passes 2**32 - 1
        host_bits(TS + 5, bytes([20, 12, 1, 3]) + bytes([12, 255, 255]), base + path("9")),
        mw.bgp4mp_message(
            TS + 6, mw.BGP_MARKER + struct.pack(">HB", 19, 4), peer_as=3549, peer_ip="10.0.0.1"
        ),
        mw.bgp4mp_message(
            TS + 6,
            mw.BGP_MARKER + struct.pack(">HB", 29, 1) + bytes(10),
            peer_as=3549,
            peer_ip="10.0.0.1",
        ),
        mw.state_change(TS + 6, "10.0.0.1", 3549),
    ]
    bad = bytearray(message(TS + 7, announced=("30.0.0.0/8",), attributes=base + path("1 2")))
    bad[-2] = 40  # a prefix length past 32
    out.append(bytes(bad))
    cut = bytearray(message(TS + 7, announced=("31.0.0.0/8",), attributes=base + path("1 2")))
    at = 12 + 20 + 19 + 2  # MRT header, BGP4MP header, BGP header, withdrawn length
    cut[at : at + 2] = struct.pack(">H", 200)  # the attribute length runs past the message
    out.append(bytes(cut))
    return out


def update_file(count: int, seed: int) -> bytes:
    rng = random.Random(seed)
    edges = edge_records()
    paths = ("3549 26780", "7018 701", "6939 {1,2}")
    plain = [
        message(TS + i, announced=(f"{rng.choice((12, 208, 81))}.{i % 256}.0.0/16",),
                attributes=ORIGIN + path(rng.choice(paths)) + hop(),
                peer=f"10.0.0.{rng.randrange(1, 30)}", peer_as=rng.choice((3549, 7018, 6939)))
        for i in range(count)
    ]  # fmt: skip
    records = plain + edges * EDGE_COPIES
    rng.shuffle(records)
    return b"".join(records)


def walked(raw: Path, asns: frozenset[int] | None) -> tuple[dict, bytes]:
    out = io.BytesIO()
    ranges = ((int(ipaddress.IPv4Address("208.66.192.0")), 0xD042C3FF),)
    result = walk(raw, Routing(out=out, ranges=ranges, asns=asns))
    return asdict(result), out.getvalue()


@pytest.mark.parametrize("asns", [None, frozenset({26780, 40989})])
def test_vectorized_updates_equal_the_per_record_walk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, asns: frozenset[int] | None
) -> None:
    raw = tmp_path / "updates.20081111.2200.gz"
    raw.write_bytes(gzip.compress(update_file(2000, seed=4)))
    fast = walked(raw, asns)
    monkeypatch.setattr(mrt_walk, "FAST_FROM_RECORDS", 10**9)
    slow = walked(raw, asns)
    assert fast == slow
    result = fast[0]
    # per copy of the edge records: two malformed records (a prefix past /32, an attribute
    # length past the message), three IPv6 prefixes (MP_REACH, MP_UNREACH, an IPv6
    # session's), one confederation path
    assert result["skipped"]["records_malformed"] == 2 * EDGE_COPIES
    assert result["elements_ipv6"] == 3 * EDGE_COPIES
    assert result["confed_paths"] == 1 * EDGE_COPIES


@pytest.mark.parametrize("keep_all", [True, False])
@pytest.mark.parametrize("parallel", [False, True])
def test_direct_update_rows_equal_the_parser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep_all: bool, parallel: bool
) -> None:
    """Every column, the row order, the peers table and QC, over several chunks."""
    from takedowns.routing import mrt

    raw = tmp_path / "updates.20081111.2200.gz"
    raw.write_bytes(gzip.compress(update_file(2000, seed=5)))
    monkeypatch.setattr(mrt, "RIB_CHUNK_BYTES", 32 << 10)
    built = both_ways(raw, tmp_path, monkeypatch, keep_all=keep_all, parallel=parallel)
    assert built > (2000 if keep_all else 0)


@pytest.mark.skipif(not REAL.exists(), reason="../shared/realdata is not available")
@pytest.mark.parametrize("name", ["updates.20071015.1505.gz", "updates.20070211.0141.gz"])
def test_direct_update_rows_on_real_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    fast = walked(REAL / name, None)
    with monkeypatch.context() as patch:
        patch.setattr(mrt_walk, "FAST_FROM_RECORDS", 10**9)
        assert fast == walked(REAL / name, None)
    built = both_ways(REAL / name, tmp_path, monkeypatch, keep_all=True, parallel=False)
    assert built == fast[0]["elements_ipv4"]  # every element of these files, built directly


def test_as4_paths_are_merged_as_the_parser_merges_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AS4_PATH shorter than, as long as and longer than AS_PATH (one AS_SEQUENCE each):
    built directly, with the parser's paths; an AS4_PATH with a set goes to the parser."""
    four = [r for r in edge_records() if b"\xc0\x11" in r]
    assert len(four) == 4
    raw = tmp_path / "updates.20081111.2200"
    raw.write_bytes(b"".join(four))
    assert both_ways(raw, tmp_path, monkeypatch, keep_all=True, parallel=False) == 3


def test_a_default_route_is_an_element(tmp_path: Path) -> None:
    """An announced 0.0.0.0/0 is a route like any other (bgpdump lists it); pybgpkit-parser
    leaves it out of its elements, so a file holding one is refused when every record goes
    to the parser, and read in full when the record is built directly."""
    from takedowns.qc import MalformedInput
    from test_mrt_direct import _normalize

    raw = tmp_path / "updates.20081111.2200"
    attributes = ORIGIN + hop() + path("1 2")
    raw.write_bytes(message(TS, announced=("0.0.0.0/0", "1.2.3.4/32"), attributes=attributes))
    table = _normalize(raw, tmp_path / "direct", keep_all=True, parallel=False)[0]
    assert table["prefix"].to_list() == ["0.0.0.0/0", "1.2.3.4/32"]
    assert table.row(0, named=True)["end_ip"] == 2**32 - 1
    with pytest.raises(MalformedInput, match="1 IPv4 elements were read from records that hold 2"):
        _normalize(raw, tmp_path / "parsed", keep_all=True, parallel=False, direct=False)


def test_a_plain_update_job_loads_neither_polars_nor_pandas(tmp_path: Path) -> None:
    """The job as the workflow runs it (``python -m takedowns.routing.mrt``), with a watch
    from a prefix_origin table: its start-up stays short because it loads neither."""
    import datetime as dt

    import polars as pl

    records = [r for r in edge_records()[:13]] * 20
    raw = tmp_path / "data" / "raw" / "updates.20081111.2200.gz"
    raw.parent.mkdir(parents=True)
    raw.write_bytes(gzip.compress(b"".join(records)))
    prefix_origin = tmp_path / "prefix_origin.parquet"
    pl.DataFrame(
        {
            "start_ip": [int(ipaddress.IPv4Address(a)) for a in ("9.9.9.0", "208.66.192.0")],
            "end_ip": [int(ipaddress.IPv4Address(a)) for a in ("9.9.9.255", "208.66.195.255")],
            "origins": [[26780], [26780]],
            "first_day": [dt.date(2008, 1, 1)] * 2,
            "last_day": [dt.date(2009, 1, 1)] * 2,
        },
        schema={
            "start_ip": pl.UInt32,
            "end_ip": pl.UInt32,
            "origins": pl.List(pl.UInt32),
            "first_day": pl.Date,
            "last_day": pl.Date,
        },
    ).write_parquet(prefix_origin)
    from takedowns.config import load_config, pruned_config

    config = pruned_config(load_config(), ["events", "windows", "routing", "qc", "synthetic"])
    config["routing"]["keep_all"] = False
    out = tmp_path / "out"
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['takedowns.routing.mrt', *sys.argv[1:]]\n"
        "try:\n"
        "    runpy.run_module('takedowns.routing.mrt', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print(sorted(m for m in ('polars', 'pandas', 'pybgpkit_parser') if m in sys.modules))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(SRC))
    result = subprocess.run(
        [
            sys.executable, "-c", probe, str(raw), "--out", str(out / "t.parquet"),
            "--peers", str(out / "p.parquet"), "--qc", str(out / "q.json"),
            "--collector", "route-views2", "--source-file", raw.name,
            "--prefix-origin", str(prefix_origin), "--config-json", json.dumps(config),
        ],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
    table = pl.read_parquet(out / "t.parquet")
    # the watch: a watched ASN in the path, or a range prefix_origin gives McColo before the
    # cutoff (9.9.9.0/24, whose path holds no watched ASN; 208.66.192.0/22 withdrawn)
    prefixes = set(table["prefix"])
    assert {"208.66.192.0/22", "9.9.9.0/24", "9.9.8.0/24"} <= prefixes
    assert "12.1.0.0/16" not in prefixes and "9.9.6.0/24" not in prefixes
    assert set(table["kind"]) == {"announce", "withdraw"}
