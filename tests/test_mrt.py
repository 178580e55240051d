"""MRT normalization: columns, the watch filter, QC, bad input, and real-data conformance."""

from __future__ import annotations

import bz2
import collections
import gzip
import shutil
import struct
import subprocess
from pathlib import Path

import polars as pl
import pybgpkit_parser
import pytest

from takedowns.qc import MalformedInput, read_qc
from takedowns.routing.mrt import (
    ELEMENT_SCHEMA,
    PEER_SCHEMA,
    Watch,
    normalize_mrt,
    watch_for_config,
)
from takedowns.synthetic import mrt_writer as mw

TS = 1226440800  # 2008-11-11 22:00:00 UTC
BGPDUMP = shutil.which("bgpdump")
MCCOLO = Watch.build([26780], prefixes=["208.66.192.0/22", "208.72.168.0/21"])


def run(tmp_path: Path, name: str, data: bytes, **kw: object):
    """Write ``data`` as ``name`` and normalize it; return (table, qc, peers)."""
    raw = tmp_path / name
    raw.write_bytes(data)
    out = tmp_path / "out" / f"{name}.parquet"
    peers = tmp_path / "peers" / f"{name}.parquet"
    kw.setdefault("collector", "route-views2")
    kw.setdefault("parallel", False)
    qc = normalize_mrt(raw, out, source_file=name, peers_out=peers, **kw)  # type: ignore[arg-type]
    return pl.read_parquet(out), qc, pl.read_parquet(peers)


def update_records() -> list[bytes]:
    return [
        mw.announce(TS, "10.0.0.1", 3549, ["208.66.192.0/22"], "3549 26780 26780 26780"),
        mw.announce(TS + 1, "10.0.0.2", 6939, ["208.72.173.0/24"], "6939 {26780,1234}"),
        mw.announce(TS + 2, "10.0.0.3", 3356, ["12.0.0.0/8"], "3356 7018"),
        mw.announce(TS + 3, "10.0.0.3", 3356, ["208.72.173.0/24"], "3356 64500"),
        mw.announce(TS + 4, "10.0.0.3", 3356, ["208.0.0.0/8"], "3356 701"),
        mw.announce(TS + 5, "10.0.0.4", 7018, ["9.9.9.0/24"], "7018 26780 1234"),
        mw.withdraw(TS + 6, "10.0.0.1", 3549, ["208.66.192.0/22", "13.0.0.0/8"]),
        mw.announce(TS + 7, "10.0.0.5", 196613, ["14.0.0.0/8"], "196613 3356 26780", as4=False),
    ]


def updates() -> bytes:
    return b"".join(update_records())


# --------------------------------------------------------------------------------------------
# Columns


def test_columns_and_values_keep_all(tmp_path: Path) -> None:
    table, qc, peers = run(
        tmp_path, "updates.20081111.2200.bz2", bz2.compress(updates()), keep_all=True
    )
    assert table.schema == pl.Schema(ELEMENT_SCHEMA)
    assert table.height == 9 and qc.records_kept == 9 and qc.records_read == 8
    row = table.row(0, named=True)
    assert row["time"].isoformat() == "2008-11-11T22:00:00+00:00"
    assert (row["kind"], row["peer_ip"], row["peer_asn"], row["prefix"]) == (
        "announce",
        "10.0.0.1",
        3549,
        "208.66.192.0/22",
    )
    assert (row["start_ip"], row["end_ip"], row["length"]) == (3494035456, 3494036479, 22)
    assert row["as_path"] == [3549, 26780, 26780, 26780]
    assert row["origins"] == [26780] and row["upstream_asn"] == 3549  # prepending removed
    aset = table.row(1, named=True)
    assert aset["as_path_text"] == "6939 {26780,1234}" and aset["as_path"] == [6939, 26780, 1234]
    assert aset["origins"] == [1234, 26780] and aset["upstream_asn"] == 6939  # set kept as set
    wd = table.filter(pl.col("kind") == "withdraw")
    assert wd["prefix"].to_list() == ["208.66.192.0/22", "13.0.0.0/8"]
    assert wd["as_path"].to_list() == [None, None] and wd["origins"].to_list() == [None, None]
    as4 = table.filter(pl.col("prefix") == "14.0.0.0/8").row(0, named=True)
    # a 2-byte session: peer AS23456 in the header, the path merged from AS4_PATH
    assert as4["peer_asn"] == 23456 and as4["as_path"] == [196613, 3356, 26780]
    assert set(table["collector"]) == {"route-views2"}
    assert set(table["source_file"]) == {"updates.20081111.2200.bz2"}
    assert peers.schema == pl.Schema(PEER_SCHEMA)
    counts = dict(zip(peers["peer_ip"], peers["elements_ipv4"], strict=True))
    assert counts == {"10.0.0.1": 3, "10.0.0.2": 1, "10.0.0.3": 3, "10.0.0.4": 1, "10.0.0.5": 1}
    assert set(peers["kind"]) == {"updates"}
    assert str(peers["file_time"][0]) == "2008-11-11 22:00:00+00:00"


