"""RouteViews collectors besides route-views2: the configured list and URL layouts, the MRT
variant each collector wrote, and the listing -> selection -> download path on loopback."""

from __future__ import annotations

import bz2
import datetime as dt
import ipaddress
import random
import struct

import polars as pl
import pytest

from takedowns.config import REPO_ROOT, ConfigError, load_config
from takedowns.paths import raw_relpath
from takedowns.routing.listings import (
    archive_of,
    collectors,
    listing_for,
    listings,
    rib_gaps,
    select_from_listing,
    update_period,
)
from takedowns.sources.fetch import fetch
from takedowns.sources.fetch_policy import DownloadPolicy
from takedowns.synthetic import gen_routing
from takedowns.synthetic.generate import generate_mirror
from takedowns.synthetic.server import serve

UTC = dt.UTC
ROOT = "http://archive.routeviews.org"
RV = ["route-views2", "route-views.linx", "route-views.eqix"]
BASE = {
    "route-views2": f"{ROOT}/bgpdata",
    "route-views.linx": f"{ROOT}/route-views.linx/bgpdata",
    "route-views.eqix": f"{ROOT}/route-views.eqix/bgpdata",
}
NOV = dt.date(2008, 11, 1)


def _config(**routeviews: object) -> dict:
    """demo + e2e with three RouteViews collectors, trimmed to McColo as the routing tests do."""
    config = load_config(
        REPO_ROOT / "config" / "demo.yaml",
        REPO_ROOT / "tests" / "e2e.yaml",
        overrides={"sources": {"routeviews": {"collectors": RV, **routeviews}}},
    )
    config["events"] = {"mccolo": config["events"]["mccolo"]}
    config["windows"] = {"pre_days": 2, "post_days": [4]}
    config["routing"] = {
        **config["routing"], "update_window_hours": 1, "rib_hour": 8, "rib_every_days": 1,
    }  # fmt: skip
    return config


def test_each_collector_is_listed_at_its_layout() -> None:
    config = _config()
    assert collectors(config) == [*RV, "rrc00"]
    got = {(x.id, x.url) for x in listings(config) if x.archive == "routeviews"}
    assert got == {
        (f"{c}_{kind}_2008.11", f"{BASE[c]}/2008.11/{sub}/")
        for c in RV
        for kind, sub in (("rib", "RIBS"), ("updates", "UPDATES"))
    }
    linx = listing_for(config, "route-views.linx", "rib", NOV)
    assert linx.raw_path == (
        "data/raw/archive.routeviews.org/route-views.linx/bgpdata/2008.11/RIBS/index.html"
    )
    # a per-collector layout wins over the template, {collector} standing for the name
    other = _config(layouts={"route-views.eqix": "archive/{collector}/mrt"})
    assert listing_for(other, "route-views.eqix", "updates", NOV).url == (
        f"{ROOT}/archive/route-views.eqix/mrt/2008.11/UPDATES/"
    )
    assert (
        listing_for(other, "route-views2", "rib", NOV).url
        == f"{BASE['route-views2']}/2008.11/RIBS/"
    )
    assert [archive_of(c) for c in ("route-views.linx", "route-views4", "rrc00")] == [
        "routeviews",
        "routeviews",
        "ris",
    ]
    assert update_period("route-views.eqix") == dt.timedelta(minutes=15)
    assert update_period("rrc00") == dt.timedelta(minutes=5)
    with pytest.raises(ValueError, match="'oix' is neither a RouteViews collector"):
        update_period("oix")


