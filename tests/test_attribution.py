"""Attribution by date: longest-prefix match, ranges, countries; checked independently."""

from __future__ import annotations

import datetime as dt
import gzip
import ipaddress
import random
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from takedowns.ipv4 import address_to_int, prefix_end
from takedowns.prefix2as.attribution import (
    attribute_addresses,
    attribute_country,
    attribute_ranges,
    origin_index,
    ranges_to_prefixes,
)

D = dt.date


def ip(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def episodes(rows: list[tuple[str, list[int], dt.date, dt.date]]) -> pl.DataFrame:
    """A prefix_origin-shaped frame from (prefix, origins, first_day, last_day)."""
    frame = pl.DataFrame(
        {
            "prefix": [r[0] for r in rows],
            "origins": [r[1] for r in rows],
            "first_day": [r[2] for r in rows],
            "last_day": [r[3] for r in rows],
        },
        schema={
            "prefix": pl.String,
            "origins": pl.List(pl.UInt32),
            "first_day": pl.Date,
            "last_day": pl.Date,
        },
    )
    return with_bounds(frame)


def with_bounds(frame: pl.DataFrame) -> pl.DataFrame:
    parts = pl.col("prefix").str.split("/")
    return frame.with_columns(
        start_ip=address_to_int(parts.list.get(0)),
        length=parts.list.get(1).cast(pl.UInt8),
    ).with_columns(end_ip=prefix_end(pl.col("start_ip"), pl.col("length")))


def points(rows: list[tuple[str, dt.date]]) -> pl.DataFrame:
    return pl.DataFrame(
        {"ip": [ip(a) if a else None for a, _ in rows], "day": [d for _, d in rows]},
        schema={"ip": pl.UInt32, "day": pl.Date},
    )


# --------------------------------------------------------------------------------------------
# Hand-made cases: nesting, time, MOAS


EPISODES = [
    ("10.0.0.0/8", [100], D(2008, 1, 1), D(2008, 12, 31)),
    ("10.1.0.0/16", [200], D(2008, 1, 1), D(2008, 6, 30)),
    ("10.1.0.0/16", [201], D(2008, 7, 1), D(2008, 12, 31)),  # new origin from July
    ("10.1.2.0/24", [300, 301], D(2008, 3, 1), D(2008, 3, 31)),  # MOAS, March only
    ("10.1.2.128/25", [400], D(2008, 3, 10), D(2008, 3, 12)),
    ("0.0.0.0/0", [1], D(2008, 5, 1), D(2008, 5, 1)),  # a default route on one day
    ("192.0.2.0/24", [500], D(2008, 1, 1), D(2008, 1, 10)),
    ("192.0.2.0/24", [501], D(2008, 1, 5), D(2008, 1, 20)),  # overlaps: two collectors
]


@pytest.mark.parametrize(
    ("address", "day", "prefix", "origins"),
    [
        ("10.1.2.200", D(2008, 3, 11), "10.1.2.128/25", [400]),
        ("10.1.2.200", D(2008, 3, 13), "10.1.2.0/24", [300, 301]),
        ("10.1.2.5", D(2008, 3, 11), "10.1.2.0/24", [300, 301]),
        ("10.1.2.5", D(2008, 4, 1), "10.1.0.0/16", [200]),
        ("10.1.2.5", D(2008, 7, 1), "10.1.0.0/16", [201]),
        ("10.9.9.9", D(2008, 7, 1), "10.0.0.0/8", [100]),
        ("10.9.9.9", D(2009, 1, 1), None, []),
        ("11.0.0.1", D(2008, 5, 1), "0.0.0.0/0", [1]),
        ("11.0.0.1", D(2008, 5, 2), None, []),
        ("192.0.2.1", D(2008, 1, 4), "192.0.2.0/24", [500]),
        ("192.0.2.1", D(2008, 1, 7), "192.0.2.0/24", [500, 501]),
        ("192.0.2.1", D(2008, 1, 15), "192.0.2.0/24", [501]),
        ("255.255.255.255", D(2008, 5, 1), "0.0.0.0/0", [1]),
        ("0.0.0.0", D(2008, 5, 2), None, []),
    ],
)
def test_longest_prefix_on_the_day(address, day, prefix, origins) -> None:
    out = attribute_addresses(points([(address, day)]), episodes(EPISODES))
    assert out["matched_prefix"][0] == prefix
    assert out["origins"][0].to_list() == origins


def test_nulls_and_order_are_kept() -> None:
    frame = points([("10.1.2.5", D(2008, 4, 1)), (None, D(2008, 4, 1)), ("10.1.2.5", None)])
    frame = frame.with_columns(tag=pl.Series(["a", "b", "c"]))
    out = attribute_addresses(frame, episodes(EPISODES))
    assert out["tag"].to_list() == ["a", "b", "c"]
    assert [o.to_list() for o in out["origins"]] == [[200], [], []]
    assert out.schema["origins"] == pl.List(pl.UInt32)


def test_bad_episodes_are_refused() -> None:
    bad = episodes([("10.0.0.0/8", [1], D(2008, 1, 1), D(2008, 1, 1))])
    bad = bad.with_columns(start_ip=pl.lit(ip("10.0.0.1"), dtype=pl.UInt32))
    with pytest.raises(ValueError, match="not a /8"):
        attribute_addresses(points([("10.0.0.1", D(2008, 1, 1))]), bad)


def test_ranges_count_addresses_per_origin() -> None:
    frame = pl.DataFrame(
        {
            "start_ip": [ip("10.1.0.0"), ip("10.1.2.0"), ip("10.255.255.0"), ip("12.0.0.0")],
            "end_ip": [ip("10.1.15.255"), ip("10.1.2.255"), ip("11.0.0.255"), ip("12.0.0.255")],
            "day": [D(2008, 3, 11)] * 4,
        },
        schema={"start_ip": pl.UInt32, "end_ip": pl.UInt32, "day": pl.Date},
    )
    out = attribute_ranges(frame, episodes(EPISODES))
    rows = out.select("origins", "origin_addresses", "routed_addresses", "range_addresses")
    got = [tuple(r) for r in rows.iter_rows()]
    # A /20: the /24 inside it is MOAS (128 addresses each origin: the /25 is AS400's).
    assert got[0] == ([200, 300, 301, 400], [4096 - 256, 128, 128, 128], 4096, 4096)
    assert got[1] == ([300, 301, 400], [128, 128, 128], 256, 256)
    assert got[2] == ([100], [256], 256, 512)  # half of it lies outside 10/8
    assert got[3] == ([], [], 0, 256)


def test_ranges_to_prefixes_agrees_with_ipaddress() -> None:
    rng = random.Random(3)
    starts, ends = [], []
    for _ in range(300):
        a = rng.randrange(2**32)
        b = min(2**32 - 1, a + rng.choice([0, 1, 255, 767, 1000, 65535, 10**6, 2**28]))
        starts.append(a)
        ends.append(b)
    starts += [0, 0]
    ends += [2**32 - 1, 2**31]
    row, start, length = ranges_to_prefixes(np.array(starts), np.array(ends))
    for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
        expected = list(
            ipaddress.summarize_address_range(ipaddress.IPv4Address(a), ipaddress.IPv4Address(b))
        )
        got = [
            ipaddress.ip_network((int(s), int(n)))
            for s, n in zip(start[row == i], length[row == i], strict=True)
        ]
        assert got == expected


def test_country_by_date_with_ranges_of_any_size() -> None:
    table = pl.DataFrame(
        {
            "start_ip": [ip("81.95.144.0"), ip("81.95.144.0"), ip("62.0.0.0")],
            "end_ip": [ip("81.95.146.255"), ip("81.95.146.255"), ip("62.0.2.255")],  # 768
            "country": ["RU", "UA", "DE"],
            "registry": ["ripencc"] * 3,
            "valid_from": [D(2007, 11, 1), D(2007, 12, 1), D(2007, 11, 1)],
            "valid_to": [D(2007, 11, 30), None, D(2007, 11, 30)],
        },
        schema_overrides={"start_ip": pl.UInt32, "end_ip": pl.UInt32},
    )
    frame = points(
        [
            ("81.95.146.7", D(2007, 11, 5)),
            ("81.95.146.7", D(2008, 6, 1)),  # open-ended validity
            ("81.95.147.0", D(2007, 11, 5)),  # just past the 768 addresses
            ("62.0.2.255", D(2007, 11, 30)),
            ("62.0.2.255", D(2007, 12, 1)),
            ("81.95.146.7", D(2007, 10, 31)),  # before the first snapshot
        ]
    )
    out = attribute_country(frame, table)
    assert out["country"].to_list() == ["RU", "UA", None, "DE", None, None]
    assert out["registry"].to_list()[:2] == ["ripencc", "ripencc"]


# --------------------------------------------------------------------------------------------
# The real 2008-05-01 table (270,849 prefixes) against a straightforward LPM


def _real_table(realdata: Path) -> pl.DataFrame:
    path = realdata / "routing" / "ipasn_20080501_v12.dat.gz"
    with gzip.open(path, "rt") as fh:
        rows = [ln.rstrip("\n").split("\t") for ln in fh if ln.strip() and not ln.startswith(";")]
    day = D(2008, 5, 1)
    frame = pl.DataFrame(
        {"prefix": [r[0] for r in rows], "asn": [int(r[1]) for r in rows]},
        schema={"prefix": pl.String, "asn": pl.UInt32},
    )
    return with_bounds(frame).with_columns(
        origins=pl.concat_list("asn"), first_day=pl.lit(day), last_day=pl.lit(day)
    )


@pytest.fixture(scope="module")
def real_episodes(realdata: Path) -> pl.DataFrame:
    return _real_table(realdata)


def _reference_lpm(table: pl.DataFrame):
    by_length: dict[int, dict[int, tuple[str, int]]] = {}
    for prefix, start, length, asn in table.select("prefix", "start_ip", "length", "asn").rows():
        by_length.setdefault(length, {})[start] = (prefix, asn)
    lengths = sorted(by_length, reverse=True)

    def lookup(address: int) -> tuple[str | None, list[int]]:
        for n in lengths:
            hit = by_length[n].get(address >> (32 - n) << (32 - n) if n else 0)
            if hit:
                # a second check through ipaddress, so the reference stands on its own
                assert ipaddress.IPv4Address(address) in ipaddress.ip_network(hit[0])
                return hit[0], [hit[1]]
        return None, []

    return lookup


@pytest.mark.realdata
def test_real_table_agrees_with_a_straightforward_lpm(real_episodes: pl.DataFrame) -> None:
    assert real_episodes.height == 270_849
    rng = random.Random(2008)
    addresses = [rng.randrange(2**32) for _ in range(2500)]
    # Addresses inside nested prefixes: in a more specific, and in its cover but outside it.
    nested = real_episodes.filter(pl.col("length") >= 20).sample(1500, seed=5)
    for start, end in nested.select("start_ip", "end_ip").rows():
        addresses.append(rng.randint(start, end))
        addresses.append(max(0, start - 1))
        addresses.append(min(2**32 - 1, end + 1))
    day = D(2008, 5, 1)
    frame = pl.DataFrame({"ip": addresses, "day": [day] * len(addresses)}).cast({"ip": pl.UInt32})
    out = attribute_addresses(frame, real_episodes)
    reference = _reference_lpm(real_episodes)
    nested_hits = 0
    for address, prefix, origins in out.select("ip", "matched_prefix", "origins").rows():
        expected = reference(address)
        assert (prefix, origins) == expected, ipaddress.IPv4Address(address)
        if prefix and int(prefix.split("/")[1]) >= 20:
            nested_hits += 1
    assert nested_hits > 1000
    assert out["matched_prefix"].is_not_null().sum() > 2000


@pytest.mark.realdata
def test_real_table_known_networks(real_episodes: pl.DataFrame) -> None:
    day = D(2008, 5, 1)
    att = origin_index(real_episodes)
    frame = points(
        [
            ("208.72.169.1", day),
            ("69.50.161.1", day),
            ("208.72.173.9", day),
            ("69.50.161.1", D(2008, 5, 2)),
        ]
    )
    out = attribute_addresses(frame, real_episodes, index=att)
    assert [o.to_list() for o in out["origins"]] == [[26780], [27595], [26780], []]
    assert out["matched_prefix"].to_list() == [
        "208.72.168.0/21",
        "69.50.160.0/19",
        "208.72.173.0/24",
        None,
    ]
    ranges = pl.DataFrame(
        {"start_ip": [ip("208.72.168.0")], "end_ip": [ip("208.72.175.255")], "day": [day]},
        schema={"start_ip": pl.UInt32, "end_ip": pl.UInt32, "day": pl.Date},
    )
    got = attribute_ranges(ranges, real_episodes, index=att).row(0, named=True)
    assert got["origins"] == [26780] and got["origin_addresses"] == [2048]