def test_upstream_of_short_and_set_paths(tmp_path: Path) -> None:
    data = b"".join(
        mw.announce(TS, "10.0.0.1", peer, [f"10.{i}.0.0/16"], path)
        for i, (peer, path) in enumerate(
            [
                (26780, "26780"),
                (26780, "26780 26780"),
                (1, "1 {2,3} 4"),
                (1, "1 2 {3}"),
                (1, "1 2 1 1"),
            ]
        )
    )
    table, _, _ = run(tmp_path, "updates.20081111.2200", data, keep_all=True)
    assert table["upstream_asn"].to_list() == [None, None, None, 2, 2]
    assert table["origins"].to_list() == [[26780], [26780], [4], [3], [1]]


def test_confederation_segments_are_removed(tmp_path: Path) -> None:
    path = "(65001 65002) 3356 [65003,65004] 26780"
    data = mw.announce(TS, "10.0.0.1", 65001, ["208.66.192.0/22"], path)
    upd, qc, _ = run(tmp_path, "updates.20081111.2200", data, keep_all=True)
    assert upd["as_path_text"].to_list() == ["3356 26780"]
    assert upd["upstream_asn"].to_list() == [3356]
    assert "AS_CONFED segments removed from 1 records" in qc.note
    rib = mw.table_dump_v1(TS, "208.72.168.0/21", "10.0.0.1", 65001, path)
    rib += mw.table_dump_v1(TS, "208.72.168.0/21", "10.0.0.2", 196613, "196613 (65009) 26780")
    table, qc, _ = run(tmp_path, "rib.20081111.2200.bz2", bz2.compress(rib), keep_all=True)
    # the second entry also needs AS4_PATH merged (a 4-byte ASN in a 2-byte TABLE_DUMP)
    assert table["as_path_text"].to_list() == ["3356 26780", "196613 26780"]
    assert table["kind"].to_list() == ["rib", "rib"]
    assert table["peer_asn"].to_list() == [65001, 23456]
    assert "AS_CONFED segments removed from 2 records" in qc.note
    assert "AS4_PATH merged into 1 TABLE_DUMP entries" in qc.note


