"""The fast paths of the MRT walk: parallel bzip2, isal gzip, the early truncation check and
the vectorized TABLE_DUMP check, each against the standard-library / per-record path."""

from __future__ import annotations

import bz2
import gzip
import io
import random
import struct
from dataclasses import asdict
from pathlib import Path

import pytest

from takedowns.routing import decompress
from takedowns.routing import fast_walk as mrt_fast
from takedowns.routing import walk as mrt_walk
from takedowns.routing.walk import Routing, WalkResult, decompressed_chunks, walk
from takedowns.synthetic import mrt_writer as mw

TS = 1226440800
REAL_RIB = Path(__file__).resolve().parents[2] / "shared/realdata/routing"
PATHS = (
    "3549 26780",
    "3356 7018 701",
    "(65000 65001) 3549 26780",
    "7018 {1,2,3}",
    "6939 3356 3356 3356 15169",
    "196613 {7018,701}",
    "174 23456 1234",
    "1299 [65010,65011] 40989",
    "3257 174 27595 27595",
)


def table_dump(entries: int = 3000, seed: int = 7) -> bytes:
    """TABLE_DUMP v1 entries of every kind the walk treats differently: plain paths, AS
    sets, confederation segments, AS4_PATH, IPv6 entries, malformed entries and a record
    of an unknown MRT type."""
    rng = random.Random(seed)
    records = []
    for i in range(entries):
        prefix = rng.choice(
            ("208.66.192.0/22", "208.72.173.0/24", f"12.{i % 250}.0.0/16", "81.95.144.0/20")
        )
        peer_as = rng.choice((3549, 3356, 6939, 196613, 174))
        record = mw.table_dump_v1(
            TS + i // 100, prefix, f"10.0.0.{rng.randrange(1, 40)}", peer_as, rng.choice(PATHS)
        )
        if i % 997 == 13:  # an attribute length past the record: malformed
            broken = bytearray(record)
            broken[32:34] = struct.pack(">H", struct.unpack(">H", broken[32:34])[0] + 5)
            record = bytes(broken)
        if i % 1201 == 7:
            records.append(
                mw.table_dump_v1_ipv6(TS, "2001:db8::/32", "2001:db8::1", 3549, "3549 1", "::1")
            )
        if i == 1500:
            records.append(struct.pack(">IHHI", TS, 99, 0, 4) + b"abcd")
        records.append(record)
    return b"".join(records)


def walked(path: Path, routing_asns: frozenset[int] | None) -> tuple[dict, bytes]:
    out = io.BytesIO()
    ranges = ((int.from_bytes(bytes([208, 66, 192, 0]), "big"), 0xD042C3FF),)
    result = walk(path, Routing(out=out, ranges=ranges, asns=routing_asns))
    return asdict(result), out.getvalue()


@pytest.mark.parametrize("asns", [None, frozenset({26780, 40989})])
def test_vectorized_table_dump_equals_the_per_record_walk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, asns: frozenset[int] | None
) -> None:
    raw = tmp_path / "rib.20081111.2200.bz2"
    raw.write_bytes(bz2.compress(table_dump(), 1))
    calls = []
    vectorized = mrt_fast.table_dump_v4
    with monkeypatch.context() as patch:
        patch.setattr(mrt_fast, "table_dump_v4", lambda *a: calls.append(1) or vectorized(*a))
        fast = walked(raw, asns)
    assert calls
    monkeypatch.setattr(mrt_walk, "FAST_FROM_RECORDS", 10**9)
    slow = walked(raw, asns)
    assert fast == slow
    result = fast[0]
    assert result["skipped"]["records_malformed"] == 3
    assert result["skipped"]["records_unknown_mrt_type"] == 1
    assert result["confed_paths"] > 0 and result["as4_merged"] > 0


