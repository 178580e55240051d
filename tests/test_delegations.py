"""RIR delegated statistics: parsing, bad input, validity periods, URL layout, and discovery
from directory listings served on loopback in each registry layout."""

from __future__ import annotations

import bz2
import datetime as dt
import gzip
import ipaddress
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest

from takedowns.config import load_config
from takedowns.errors import HTTPStatusError
from takedowns.paths import raw_relpath
from takedowns.prefix2as.attribution import attribute_country
from takedowns.qc import MalformedInput
from takedowns.sources.fetch import fetch, mirror_url
from takedowns.sources.fetch_policy import DownloadPolicy
from takedowns.spamtrap.delegations import (
    build_ip_country,
    discover_delegated,
    listing_urls,
    read_delegated,
    registry_months,
)
from takedowns.synthetic.gen_delegations import write_delegated_file
from takedowns.synthetic.server import MirrorServer, serve

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


def test_registry_months_and_the_configured_candidate_directories() -> None:
    config = {"sources": {"rir_delegated": {"registries": ["lacnic", "arin"]}}}
    got = registry_months(config, [dt.date(2008, 11, 17), dt.date(2008, 12, 1)])
    assert [(r, m.isoformat()) for r, m in got] == [
        ("lacnic", "2008-11-01"),
        ("arin", "2008-11-01"),
        ("lacnic", "2008-12-01"),
        ("arin", "2008-12-01"),
    ]
    study = load_config()["sources"]["rir_delegated"]["directories"]
    assert set(study) == {"afrinic", "apnic", "arin", "lacnic", "ripencc"}
    # both layouts public scripts use for RIPE NCC, and LACNIC flat or under archive/
    assert study["ripencc"] == [
        "https://ftp.ripe.net/pub/stats/ripencc/{year}/",
        "https://ftp.ripe.net/ripe/stats/{year}/",
    ]
    assert "https://ftp.lacnic.net/pub/stats/lacnic/" in study["lacnic"]
    assert "https://ftp.lacnic.net/pub/stats/lacnic/archive/{year}/" in study["lacnic"]


# --- discovery from directory listings -----------------------------------------------------

#: The study's candidate directories per registry (year folder, ``archive/<year>/`` or flat):
#: the public download scripts disagree on them.
DIRECTORIES = load_config()["sources"]["rir_delegated"]["directories"]
NOV = dt.date(2008, 11, 1)
Download = Callable[[str], Path]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return tmp_path / "mirror"


@pytest.fixture
def server(tree: Path) -> Iterator[MirrorServer]:
    tree.mkdir()
    with serve(tree) as running:
        yield running


@pytest.fixture
def download(tmp_path: Path, server: MirrorServer) -> Download:
    """Fetch a URL through the loopback mirror into a raw tree, as the jobs do."""
    policy = DownloadPolicy(retries=0, backoff_seconds=0, progress=False)

    def get(url: str) -> Path:
        dest = tmp_path / "raw" / raw_relpath(url)
        fetch(url, dest, mirror=server.url, policy=policy)
        return dest

    return get


def _put(
    tree: Path,
    directory: str,
    registry: str,
    day: dt.date,
    *,
    compression: str = "",
    extended: bool = False,
) -> str:
    """Write one generated file into the served tree; its URL."""
    rng = random.Random(1)
    return write_delegated_file(
        tree, directory, registry, day, rng, compression=compression, extended=extended
    )[0]


@pytest.mark.parametrize(
    ("registry", "directory", "compression", "extended"),
    [
        ("ripencc", "https://ftp.ripe.net/pub/stats/ripencc/2008/", "bz2", False),
        ("ripencc", "https://ftp.ripe.net/ripe/stats/2008/", "gz", False),
        ("lacnic", "https://ftp.lacnic.net/pub/stats/lacnic/", "", False),
        ("lacnic", "https://ftp.lacnic.net/pub/stats/lacnic/archive/2008/", "gz", False),
        ("afrinic", "https://ftp.afrinic.net/pub/stats/afrinic/", "", False),
        ("afrinic", "https://ftp.afrinic.net/pub/stats/afrinic/archive/2008/", "bz2", False),
        ("apnic", "https://ftp.apnic.net/stats/apnic/2008/", "gz", False),
        ("arin", "https://ftp.arin.net/pub/stats/arin/archive/2008/", "", True),
    ],
)
def test_discovery_finds_each_layout(
    tree: Path,
    download: Download,
    registry: str,
    directory: str,
    compression: str,
    extended: bool,
) -> None:
    want = _put(tree, directory, registry, NOV, compression=compression, extended=extended)
    for day in (dt.date(2008, 10, 1), dt.date(2008, 11, 2), dt.date(2008, 12, 1)):
        _put(tree, directory, registry, day, compression=compression, extended=extended)
    other = "apnic" if registry != "apnic" else "arin"
    _put(tree, directory, other, NOV)  # another registry's file in the same folder
    (tree / raw_relpath(want + ".md5")).write_text("0" * 32 + "\n")  # not a delegated file
    found = discover_delegated(registry, dt.date(2008, 11, 17), DIRECTORIES[registry], 45,
                               download)  # fmt: skip
    assert found.chosen is not None and found.chosen.url == want
    assert found.chosen.listing_url == directory and directory in found.read
    candidates = listing_urls(NOV, DIRECTORIES[registry], 45)
    # Every candidate is tried: read where the folder exists (a flat parent too), else absent.
    assert found.read == tuple(u for u in candidates if (tree / raw_relpath(u)).parent.is_dir())
    assert found.absent == tuple(u for u in candidates if u not in found.read)
    assert found.note.startswith(f"{want}: the file nearest 2008-11-01")
    frame, qc = read_delegated(download(want), str(raw_relpath(want)))
    assert qc.note.startswith(f"registry={registry} snapshot=2008-11-01")
    assert frame.is_empty()  # no IPv4 ranges written; asn and ipv6 records only