def test_table_dump_v1_and_v2(tmp_path: Path) -> None:
    v1 = mw.table_dump_v1(TS, "208.66.192.0/22", "10.0.0.1", 3549, "3549 26780")
    v1 += mw.table_dump_v1(TS + 1, "12.0.0.0/8", "10.0.0.3", 196613, "196613 {7018,701}")
    v1 += mw.table_dump_v1_ipv6(TS, "2001:db8::/32", "2001:db8::1", 3549, "3549 1", "::1")
    t1, qc1, p1 = run(tmp_path, "rib.20081111.2200.bz2", bz2.compress(v1), keep_all=True)
    assert t1["kind"].to_list() == ["rib", "rib"]
    assert t1["as_path_text"].to_list() == ["3549 26780", "196613 {7018,701}"]  # AS4 merged
    assert t1["peer_asn"].to_list() == [3549, 23456]
    assert qc1.skipped == {"elements_ipv6": 1} and qc1.records_read == 3
    assert sorted(p1["peer_ip"].to_list()) == ["10.0.0.1", "10.0.0.3", "2001:db8::1"]
    peers = [mw.Peer("10.0.0.1", 3549), mw.Peer("10.0.0.3", 196613)]
    v2 = mw.peer_index_table(TS, peers)
    v2 += mw.rib_ipv4_unicast(TS, 0, "208.66.192.0/22", [mw.RibEntry(0, "3549 26780", "10.0.0.1")])
    v2 += mw.rib_ipv4_unicast(
        TS,
        1,
        "12.0.0.0/8",
        [mw.RibEntry(0, "3549 7018", "10.0.0.1"), mw.RibEntry(1, "196613 7018", "10.0.0.3")],
    )
    t2, qc2, p2 = run(
        tmp_path, "bview.20081111.2200.gz", gzip.compress(v2), keep_all=True, collector="rrc00"
    )
    assert t2["peer_asn"].to_list() == [3549, 3549, 196613]
    assert t2["as_path_text"].to_list() == ["3549 26780", "3549 7018", "196613 7018"]
    assert qc2.records_read == 3 and qc2.records_kept == 3
    assert dict(zip(p2["peer_ip"], p2["elements_ipv4"], strict=True)) == {
        "10.0.0.1": 2,
        "10.0.0.3": 1,
    }


# --------------------------------------------------------------------------------------------
# The watch filter


@pytest.mark.parametrize("parallel", [False, True])
def test_watch_keeps_path_or_prefix_matches(tmp_path: Path, parallel: bool) -> None:
    table, qc, _ = run(
        tmp_path,
        "updates.20081111.2200.gz",
        gzip.compress(updates()),
        watch=MCCOLO,
        parallel=parallel,
    )
    got = sorted(
        zip(table["kind"], table["prefix"], table["as_path_text"].fill_null("-"), strict=True)
    )
    assert got == sorted(
        [
            ("announce", "208.66.192.0/22", "3549 26780 26780 26780"),  # path and prefix
            ("announce", "208.72.173.0/24", "6939 {26780,1234}"),  # more specific, in a set
            ("announce", "208.72.173.0/24", "3356 64500"),  # another origin in a watched range
            ("announce", "208.0.0.0/8", "3356 701"),  # a covering prefix
            ("announce", "9.9.9.0/24", "7018 26780 1234"),  # the path only
            ("withdraw", "208.66.192.0/22", "-"),  # a withdrawal of a watched prefix
            ("announce", "14.0.0.0/8", "196613 3356 26780"),  # the path, over AS4_PATH
        ]
    )
    assert qc.records_kept == 7 and qc.skipped == {"elements_not_watched": 2}


def test_watch_without_asns_or_prefixes(tmp_path: Path) -> None:
    only_prefix = Watch.build(prefixes=["208.72.168.0/21"])
    table, qc, _ = run(tmp_path, "updates.20081111.2200", updates(), watch=only_prefix)
    assert sorted(table["as_path_text"]) == ["3356 64500", "3356 701", "6939 {26780,1234}"]
    assert qc.skipped == {"elements_not_watched": 6}
    only_asn = Watch.build([1234])
    table, _, _ = run(tmp_path, "updates.20081111.2205", updates(), watch=only_asn)
    assert sorted(table["as_path_text"]) == ["6939 {26780,1234}", "7018 26780 1234"]
    with pytest.raises(ValueError, match="keep_all"):
        normalize_mrt(tmp_path / "updates.20081111.2200", tmp_path / "x.parquet", collector="rrc00")