def test_vectorized_walk_on_the_real_rib(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = REAL_RIB / "rib.20080501.0644_firstMB.bz2"
    if not raw.exists():
        pytest.skip("../shared/realdata is absent")
    for asns in (None, frozenset({26780, 27595, 3356})):
        fast = walked(raw, asns)
        with monkeypatch.context() as patch:
            patch.setattr(mrt_walk, "FAST_FROM_RECORDS", 10**9)
            slow = walked(raw, asns)
        assert fast == slow
        assert fast[0]["records_read"] == 139_291 and fast[0]["truncated"]


def chunks(path: Path) -> tuple[bytes, WalkResult]:
    result = WalkResult()
    data = b"".join(decompressed_chunks(path, result, threads=2))
    return data, result


def test_bz2_end_marker_is_checked_before_reading(tmp_path: Path) -> None:
    data = table_dump(500)
    whole = bz2.compress(data)
    cases = {
        "complete.bz2": (whole, True),
        "streams.bz2": (bz2.compress(data[:1000]) + bz2.compress(data[1000:]), True),
        "cut.bz2": (whole[:-1], False),
        "short.bz2": (whole[: len(whole) // 2], False),
        "trailing.bz2": (whole + b"garbage", False),
        "empty.bz2": (bz2.compress(b""), True),
    }
    for name, (content, complete) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        assert decompress.bz2_tail_complete(path) is complete, name


def test_parallel_bz2_equals_the_standard_library(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = table_dump(4000)
    path = tmp_path / "rib.20081111.2200.bz2"
    path.write_bytes(bz2.compress(data[:70_000], 1) + bz2.compress(data[70_000:], 1))
    used = []
    parallel = mrt_walk.bz2_parallel_chunks

    def spy(*args: object, **kw: object):  # type: ignore[no-untyped-def]
        used.append(args)
        return parallel(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(mrt_walk, "bz2_parallel_chunks", spy)
    out, result = chunks(path)
    assert used and out == data and not result.truncated


def test_corrupt_bz2_block_falls_back_at_the_same_offset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = table_dump(6000)
    blocks = bz2.compress(data[:150_000], 1) + bz2.compress(data[150_000:], 1)
    broken = bytearray(blocks)
    middle = len(bz2.compress(data[:150_000], 1)) + 5000
    broken[middle : middle + 8] = b"\x00" * 8  # inside the second stream; the end marker stays
    path = tmp_path / "rib.20081111.2200.bz2"
    path.write_bytes(bytes(broken))
    assert decompress.bz2_tail_complete(path)
    fast, fast_result = chunks(path)
    monkeypatch.setattr(mrt_walk, "bz2_tail_complete", lambda _: False)
    serial, serial_result = chunks(path)
    assert fast == serial and len(serial) >= 150_000
    assert fast_result.truncated and fast_result.truncation == serial_result.truncation


def test_truncated_bz2_is_read_serially_and_flagged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = table_dump(4000)
    path = tmp_path / "rib.20081111.2200.bz2"
    path.write_bytes(bz2.compress(data, 1)[:-3000])
    monkeypatch.setattr(
        mrt_walk, "bz2_parallel_chunks", lambda *a: pytest.fail("parallel path on a cut file")
    )
    out, result = chunks(path)
    assert result.truncated and "end-of-stream marker" in result.truncation
    assert 0 < len(out) < len(data) and data.startswith(out)


def test_gzip_goes_through_isal(tmp_path: Path) -> None:
    from isal import isal_zlib

    assert type(decompress.gzip_decompressor()) is type(isal_zlib.decompressobj(47))
    data = table_dump(3000)
    path = tmp_path / "updates.20081111.2200.gz"
    packed = gzip.compress(data[:50_000]) + gzip.compress(data[50_000:])
    path.write_bytes(packed)
    out, result = chunks(path)
    assert out == data and not result.truncated
    path.write_bytes(packed[:-2000])
    out, result = chunks(path)
    assert result.truncated and data.startswith(out) and len(out) > 50_000
    path.write_bytes(packed[:100] + b"\xff" * 64 + packed[164:])
    out, result = chunks(path)
    assert result.truncated and result.truncation.startswith("corrupt gzip data")
