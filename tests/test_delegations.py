"""RIR delegated statistics: parsing, bad input, validity periods, URL layout."""

from __future__ import annotations

import bz2
import datetime as dt
import gzip
import ipaddress
from pathlib import Path

import polars as pl
import pytest

from takedowns.attribution import attribute_country
from takedowns.config import load_config
from takedowns.delegations import (
    build_ip_country,
    delegated_url,
    delegated_urls,
    read_delegated,
)
from takedowns.qc import MalformedInput

TEXT = """\
# a comment line
2|ripencc|20081101|7|19830705|20081031|+0100
ripencc|*|asn|*|1|summary
ripencc|*|ipv4|*|5|summary
ripencc|*|ipv6|*|1|summary
ripencc|RU|asn|40989|1|20061005|allocated
ripencc|RU|ipv4|81.95.144.0|4096|20050405|allocated
ripencc|UK|ipv4|62.0.0.0|768|20010101|assigned
ripencc|DE|ipv4|62.0.4.0|256|00000000|assigned
ripencc||ipv4|62.0.8.0|256||reserved
ripencc|NL|ipv4|62.0.9.0|256|20080101|available
ripencc|DE|ipv6|2001:db8::|32|20060101|allocated
"""


def ip(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def write(path: Path, text: str, kind: str = "plain") -> Path:
    data = text.encode()
    if kind == "bz2":
        data = bz2.compress(data)
    elif kind == "gz":
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("kind", ["plain", "bz2", "gz"])
def test_reads_delegations_in_any_compression(tmp_path: Path, kind: str) -> None:
    path = write(tmp_path / "delegated-ripencc-20081101.bz2", TEXT, kind)
    frame, qc = read_delegated(path, "ftp.ripe.net/pub/stats/ripencc/2008/x")
    assert frame["start_ip"].to_list() == [ip("62.0.0.0"), ip("62.0.4.0"), ip("81.95.144.0")]
    assert frame["end_ip"].to_list() == [ip("62.0.2.255"), ip("62.0.4.255"), ip("81.95.159.255")]
    assert frame["addresses"].to_list() == [768, 256, 4096]  # 768: not a power of two
    assert frame["country"].to_list() == ["GB", "DE", "RU"]  # UK -> GB
    assert frame["status"].to_list() == ["assigned", "assigned", "allocated"]
    assert frame["delegated_on"].to_list() == [dt.date(2001, 1, 1), None, dt.date(2005, 4, 5)]
    assert set(frame["snapshot"]) == {dt.date(2008, 11, 1)}
    assert (qc.records_read, qc.records_kept) == (7, 3)
    assert qc.skipped == {"not_ipv4": 2, "status_not_allocated_or_assigned": 2}
    assert qc.records_read == qc.records_kept + qc.records_skipped
    assert "ipv4_other_status=2" in qc.note and "non_ipv4=2" in qc.note


def test_truncated_files_are_errors_naming_the_file(tmp_path: Path) -> None:
    short = write(tmp_path / "delegated-ripencc-20081101", TEXT.rsplit("\n", 4)[0] + "\n")
    with pytest.raises(MalformedInput, match=r"delegated-ripencc-20081101: truncated.*announces 7"):
        read_delegated(short)
    data = bz2.compress(TEXT.encode())
    cut = tmp_path / "delegated-apnic-20081101.bz2"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        MalformedInput, match=r"delegated-apnic-20081101\.bz2: truncated or corrupt"
    ):
        read_delegated(cut)
    empty = write(tmp_path / "delegated-arin-20081101", "# nothing\n")
    with pytest.raises(MalformedInput, match="delegated-arin-20081101: empty"):
        read_delegated(empty)
    html = write(tmp_path / "delegated-lacnic-20081101", "<html>404</html>\n")
    with pytest.raises(MalformedInput, match="delegated-lacnic-20081101: first line"):
        read_delegated(html)