def test_discovery_takes_the_nearest_file_and_breaks_ties(tree: Path, download: Download) -> None:
    year = "https://ftp.ripe.net/pub/stats/ripencc/{year}/"
    alt = "https://ftp.ripe.net/ripe/stats/{year}/"
    d2008 = year.format(year="2008")
    for day in (dt.date(2008, 10, 30), dt.date(2008, 11, 3)):  # two days either side
        _put(tree, d2008, "ripencc", day, compression="bz2")
    _put(tree, d2008, "ripencc", dt.date(2008, 10, 30), extended=True)
    _put(tree, alt.format(year="2008"), "ripencc", dt.date(2008, 10, 30), compression="gz")
    found = discover_delegated("ripencc", NOV, [year, alt], 45, download)
    assert found.chosen is not None  # the earlier day; of it, the standard .gz file
    assert found.chosen.url == "https://ftp.ripe.net/ripe/stats/2008/delegated-ripencc-20081030.gz"
    # January: the December file of the year before is nearer than the one of the 5th.
    _put(tree, d2008, "ripencc", dt.date(2008, 12, 30), compression="bz2")
    _put(tree, year.format(year="2009"), "ripencc", dt.date(2009, 1, 5), compression="bz2")
    january = discover_delegated("ripencc", dt.date(2009, 1, 1), [year], 45, download)
    assert january.chosen is not None and january.chosen.day == dt.date(2008, 12, 30)
    assert january.read == (d2008, year.format(year="2009"))


def test_discovery_outside_the_window_or_without_listings_finds_nothing(
    tree: Path, download: Download
) -> None:
    flat = "https://ftp.lacnic.net/pub/stats/lacnic/"
    old = _put(tree, flat, "lacnic", dt.date(2008, 9, 1))
    found = discover_delegated("lacnic", NOV, DIRECTORIES["lacnic"], 45, download)
    assert found.chosen is None and found.nearest_outside is not None
    assert found.nearest_outside.url == old
    assert "lacnic 2008-11: no delegated file fewer than 45 days from 2008-11-01" in found.note
    assert f"nearest outside the window: {old}" in found.note
    assert not discover_delegated("lacnic", NOV, DIRECTORIES["lacnic"], 61, download).chosen
    assert discover_delegated("lacnic", NOV, DIRECTORIES["lacnic"], 62, download).chosen
    nothing = discover_delegated("arin", NOV, DIRECTORIES["arin"], 45, download)
    assert nothing.chosen is None and nothing.read == ()
    assert nothing.absent == tuple(listing_urls(NOV, DIRECTORIES["arin"], 45))


def test_discovery_refuses_server_errors_and_pages_that_are_not_listings(
    tree: Path, server: MirrorServer, download: Download
) -> None:
    directory = "https://ftp.apnic.net/stats/apnic/2008/"
    _put(tree, directory, "apnic", NOV, compression="gz")
    server.faults[mirror_url(directory, server.url).removeprefix(server.url)] = [
        ("status", 500, {}, b"")
    ]
    with pytest.raises(HTTPStatusError, match="500"):
        discover_delegated("apnic", NOV, DIRECTORIES["apnic"], 45, download)
    page = tree / raw_relpath("https://ftp.apnic.net/stats/apnic/")
    page.write_text("<!DOCTYPE html><html><body>Service moved</body></html>\n")
    with pytest.raises(MalformedInput, match=r"stats/apnic/: not a directory listing"):
        discover_delegated("apnic", NOV, DIRECTORIES["apnic"], 45, download)


def test_listing_urls_cover_the_years_of_the_window() -> None:
    assert listing_urls(dt.date(2008, 12, 20), DIRECTORIES["apnic"], 45) == [
        "https://ftp.apnic.net/stats/apnic/2008/",
        "https://ftp.apnic.net/stats/apnic/2009/",
        "https://ftp.apnic.net/stats/apnic/",
    ]
    with pytest.raises(ValueError, match="must end with '/'"):
        listing_urls(NOV, ["https://ftp.apnic.net/stats/apnic"], 45)
