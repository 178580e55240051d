"""prefix2as: creation log, daily tables (real syntax, bad input) and episodes."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import polars as pl
import pytest

from takedowns.prefix2as.caida import (
    build_episodes,
    parse_creation_log,
    read_daily_table,
    select_snapshots,
)
from takedowns.qc import MalformedInput
from takedowns.tables import write_parquet

BASE = "https://publicdata.caida.org/datasets/routing/routeviews-prefix2as"


def write_gz(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text.encode()))
    return path


def test_creation_log_manifest(tmp_path: Path) -> None:
    log = tmp_path / "pfx2as-creation.log"
    log.write_text(
        "# Line format:\n# seq\tts\tpath\n"
        "4492\t1206000000\t2008/03/routeviews-oix-20080319-1200.pfx2as.gz\n"
        "4493\t1209700000\t2008/05/routeviews-rv2-20080501-0644.pfx2as.gz\n"
        "4494\t1209800000\t2008/05/routeviews-rv2-20080501-0800.pfx2as.gz\n"
    )
    manifest = parse_creation_log(log, BASE)
    assert manifest["collector"].to_list() == ["oix", "rv2", "rv2"]
    assert manifest["url"][1] == BASE + "/2008/05/routeviews-rv2-20080501-0644.pfx2as.gz"
    assert manifest["snapshot_time"][1] == dt.datetime(2008, 5, 1, 6, 44, tzinfo=dt.UTC)
    chosen = select_snapshots(manifest, [dt.date(2008, 5, 1), dt.date(2008, 5, 2)])
    # the later-created file of a day supersedes; a day without a file is simply absent
    assert chosen.height == 1 and chosen["seq"][0] == 4494


def test_creation_log_rejects_other_lines(tmp_path: Path) -> None:
    log = tmp_path / "pfx2as-creation.log"
    log.write_text("4492 1206000000 2008/03/routeviews-oix-20080319-1200.pfx2as.gz\n")
    with pytest.raises(MalformedInput, match=r"pfx2as-creation\.log:1"):
        parse_creation_log(log, BASE)


def test_daily_table_real_syntax(tmp_path: Path) -> None:
    # MOAS lines as derived from the real 2008-05-01 RIB (numeric order before 2010),
    # an AS set and the combined form the CAIDA README shows.
    raw = write_gz(
        tmp_path / "routeviews-rv2-20080501-0644.pfx2as.gz",
        "12.108.209.0\t24\t209_22180\n"
        "208.72.168.0\t21\t26780\n"
        "208.72.173.0\t24\t26780\n"
        "64.0.0.0\t8\t32,54\n"
        "10.0.0.0\t24\t10_20_30_32,54\n",
    )
    frame, qc = read_daily_table(raw, raw.name)
    assert qc.records_read == 5 and qc.records_kept == 5 and qc.skipped == {}
    rows = {r["prefix"]: r for r in frame.iter_rows(named=True)}
    assert rows["12.108.209.0/24"]["origins"] == [209, 22180]
    assert rows["12.108.209.0/24"]["moas"] and not rows["12.108.209.0/24"]["as_set"]
    assert rows["64.0.0.0/8"]["origins"] == [32, 54] and rows["64.0.0.0/8"]["as_set"]
    assert rows["10.0.0.0/24"]["origins"] == [10, 20, 30, 32, 54]
    assert rows["208.72.168.0/21"]["start_ip"] == (208 << 24) + (72 << 16) + (168 << 8)
    assert rows["208.72.168.0/21"]["end_ip"] - rows["208.72.168.0/21"]["start_ip"] == 2047
    assert frame["day"].unique().to_list() == [dt.date(2008, 5, 1)]
    assert frame["collector"].unique().to_list() == ["rv2"]
    assert frame.schema["origins"] == pl.List(pl.UInt32)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("1.2.3.0\t24\tAS123", "unknown_origin_syntax"),
        ("1.2.3.0\t24\t{123,456}", "unknown_origin_syntax"),
        ("1.2.3.0\t24\t1.5", "unknown_origin_syntax"),
        ("1.2.3.0\t24", "field_count"),
        ("1.2.3.999\t24\t123", "bad_prefix"),
        ("1.2.3.0\t33\t123", "bad_length"),
        ("1.2.3.4\t24\t123", "host_bits_set"),
        ("1.2.3.0\t24\t9999999999", "asn_out_of_range"),
        ("5.5.5.0\t24\t7", "duplicate_prefix"),
    ],
)
def test_daily_table_malformed_line(tmp_path: Path, line: str, reason: str) -> None:
    raw = write_gz(tmp_path / "routeviews-rv2-20080501-0644.pfx2as.gz", f"5.5.5.0\t24\t7\n{line}\n")
    with pytest.raises(MalformedInput, match=rf"routeviews-rv2-20080501-0644.*{reason}.*line 2"):
        read_daily_table(raw, raw.name)
    frame, qc = read_daily_table(raw, raw.name, max_malformed=1)
    assert qc.skipped == {reason: 1} and qc.records_read == 2 and frame.height == 1


def test_truncated_gzip_names_the_file(tmp_path: Path) -> None:
    good = gzip.compress(b"5.5.5.0\t24\t7\n" * 2000)
    raw = tmp_path / "routeviews-rv2-20080501-0644.pfx2as.gz"
    raw.write_bytes(good[: len(good) // 2])
    with pytest.raises(MalformedInput, match=r"routeviews-rv2-20080501-0644.*truncated or corrupt"):
        read_daily_table(raw, raw.name)


def _day(tmp: Path, day: dt.date, rows: list[tuple[str, str]]) -> Path:
    raw = write_gz(
        tmp / f"routeviews-rv2-{day:%Y%m%d}-1200.pfx2as.gz",
        "".join(f"{p.split('/')[0]}\t{p.split('/')[1]}\t{o}\n" for p, o in rows),
    )
    frame, _ = read_daily_table(raw, raw.name)
    out = tmp / f"{day}.parquet"
    write_parquet(frame, out)
    return out


def test_episodes_follow_changes_gaps_and_moves(tmp_path: Path) -> None:
    d = [dt.date(2008, 11, 1) + dt.timedelta(days=i) for i in range(12)]
    a, b = "208.72.168.0/21", "208.66.192.0/22"
    paths = [
        _day(tmp_path, d[0], [(a, "26780"), (b, "26780")]),
        _day(tmp_path, d[1], [(a, "26780"), (b, "26780")]),
        # d[2] missing: within max_gap_days, episodes continue
        _day(tmp_path, d[3], [(a, "26780"), (b, "26780")]),
        _day(tmp_path, d[4], [(a, "64500"), (b, "26780")]),  # a moves to a new origin
        _day(tmp_path, d[5], [(a, "64500")]),  # b withdrawn
        # gap of 6 days > max_gap_days: every episode ends
        _day(tmp_path, d[11], [(a, "64500")]),
    ]
    out = tmp_path / "prefix_origin.parquet"
    rows = build_episodes(list(reversed(paths)), out, max_gap_days=3)
    eps = pl.read_parquet(out)
    assert rows == eps.height == 4
    got = {
        (r["prefix"], tuple(r["origins"]), r["first_day"], r["last_day"], r["days_seen"])
        for r in eps.iter_rows(named=True)
    }
    assert got == {
        (a, (26780,), d[0], d[3], 3),
        (b, (26780,), d[0], d[4], 4),
        (a, (64500,), d[4], d[5], 2),
        (a, (64500,), d[11], d[11], 1),
    }
    # sorted by address for range lookups
    assert eps["start_ip"].is_sorted()