def test_watch_for_config_uses_pre_window_prefixes() -> None:
    config = {
        "windows": {"pre_days": 10, "post_days": [5]},
        "events": {
            "mccolo": {"name": "McColo", "asns": [26780], "nominal_cutoff": "2008-11-11T22:00:00Z"}
        },
    }
    po = pl.DataFrame(
        {
            "start_ip": [3494035456, 3494422528, 167772160],
            "end_ip": [3494036479, 3494424575, 167772415],
            "origins": [[26780], [1, 26780], [26780]],
            "first_day": ["2008-11-01", "2008-10-01", "2008-11-12"],
            "last_day": ["2008-11-11", "2008-11-01", "2008-11-20"],
        },
        schema_overrides={
            "start_ip": pl.UInt32,
            "end_ip": pl.UInt32,
            "origins": pl.List(pl.UInt32),
        },
    ).with_columns(pl.col("first_day", "last_day").str.to_date())
    watch = watch_for_config(config, po)
    assert watch.asns == {26780}
    # the third episode starts after the cut-off: not a pre-window prefix
    assert watch.ranges == ((3494035456, 3494036479), (3494422528, 3494424575))


# --------------------------------------------------------------------------------------------
# Bad input


def test_truncated_bz2_is_an_error_unless_partial_allowed(tmp_path: Path) -> None:
    records = [
        mw.table_dump_v1(
            TS, f"10.{i // 256}.{i % 256}.0/24", "10.0.0.1", 3549, "3549 7018", sequence=i
        )
        for i in range(6000)
    ]
    full = bz2.compress(b"".join(records), 1)  # 100 kB blocks: several complete ones
    cut = full[: len(full) * 2 // 3]
    name = "rib.20081111.2200.bz2"
    with pytest.raises(MalformedInput, match=rf"{name}: truncated or corrupt") as info:
        run(tmp_path, name, cut, keep_all=True)
    qc = info.value.qc  # type: ignore[attr-defined]
    assert qc.truncated and qc.status == "truncated" and 0 < qc.records_read < 6000
    assert not (tmp_path / "out" / f"{name}.parquet").exists()
    table, qc, _ = run(tmp_path, name, cut, keep_all=True, allow_partial=True)
    assert qc.status == "partial" and qc.truncated and qc.skipped == {"records_incomplete": 1}
    assert table.height == qc.records_read == qc.records_kept
    # the complete records are exactly the first ones written
    assert table["prefix"].to_list() == [
        f"10.{i // 256}.{i % 256}.0/24" for i in range(table.height)
    ]
    assert "end-of-stream marker" in qc.note


def test_truncated_gz_is_an_error(tmp_path: Path) -> None:
    data = gzip.compress(updates() * 50)
    name = "updates.20081111.2200.gz"
    with pytest.raises(MalformedInput, match=name):
        run(tmp_path, name, data[: len(data) - 40], keep_all=True)


def test_qc_written_before_the_error(tmp_path: Path) -> None:
    raw = tmp_path / "updates.20081111.2200.gz"
    raw.write_bytes(gzip.compress(updates())[:-30])
    qc_path = tmp_path / "qc.json"
    with pytest.raises(MalformedInput):
        normalize_mrt(
            raw,
            tmp_path / "o.parquet",
            collector="rrc00",
            keep_all=True,
            qc_out=qc_path,
            parallel=True,
        )
    assert read_qc(qc_path).truncated


def test_record_length_past_the_end(tmp_path: Path) -> None:
    last = bytearray(mw.announce(TS + 9, "10.0.0.1", 3549, ["1.0.0.0/8"], "3549 1"))
    struct.pack_into(">I", last, 8, len(last) + 500)  # the length field claims 500 more bytes
    name = "updates.20081111.2200"
    with pytest.raises(MalformedInput, match=rf"{name}: .*claims \d+ bytes but only"):
        run(tmp_path, name, updates() + bytes(last), keep_all=True)
    table, qc, _ = run(tmp_path, name, updates() + bytes(last), keep_all=True, allow_partial=True)
    assert table.height == 9 and qc.records_read == 8 and qc.status == "partial"


def test_unknown_mrt_type_is_counted_and_skipped(tmp_path: Path) -> None:
    records = update_records()
    middle = mw.record(TS, 99, 0, b"not a known record type")
    other = mw.record(TS, 11, 0, b"ospf")  # a registered type that holds no BGP routes
    data = b"".join([*records[:3], middle, other, *records[3:]])
    table, qc, _ = run(tmp_path, "updates.20081111.2200", data, keep_all=True)
    # pybgpkit-parser alone stops for good at type 99; the walk keeps it from the parser
    assert table.height == 9
    assert qc.skipped == {"records_unknown_mrt_type": 1, "records_not_bgp": 1}
    assert qc.records_read == 10


def test_garbage_inside_a_file_is_corrupt_framing(tmp_path: Path) -> None:
    records = update_records()
    at = sum(len(r) for r in records[:3])
    garbage = bytes(range(256)) * 4
    data = b"".join(records[:3]) + garbage + b"".join(records[3:])
    name = "updates.20081111.2200"
    with pytest.raises(MalformedInput, match=rf"{name}: .*corrupt MRT framing at byte {at}"):
        run(tmp_path, name, data, keep_all=True)


def test_not_mrt_at_all(tmp_path: Path) -> None:
    with pytest.raises(MalformedInput, match=r"notes\.txt: not an MRT file"):
        run(tmp_path, "notes.txt", b"prefix\torigin\n12.0.0.0\t7018\n" * 10, keep_all=True)


def test_html_page_instead_of_a_dump(tmp_path: Path) -> None:
    page = b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head></html>\n"
    with pytest.raises(MalformedInput, match=r"rib\.20081111\.2200\.bz2: not bz2 data \(an HTML"):
        run(tmp_path, "rib.20081111.2200.bz2", page, keep_all=True)
    with pytest.raises(
        MalformedInput,
        match=r"updates\.20081111\.2200: not an MRT file: it "
        r"starts with an HTML page",
    ):
        run(tmp_path, "updates.20081111.2200", page, keep_all=True)
    with pytest.raises(MalformedInput, match=r"bview\.20081111\.2200\.gz: not an MRT file"):
        run(tmp_path, "bview.20081111.2200.gz", gzip.compress(page), watch=MCCOLO, parallel=True)


def test_rib_without_peer_index_table(tmp_path: Path) -> None:
    rib = mw.rib_ipv4_unicast(TS, 0, "208.66.192.0/22", [mw.RibEntry(0, "3549 26780", "1.1.1.1")])
    name = "bview.20081111.2200.gz"
    with pytest.raises(MalformedInput, match=rf"{name}: .*peer index table is missing"):
        run(tmp_path, name, gzip.compress(rib), keep_all=True)
    # an entry pointing past the peer table is a malformed record
    bad = mw.peer_index_table(TS, [mw.Peer("1.1.1.1", 3549)])
    bad += mw.rib_ipv4_unicast(TS, 0, "208.66.192.0/22", [mw.RibEntry(5, "3549 26780", "1.1.1.1")])
    with pytest.raises(MalformedInput, match=rf"{name}: 1 malformed records .*peer index"):
        run(tmp_path, name, gzip.compress(bad), keep_all=True)


def test_malformed_records_are_counted_and_limited(tmp_path: Path) -> None:
    bad = bytearray(mw.announce(TS, "10.0.0.9", 3549, ["1.0.0.0/8"], "3549 1"))
    attr_len_at = 12 + 20 + 19 + 2  # MRT header, BGP4MP AS4 header, BGP header, withdrawn len
    struct.pack_into(">H", bad, attr_len_at, 200)
    data = updates() + bytes(bad)
    name = "updates.20081111.2200"
    with pytest.raises(MalformedInput, match=rf"{name}: 1 malformed records .*path attribute"):
        run(tmp_path, name, data, keep_all=True)
    table, qc, _ = run(tmp_path, name, data, keep_all=True, max_malformed=1)
    assert table.height == 9 and qc.skipped == {"records_malformed": 1}


@pytest.mark.parametrize(("direct", "read"), [(False, 5), (True, 9)])
def test_parser_losing_elements_is_detected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, direct: bool, read: int
) -> None:
    """A parser that stops early is caught whether it reads every record (``direct=False``)
    or only those not built directly (here the last one, an AS4_PATH merge of a path with an
    AS_SET)."""
    real = pybgpkit_parser.Parser

    class StopsEarly:
        """pybgpkit-parser as it behaves on some broken input: it just stops."""

        def __init__(self, *args: object, **kw: object) -> None:
            self.inner, self.count = iter(real(*args, **kw)), 0

        def __iter__(self) -> StopsEarly:
            return self

        def __next__(self) -> object:
            self.count += 1
            if self.count > (5 if not direct else 0):
                raise StopIteration
            return next(self.inner)

    monkeypatch.setattr(pybgpkit_parser, "Parser", StopsEarly)
    name = "updates.20081111.2200"
    merge = mw.announce(TS + 8, "10.0.0.5", 3356, ["15.0.0.0/8"], "3356 196613 {1,2}", as4=False)
    with pytest.raises(
        MalformedInput,
        match=rf"{name}: {read} IPv4 elements were read from records that hold 10: "
        "pybgpkit-parser skipped some",
    ):
        run(tmp_path, name, updates() + merge, keep_all=True, direct=direct)