def test_malformed_records_are_counted_or_refused(tmp_path: Path) -> None:
    bad = TEXT.replace("2|ripencc|20081101|7|", "2|ripencc|20081101|10|") + (
        "ripencc|FR|ipv4|300.0.0.0|256|20080101|allocated\n"
        "ripencc|FR|ipv4|80.0.0.0|zero|20080101|allocated\n"
        "ripencc|FR|ipv4|255.255.255.0|512|20080101|allocated\n"
    )
    path = write(tmp_path / "delegated-ripencc-20081101", bad)
    with pytest.raises(MalformedInput, match=r"delegated-ripencc-20081101: 3 malformed"):
        read_delegated(path)
    frame, qc = read_delegated(path, max_malformed=3)
    assert qc.skipped == {
        "bad_address": 1, "bad_count": 1, "range_past_end": 1,
        "not_ipv4": 2, "status_not_allocated_or_assigned": 2,
    }  # fmt: skip
    assert frame.height == 3


def test_snapshots_become_validity_periods(tmp_path: Path) -> None:
    snaps = []
    for day, cc in ((dt.date(2008, 10, 1), "RU"), (dt.date(2008, 11, 1), "UA")):
        text = TEXT.replace("20081101", f"{day:%Y%m%d}").replace("|RU|ipv4|", f"|{cc}|ipv4|")
        path = write(tmp_path / f"delegated-ripencc-{day:%Y%m%d}", text)
        snaps.append(read_delegated(path)[0])
    table = build_ip_country(snaps, max_age_days=45)
    periods = table.select("snapshot", "valid_from", "valid_to").unique().sort("snapshot").rows()
    assert periods == [
        (dt.date(2008, 10, 1), dt.date(2008, 10, 1), dt.date(2008, 10, 31)),
        (dt.date(2008, 11, 1), dt.date(2008, 11, 1), dt.date(2008, 12, 15)),
    ]
    frame = pl.DataFrame(
        {
            "ip": [ip("81.95.150.1")] * 4,
            "day": [
                dt.date(2008, 10, 15),
                dt.date(2008, 11, 3),
                dt.date(2008, 12, 15),
                dt.date(2008, 12, 16),
            ],
        },
        schema={"ip": pl.UInt32, "day": pl.Date},
    )
    assert attribute_country(frame, table)["country"].to_list() == ["RU", "UA", "UA", None]


def test_url_layout_per_registry() -> None:
    day = dt.date(2008, 11, 1)
    study = load_config()["sources"]["rir_delegated"]["urls"]
    assert delegated_url("ripencc", day, study) == (
        "https://ftp.ripe.net/pub/stats/ripencc/2008/delegated-ripencc-20081101.bz2"
    )
    assert delegated_url("arin", day, study) == (
        "https://ftp.arin.net/pub/stats/arin/archive/2008/delegated-arin-20081101"
    )
    assert delegated_url("apnic", day, study).endswith(
        "/stats/apnic/2008/delegated-apnic-20081101.gz"
    )
    config = {
        "sources": {
            "rir_delegated": {
                "registries": ["lacnic", "arin"],
                "urls": {
                    "lacnic": "http://example.org/lacnic/delegated-lacnic-{date}",
                    "arin": study["arin"],
                },
            }
        }
    }
    got = delegated_urls(config, [dt.date(2008, 11, 17), dt.date(2008, 12, 1)])
    assert [(r, m.isoformat(), u.rsplit("/", 1)[1]) for r, m, u in got] == [
        ("lacnic", "2008-11-01", "delegated-lacnic-20081101"),
        ("arin", "2008-11-01", "delegated-arin-20081101"),
        ("lacnic", "2008-12-01", "delegated-lacnic-20081201"),
        ("arin", "2008-12-01", "delegated-arin-20081201"),
    ]
    assert set(study) == {"afrinic", "apnic", "arin", "lacnic", "ripencc"}