@pytest.mark.parametrize(
    ("routeviews", "message"),
    [
        (
            {"collectors": ["route-views2", "route_views.linx"]},
            r"config key 'sources\.routeviews\.collectors\[1\]': 'route_views\.linx' does not "
            r"have the expected form",
        ),
        ({"collectors": ["rrc00"]}, r"config key 'sources\.routeviews\.collectors\[0\]': 'rrc00'"),
        ({"collectors": []}, r"config key 'sources\.routeviews\.collectors': \[\] should be non"),
        (
            {"layout": "bgpdata"},  # every collector would share one directory
            r"config key 'sources\.routeviews\.layout': 'bgpdata' does not have the expected form",
        ),
        ({"layout": "{name}/bgpdata"}, r"config key 'sources\.routeviews\.layout': '\{name\}/"),
        ({"layout": "../{collector}"}, r"config key 'sources\.routeviews\.layout': '\.\./"),
        (
            {"layouts": {"route-views.linx": "/linx/bgpdata"}},
            r"config key 'sources\.routeviews\.layouts\.route-views\.linx': '/linx/bgpdata' "
            r"does not have the expected form",
        ),
        (
            {"layouts": {"linx": "linx/bgpdata"}},
            r"config key 'sources\.routeviews\.layouts': 'linx' does not have the expected form",
        ),
        ({"layouts": ["bgpdata"]}, r"config key 'sources\.routeviews\.layouts': \['bgpdata'\]"),
    ],
)
def test_bad_collector_or_layout_names_the_key(routeviews: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        _config(**routeviews)
    assert "\n" not in str(info.value)


def test_collectors_sharing_a_directory_or_an_old_base_url_name_the_key() -> None:
    shared = _config(layouts={"route-views.linx": "bgpdata"})
    with pytest.raises(
        ConfigError,
        match=r"config key 'sources\.routeviews\.layouts\.route-views\.linx': collectors "
        r"route-views2 and route-views\.linx would both be read from "
        r"http://archive\.routeviews\.org/bgpdata/",
    ):
        listings(shared)
    old = _config(url=f"{ROOT}/bgpdata")  # the collector directory, not the archive's root
    with pytest.raises(ConfigError, match=r"config key 'sources\.routeviews\.url': "):
        listings(old)


def test_rib_format_by_collector_and_day() -> None:
    v2 = gen_routing.rib_is_table_dump_v2
    assert not v2("route-views2", dt.date(2009, 1, 31)) and v2("route-views2", dt.date(2009, 2, 1))
    assert v2("route-views4", dt.date(2009, 4, 15)) and v2("route-views.linx", dt.date(2009, 3, 1))
    # still TABLE_DUMP in RouteViews' notice of April 2009
    assert not any(v2(c, dt.date(2009, 12, 31)) for c in ("route-views.eqix", "route-views.wide"))
    assert v2("rrc00", dt.date(2007, 1, 1))


# --------------------------------------------------------------------------------------------
# Three RouteViews collectors and rrc00 served on loopback: listings, selection, downloads


def _records(data: bytes) -> list[tuple[int, int, bytes]]:
    """(type, subtype, body) of every MRT record."""
    out, at = [], 0
    while at < len(data):
        _, kind, subtype, length = struct.unpack_from(">IHHI", data, at)
        out.append((kind, subtype, data[at + 12 : at + 12 + length]))
        at += 12 + length
    assert at == len(data)
    return out


def _ip(raw: bytes) -> str:
    return str(ipaddress.IPv4Address(raw))


def _rib_peers(records: list[tuple[int, int, bytes]]) -> tuple[int, set[str]]:
    """(MRT type, peer addresses) of a RIB: TABLE_DUMP entries, or the TABLE_DUMP_V2 peer
    index table."""
    kinds = {k for k, _, _ in records}
    assert len(kinds) == 1
    if kinds == {12}:  # view, sequence, prefix, length, status, originated, peer IP
        assert {s for _, s, _ in records} == {1}  # AFI IPv4
        return 12, {_ip(body[14:18]) for _, _, body in records}
    _, subtype, body = records[0]
    assert subtype == 1  # PEER_INDEX_TABLE first
    (name_len,) = struct.unpack_from(">H", body, 4)
    at = 6 + name_len
    (count,) = struct.unpack_from(">H", body, at)
    at += 2
    peers = set()
    for _ in range(count):
        flags = body[at]
        ip_len, as_len = (16 if flags & 1 else 4), (4 if flags & 2 else 2)
        peers.add(_ip(body[at + 5 : at + 5 + ip_len]))
        at += 5 + ip_len + as_len
    assert {s for _, s, _ in records[1:]} == {2}  # RIB_IPV4_UNICAST
    return 13, peers


def _update_sessions(records: list[tuple[int, int, bytes]]) -> set[tuple[str, int, str]]:
    """(peer IP, local AS, local IP) of every BGP4MP MESSAGE / MESSAGE_AS4 record."""
    out = set()
    for kind, subtype, body in records:
        assert kind == 16 and subtype in (1, 4)
        width = 2 if subtype == 1 else 4
        local_as = int.from_bytes(body[width : 2 * width], "big")
        at = 2 * width + 4  # interface index, AFI
        out.add((_ip(body[at : at + 4]), local_as, _ip(body[at + 4 : at + 8])))
    return out


@pytest.fixture(scope="module")
def fetched(tmp_path_factory: pytest.TempPathFactory):
    config = _config()
    root = tmp_path_factory.mktemp("mirror")
    scenario = generate_mirror(root, config, background_prefixes=100, include_routing=False)
    with pytest.MonkeyPatch.context() as patch:  # dumps from 13 November on as TABLE_DUMP_V2
        patch.setattr(gen_routing, "RV_TABLE_DUMP_V2_FROM", dt.date(2008, 11, 13))
        truth = gen_routing.generate_routing(
            root, config, scenario, random.Random(11), background_prefixes=20
        )
    work = tmp_path_factory.mktemp("work")
    fast = DownloadPolicy(retries=1, backoff_seconds=0.01, timeout_seconds=10, progress=False)
    parts = []
    with serve(root) as server:
        for listing in listings(config):
            page = work / listing.raw_path
            fetch(listing.url, page, mirror=server.url, policy=fast)
            parts.append(select_from_listing(page, listing, config))
        chosen = pl.concat(parts)
        for url, raw in chosen.select("url", "raw_path").iter_rows():
            fetch(url, work / raw, mirror=server.url, policy=fast)
    return config, root, truth, chosen, work


def test_selection_per_collector_from_the_served_listings(fetched) -> None:
    config, _, truth, chosen, _ = fetched
    assert sorted(set(chosen["collector"])) == sorted([*RV, "rrc00"])
    for collector in RV:
        mine = chosen.filter(pl.col("collector") == collector)
        assert mine["url"].str.starts_with(f"{BASE[collector]}/2008.11/").all(), collector
        assert set(mine["listing_url"]) == {
            f"{BASE[collector]}/2008.11/RIBS/",
            f"{BASE[collector]}/2008.11/UPDATES/",
        }
        ribs = mine.filter(pl.col("kind") == "rib")
        assert ribs.height == 7 and ribs["day"].n_unique() == 7  # one dump a selected day
        for row in ribs.iter_rows(named=True):
            same_day = [t for t in truth.ribs[collector] if t.date() == row["day"]]
            target = dt.datetime.combine(row["day"], dt.time(8), UTC)
            assert row["file_time"] == min(same_day, key=lambda t: (abs(t - target), t))
        ups = mine.filter(pl.col("kind") == "updates")
        assert ups.height == 8  # 2 hours of 15-minute files
        assert ups["file_time"].to_list() == truth.updates[collector]
    # dumps are picked per collector: their irregular times differ between collectors
    times = {c: set(chosen.filter(pl.col("collector") == c)["file_time"]) for c in RV}
    assert times["route-views2"] != times["route-views.linx"] != times["route-views.eqix"]
    qc, missing = rib_gaps(chosen, config)
    assert missing == [] and qc.records_read == 4 * 7


def test_downloads_land_at_each_collectors_raw_path_with_its_mrt_variant(fetched) -> None:
    _, root, truth, chosen, work = fetched
    switch = dt.date(2008, 11, 13)
    for row in chosen.filter(pl.col("collector").is_in(RV)).iter_rows(named=True):
        collector = row["collector"]
        assert row["raw_path"] == f"data/raw/{raw_relpath(row['url'])}"
        got = (work / row["raw_path"]).read_bytes()
        assert got == (root / raw_relpath(row["url"])).read_bytes(), row["url"]
        records = _records(bz2.decompress(got))
        planted = {p.ip for p in truth.peers[collector]}
        if row["kind"] == "rib":
            kind, peers = _rib_peers(records)
            v2 = collector != "route-views.eqix" and row["day"] >= switch
            assert kind == (13 if v2 else 12), row["name"]
            assert peers == planted, row["name"]  # every peer carries the background table
        else:
            sessions = _update_sessions(records)
            local = (
                "128.223.51.102"
                if collector == "route-views2"
                else f"192.0.2.{RV.index(collector) + 1}"
            )
            assert {(ip in planted, asn, lip) for ip, asn, lip in sessions} == {(True, 6447, local)}
    # the three collectors have peers of their own
    peer_sets = [{p.ip for p in truth.peers[c]} for c in RV]
    assert sum(len(s) for s in peer_sets) == len(set().union(*peer_sets)) == 24
    kinds = {
        (c, k == 13)
        for c in RV
        for k in [
            _rib_peers(_records(bz2.decompress((work / r).read_bytes())))[0]
            for r in chosen.filter((pl.col("collector") == c) & (pl.col("kind") == "rib"))[
                "raw_path"
            ]
        ]
    }
    assert kinds == {
        ("route-views2", False),
        ("route-views2", True),
        ("route-views.linx", False),
        ("route-views.linx", True),
        ("route-views.eqix", False),
    }