def test_file_name_and_records_must_agree(tmp_path: Path) -> None:
    with pytest.raises(MalformedInput, match=r"rib\.20081111\.2200: the file name says rib"):
        run(tmp_path, "rib.20081111.2200", updates(), keep_all=True)
    mixed = updates() + mw.table_dump_v1(TS, "1.0.0.0/8", "10.0.0.1", 1, "1")
    with pytest.raises(MalformedInput, match="both RIB"):
        run(tmp_path, "dump.mrt", mixed, keep_all=True)
    with pytest.raises(MalformedInput, match=r"missing\.bz2: no such file"):
        normalize_mrt(
            tmp_path / "missing.bz2", tmp_path / "m.parquet", collector="x", keep_all=True
        )


def test_ipv6_is_skipped_by_reason(tmp_path: Path) -> None:
    # an UPDATE with an IPv4 NLRI and an MP_REACH_NLRI for two IPv6 prefixes
    nexthop = bytes(16)
    nlri6 = mw.encode_prefix("2001:db8::/32") + mw.encode_prefix("2001:db8:1::/48")
    mp = struct.pack(">HBB", 2, 1, 16) + nexthop + b"\x00" + nlri6
    attrs = mw.path_attributes("3549 26780", "10.0.0.1", four_byte=True)
    attrs += mw.attribute(mw.FLAG_OPTIONAL, 14, mp)
    msg = mw.bgp_update(announced=["208.66.192.0/22"], attributes=attrs)
    data = mw.bgp4mp_message(TS, msg, peer_as=3549, peer_ip="10.0.0.1")
    table, qc, peers = run(tmp_path, "updates.20081111.2200", data, keep_all=True)
    assert table["prefix"].to_list() == ["208.66.192.0/22"]
    assert qc.skipped == {"elements_ipv6": 2}
    assert peers.row(0, named=True)["elements_ipv6"] == 2


