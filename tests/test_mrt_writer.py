"""The MRT writer and the SYNTHETIC routing archive, checked with two independent readers:
pybgpkit-parser and ``bgpdump -m`` (skipped where bgpdump is not installed)."""

from __future__ import annotations

import bz2
import datetime as dt
import gzip
import ipaddress
import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from pybgpkit_parser import Parser

from takedowns.config import REPO_ROOT, load_config
from takedowns.synthetic import gen_routing
from takedowns.synthetic import mrt_writer as mw
from takedowns.synthetic.generate import generate_mirror

BGPDUMP = shutil.which("bgpdump")
needs_bgpdump = pytest.mark.skipif(BGPDUMP is None, reason="bgpdump is not installed")
TS = 1226440800  # 2008-11-11 22:00:00 UTC


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def pybgpkit(path: Path) -> list[tuple[str, str, int, str, str | None]]:
    return [(e.elem_type, e.peer_ip, e.peer_asn, e.prefix, e.as_path) for e in Parser(str(path))]


def bgpdump(path: Path) -> list[list[str]]:
    out = subprocess.run([BGPDUMP, "-q", "-m", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return [line.split("|") for line in out.stdout.splitlines()]


def test_parse_as_path_segments() -> None:
    assert mw.parse_as_path("3549 26780") == [("seq", [3549, 26780])]
    assert mw.parse_as_path("701 {1,2} 3") == [("seq", [701]), ("set", [1, 2]), ("seq", [3])]
    assert mw.parse_as_path("(65001 65002) 3356 [65003,65004] 26780") == [
        ("confed_seq", [65001, 65002]),
        ("seq", [3356]),
        ("confed_set", [65003, 65004]),
        ("seq", [26780]),
    ]


def test_prefix_and_attribute_encoding() -> None:
    assert mw.encode_prefix("208.72.168.0/21") == bytes([21, 208, 72, 168])
    assert mw.encode_prefix("0.0.0.0/0") == b"\x00"
    # ORIGIN IGP, AS_PATH one 2-byte sequence, NEXT_HOP
    attrs = mw.path_attributes("3549 26780", "10.0.0.1", four_byte=False)
    assert attrs == (
        b"\x40\x01\x01\x00"
        + b"\x40\x02\x06\x02\x02"
        + struct.pack(">HH", 3549, 26780)
        + b"\x40\x03\x04\x0a\x00\x00\x01"
    )
    # a 4-byte ASN on a 2-byte session: AS_TRANS in AS_PATH, the truth in AS4_PATH
    attrs = mw.path_attributes("196613 3356", "10.0.0.1", four_byte=False)
    assert struct.pack(">H", 23456) in attrs and bytes([0xC0, 17]) in attrs
    header = mw.record(TS, 16, 4, b"abc")
    assert header[:12] == struct.pack(">IHHI", TS, 16, 4, 3) and header[12:] == b"abc"


@pytest.fixture
def updates_file(tmp_path: Path) -> Path:
    records = [
        mw.announce(TS, "10.0.0.1", 3549, ["208.66.192.0/22", "208.72.168.0/21"], "3549 26780"),
        mw.announce(TS + 1, "10.0.0.2", 6939, ["208.72.173.0/24"], "6939 26780 {26780,1234}"),
        mw.withdraw(TS + 2, "10.0.0.1", 3549, ["208.66.192.0/22"]),
        mw.announce(TS + 3, "10.0.0.4", 7018, ["12.0.0.0/8"], "7018 196613 3356", as4=False),
        mw.withdraw(TS + 4, "10.0.0.4", 7018, ["12.0.0.0/8"], as4=False),
        mw.state_change(TS + 5, "10.0.0.4", 7018),
    ]
    return write(tmp_path / "updates.20081111.2200", b"".join(records))


EXPECTED_UPDATES = [
    ("A", "10.0.0.1", 3549, "208.66.192.0/22", "3549 26780"),
    ("A", "10.0.0.1", 3549, "208.72.168.0/21", "3549 26780"),
    ("A", "10.0.0.2", 6939, "208.72.173.0/24", "6939 26780 {26780,1234}"),
    ("W", "10.0.0.1", 3549, "208.66.192.0/22", None),
    ("A", "10.0.0.4", 7018, "12.0.0.0/8", "7018 196613 3356"),
    ("W", "10.0.0.4", 7018, "12.0.0.0/8", None),
]


def test_bgp4mp_read_by_pybgpkit(updates_file: Path) -> None:
    assert pybgpkit(updates_file) == EXPECTED_UPDATES


@needs_bgpdump
def test_bgp4mp_read_by_bgpdump(updates_file: Path) -> None:
    rows = bgpdump(updates_file)
    got = [
        (r[2], r[3], int(r[4]), r[5], r[6] if r[2] == "A" else None)
        for r in rows
        if r[2] in ("A", "W")
    ]
    assert got == EXPECTED_UPDATES
    assert rows[-1][2] == "STATE" and rows[-1][0] == "BGP4MP"
    assert [r[1] for r in rows] == [str(TS + i) for i in (0, 0, 1, 2, 3, 4, 5)]


@pytest.fixture
def rib_files(tmp_path: Path) -> tuple[Path, Path]:
    v1 = b"".join(
        [
            mw.table_dump_v1(TS, "208.66.192.0/22", "10.0.0.1", 3549, "3549 26780"),
            mw.table_dump_v1(TS, "208.66.192.0/22", "10.0.0.2", 6939, "6939 26780", sequence=1),
            mw.table_dump_v1(TS, "12.0.0.0/8", "10.0.0.3", 196613, "196613 7018", sequence=2),
        ]
    )
    peers = [mw.Peer("10.0.0.1", 3549), mw.Peer("10.0.0.2", 6939), mw.Peer("10.0.0.3", 196613)]
    v2 = mw.peer_index_table(TS, peers, collector_id="128.223.51.102", view="rv2")
    v2 += mw.rib_ipv4_unicast(
        TS,
        0,
        "208.66.192.0/22",
        [mw.RibEntry(0, "3549 26780", "10.0.0.1"), mw.RibEntry(1, "6939 26780", "10.0.0.2")],
    )
    v2 += mw.rib_ipv4_unicast(TS, 1, "12.0.0.0/8", [mw.RibEntry(2, "196613 7018", "10.0.0.3")])
    return (
        write(tmp_path / "rib.v1.bz2", bz2.compress(v1)),
        write(tmp_path / "rib.v2.gz", gzip.compress(v2)),
    )


def test_table_dumps_read_by_pybgpkit(rib_files: tuple[Path, Path]) -> None:
    v1, v2 = rib_files
    expected = [
        ("A", "10.0.0.1", 3549, "208.66.192.0/22", "3549 26780"),
        ("A", "10.0.0.2", 6939, "208.66.192.0/22", "6939 26780"),
    ]
    # v1 carries the peer AS in 2 bytes: a 4-byte peer appears as AS_TRANS there; and
    # pybgpkit-parser does not merge AS4_PATH in TABLE_DUMP records (takedowns.routing.mrt does)
    assert pybgpkit(v1) == [*expected, ("A", "10.0.0.3", 23456, "12.0.0.0/8", "23456 7018")]
    assert pybgpkit(v2) == [*expected, ("A", "10.0.0.3", 196613, "12.0.0.0/8", "196613 7018")]


@needs_bgpdump
def test_table_dumps_read_by_bgpdump(rib_files: tuple[Path, Path]) -> None:
    v1, v2 = rib_files
    rows1, rows2 = bgpdump(v1), bgpdump(v2)
    assert [r[0] for r in rows1] == ["TABLE_DUMP"] * 3
    assert [r[0] for r in rows2] == ["TABLE_DUMP2"] * 3
    for rows in (rows1, rows2):
        assert [(r[2], r[3], r[5], r[6]) for r in rows] == [
            ("B", "10.0.0.1", "208.66.192.0/22", "3549 26780"),
            ("B", "10.0.0.2", "208.66.192.0/22", "6939 26780"),
            ("B", "10.0.0.3", "12.0.0.0/8", "196613 7018"),
        ]
        assert {r[1] for r in rows} == {str(TS)}
    assert rows2[2][4] == "196613"


# --------------------------------------------------------------------------------------------
# The generated archive


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory):
    config = load_config(REPO_ROOT / "config" / "demo.yaml", REPO_ROOT / "tests" / "e2e.yaml")
    config["events"] = {"mccolo": config["events"]["mccolo"]}
    config["windows"] = {"pre_days": 2, "post_days": [5]}
    config["routing"] = {"update_window_hours": 0.5, "rib_hour": 8}
    root = tmp_path_factory.mktemp("routing-mirror")
    scenario = generate_mirror(root, config, background_prefixes=150, include_routing=False)
    original = gen_routing.RV_TABLE_DUMP_V2_FROM
    gen_routing.RV_TABLE_DUMP_V2_FROM = dt.date(2008, 11, 13)  # exercise both RIB formats
    try:
        truth = gen_routing.generate_routing(root, config, scenario, random.Random(11))
    finally:
        gen_routing.RV_TABLE_DUMP_V2_FROM = original
    return root, config, scenario, truth


def _mrt_types(path: Path) -> set[int]:
    data = (
        bz2.decompress(path.read_bytes())
        if path.suffix == ".bz2"
        else gzip.decompress(path.read_bytes())
    )
    types, pos = set(), 0
    while pos < len(data):
        _, mrt_type, _, length = struct.unpack_from(">IHHI", data, pos)
        types.add(mrt_type)
        pos += 12 + length
    assert pos == len(data)
    return types


def test_archive_layout_and_formats(archive) -> None:
    root, _, _, truth = archive
    rv = sorted((root / "archive.routeviews.org/bgpdata/2008.11/RIBS").glob("rib.*.bz2"))
    ris = sorted((root / "data.ris.ripe.net/rrc00/2008.11").glob("bview.*.gz"))
    assert len(rv) == len(truth.ribs["route-views2"]) and len(ris) == len(truth.ribs["rrc00"])
    assert {p.name[15:19] for p in ris} == {"0759", "1559", "2359"}
    for path in rv:
        day = dt.datetime.strptime(path.name[4:12], "%Y%m%d").date()
        assert _mrt_types(path) == ({13} if day >= dt.date(2008, 11, 13) else {12})
    ups = sorted((root / "data.ris.ripe.net/rrc00/2008.11").glob("updates.*.gz"))
    rv_ups = sorted((root / "archive.routeviews.org/bgpdata/2008.11/UPDATES").glob("*.bz2"))
    assert len(ups) == 12 and len(rv_ups) == 4  # one hour: 5-minute and 15-minute files
    assert all(_mrt_types(p) == {16} for p in ups + rv_ups)


def _rows(path: Path) -> list[list[str]]:
    if BGPDUMP:
        return bgpdump(path)
    kind = "B" if path.name.startswith(("rib", "bview")) else None
    return [
        [
            "",
            str(int(e.timestamp)),
            kind or e.elem_type,
            e.peer_ip,
            str(e.peer_asn),
            e.prefix,
            e.as_path or "",
        ]
        for e in Parser(str(path))
    ]


def test_ribs_hold_what_was_planted(archive) -> None:
    root, _, _, truth = archive
    ev = truth.events["mccolo"]
    targets = {p for ps in ev.prefixes.values() for p in ps}
    for collector, times in truth.ribs.items():
        for when in times:
            if collector == "route-views2":
                rel = f"archive.routeviews.org/bgpdata/{when:%Y.%m}/RIBS/rib.{when:%Y%m%d.%H%M}.bz2"
            else:
                rel = f"data.ris.ripe.net/{collector}/{when:%Y.%m}/bview.{when:%Y%m%d.%H%M}.gz"
            rows = _rows(root / rel)
            seeing = {r[3] for r in rows if r[5] in targets and r[6].split()[-1] == "26780"}
            assert seeing == truth.visible_peers("mccolo", collector, when), (collector, when)
            moved = [r for r in rows if r[5] == ev.move.prefix and r[6].endswith(" 64500")]
            assert bool(moved) == (when.date() >= ev.move.from_day)


def test_updates_hold_the_planted_cutoff(archive) -> None:
    root, _, _, truth = archive
    ev = truth.events["mccolo"]
    targets = {p for ps in ev.prefixes.values() for p in ps}
    announced, withdrawn = [], {}
    for path in sorted((root / "data.ris.ripe.net/rrc00/2008.11").glob("updates.*.gz")):
        for r in _rows(path):
            if r[5] in targets and r[2] == "A":
                announced.append(int(r[1]))
            if r[5] in targets and r[2] == "W":
                withdrawn.setdefault(r[3], int(r[1]))
    assert max(announced) == int(ev.cutoff.timestamp())
    expected = {
        k.split("|")[1]: int(t.timestamp())
        for k, t in ev.withdrawn_at.items()
        if k.startswith("rrc00|")
    }
    assert withdrawn == expected
    stale = [k.split("|")[1] for k in ev.stale_peers if k.startswith("rrc00|")]
    assert stale and not set(stale) & set(withdrawn)
    assert all(t > int(ev.cutoff.timestamp()) for t in withdrawn.values())


def test_truth_episodes(archive) -> None:
    _, _, _, truth = archive
    ev = truth.events["mccolo"]
    assert ev.upstreams() == {26780: {1299, 3549, 6939}}
    later = [e for e in truth.episodes if e.start > ev.cutoff]
    assert len(later) == 1 and later[0].upstream == 1299
    assert later[0].end - later[0].start == dt.timedelta(hours=12)
    assert dt.timedelta(days=3) < later[0].start - ev.cutoff < dt.timedelta(days=5)
    nets = [ipaddress.ip_network(p) for p in ev.prefixes[26780]]
    assert sum(n.num_addresses for n in ipaddress.collapse_addresses(nets)) == 12 * 256