# --------------------------------------------------------------------------------------------
# Real data (../shared/realdata): conformance with bgpdump and the documented counts


def _bgpdump_multiset(path: Path) -> collections.Counter:
    out = subprocess.run([BGPDUMP, "-q", "-m", str(path)], capture_output=True, text=True)
    rows = [line.split("|") for line in out.stdout.splitlines()]
    kinds = {"A": "announce", "W": "withdraw", "B": "rib"}
    return collections.Counter(
        (kinds[r[2]], r[5], int(r[4]), r[6] if r[2] != "W" else None)
        for r in rows
        if r[2] in kinds and ":" not in r[5]
    )


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("name", "elements", "ipv6"),
    [("updates.20071015.1505.gz", 10_496, 47), ("updates.20070211.0141.gz", 53_657, 4_770)],
)
def test_real_updates_match_bgpdump(
    realdata: Path, tmp_path: Path, name: str, elements: int, ipv6: int
) -> None:
    raw = realdata / "routing" / name
    out = tmp_path / "out.parquet"
    qc = normalize_mrt(raw, out, collector="rrc00", keep_all=True, source_file=name)
    table = pl.read_parquet(out)
    assert qc.records_kept + qc.skipped["elements_ipv6"] == elements
    assert qc.skipped == {"elements_ipv6": ipv6} and qc.status == "ok" and not qc.truncated
    if BGPDUMP is None:
        pytest.skip("bgpdump is not installed: counts checked, multiset not compared")
    ours = collections.Counter(
        zip(table["kind"], table["prefix"], table["peer_asn"], table["as_path_text"], strict=True)
    )
    assert ours == _bgpdump_multiset(raw)


@pytest.mark.realdata
def test_real_truncated_rib(realdata: Path, tmp_path: Path) -> None:
    raw = realdata / "routing" / "rib.20080501.0644_firstMB.bz2"
    out = tmp_path / "rib.parquet"
    qc = normalize_mrt(raw, out, collector="route-views2", keep_all=True, allow_partial=True)
    table = pl.read_parquet(out)
    # 139,291 complete TABLE_DUMP entries (bgpdump, pybgpkit-parser and Python's bz2 module
    # all decode the same bytes; realdata/README.md says "139,274", PROVENANCE.md "~139,274")
    assert qc.truncated and qc.status == "partial" and qc.records_read == 139_291
    assert table.height == 139_291 and set(table["kind"]) == {"rib"}
    assert table["prefix"][-1] == "12.226.44.0/22" and table.n_unique("peer_ip") == 44
    assert "the bz2 stream ends before its end-of-stream marker" in qc.note
    # without allow_partial: an error naming the file, after the complete records were read
    watch = Watch.build([3561], prefixes=["12.0.0.0/12"])
    with pytest.raises(
        MalformedInput, match=r"rib\.20080501\.0644_firstMB\.bz2: truncated"
    ) as info:
        normalize_mrt(raw, tmp_path / "w.parquet", collector="route-views2", watch=watch)
    lo, hi = 12 << 24, (12 << 24) + (1 << 20) - 1
    expected = table.filter(
        pl.col("as_path").list.contains(3561)
        | ((pl.col("start_ip") <= hi) & (pl.col("end_ip") >= lo))
    )
    failed = info.value.qc  # type: ignore[attr-defined]
    assert failed.truncated and failed.records_read == 139_291
    assert failed.records_kept == expected.height > 0
    assert not (tmp_path / "w.parquet").exists()
    if BGPDUMP is not None:
        ours = collections.Counter(
            zip(
                table["kind"],
                table["prefix"],
                table["peer_asn"],
                table["as_path_text"],
                strict=True,
            )
        )
        assert ours == _bgpdump_multiset(raw)


def test_workflow_entry_point(tmp_path: Path) -> None:
    import json

    from takedowns.config import load_config
    from takedowns.routing import mrt

    raw = tmp_path / "updates.20081111.2200.gz"
    raw.write_bytes(gzip.compress(updates()))
    config = load_config()
    args = [
        str(raw),
        "--out", str(tmp_path / "o.parquet"),
        "--peers", str(tmp_path / "p.parquet"),
        "--qc", str(tmp_path / "q.json"),
        "--collector", "rrc00",
        "--source-file", "data/raw/data.ris.ripe.net/rrc00/2008.11/updates.20081111.2200.gz",
        "--config-json", json.dumps(config),
        "--log", str(tmp_path / "log.txt"),
    ]  # fmt: skip
    assert mrt.main(args) == 0
    table = pl.read_parquet(tmp_path / "o.parquet")
    # no prefix_origin given: the configured ASNs alone are watched (26780 in four paths)
    assert table.height == 4 and table["as_path"].list.contains(26780).all()
    assert read_qc(tmp_path / "q.json").source_file.endswith("updates.20081111.2200.gz")
    assert "4 elements kept" in (tmp_path / "log.txt").read_text()
    raw.write_bytes(gzip.compress(updates())[:-20])
    assert mrt.main(args) == 1
    assert read_qc(tmp_path / "q.json").truncated


def test_multi_member_archives_and_trailing_bytes(tmp_path: Path) -> None:
    records = update_records()
    half = len(records) // 2
    first, second = b"".join(records[:half]), b"".join(records[half:])
    for name, pack in (
        ("updates.20081111.2200.gz", gzip.compress),
        ("updates.20081111.2205.bz2", bz2.compress),
    ):
        table, qc, _ = run(tmp_path, name, pack(first) + pack(second), keep_all=True)
        assert table.height == 9 and qc.records_read == 8 and not qc.truncated
    name = "updates.20081111.2210.gz"
    junk = gzip.compress(updates()) + b"<html>proxy error</html>"
    with pytest.raises(MalformedInput, match=rf"{name}: 1 malformed records"):
        run(tmp_path, name, junk, keep_all=True)
    _, qc, _ = run(tmp_path, name, junk, keep_all=True, max_malformed=1)
    assert qc.skipped == {"bytes_trailing_garbage": 24}


def _routing_rule_keys() -> list[str]:
    """The config keys the workflow's routing_job_config passes to ``python -m
    takedowns.routing.mrt``."""
    import re

    from takedowns.config import REPO_ROOT

    common = (REPO_ROOT / "workflow" / "rules" / "common.smk").read_text(encoding="utf-8")
    body = re.search(r"def routing_job_config\(wildcards\):(.*?)\n\n\n", common, re.S)
    assert body, "routing_job_config not found in common.smk"
    keys = re.findall(r'"([a-z_.]+)"', body[1])
    if "*QC_FILE" in body[1]:
        keys += ["qc.allow_partial_files", "qc.max_malformed_records"]
    return keys


@pytest.mark.parametrize("allow_missing", [True, False])
def test_file_truncated_at_source_with_the_rules_config(
    tmp_path: Path, allow_missing: bool
) -> None:
    # the job reads routing.allow_missing_files for a file the ledger records as truncated at
    # the source: the config the rule hands over must carry it
    import hashlib
    import json

    from takedowns.config import load_config, pruned_config
    from takedowns.routing import mrt
    from takedowns.sources.ledger import commit

    config = load_config(overrides={"routing": {"allow_missing_files": allow_missing}})
    cfg = pruned_config(config, _routing_rule_keys())
    raw_dir = tmp_path / "data" / "raw" / "data.ris.ripe.net" / "rrc00" / "2008.11"
    raw_dir.mkdir(parents=True)
    data = gzip.compress(updates())[:-20]
    part = raw_dir / "updates.20081111.2200.gz.part"
    part.write_bytes(data)
    raw = raw_dir / "updates.20081111.2200.gz"
    checksums = tmp_path / "data" / "raw" / "SHA256SUMS"
    commit(part, raw, hashlib.sha256(data).hexdigest(), checksums, status="truncated_at_source")
    args = [
        str(raw),
        "--out", str(tmp_path / "o.parquet"),
        "--peers", str(tmp_path / "p.parquet"),
        "--qc", str(tmp_path / "q.json"),
        "--collector", "rrc00",
        "--checksums", str(checksums),
        "--config-json", json.dumps(cfg),
        "--log", str(tmp_path / "log.txt"),
    ]  # fmt: skip
    if allow_missing:
        assert mrt.main(args) == 0
        assert pl.read_parquet(tmp_path / "o.parquet").height == 0
        assert read_qc(tmp_path / "q.json").note.startswith("truncated_at_source")
    else:
        assert mrt.main(args) == 1
