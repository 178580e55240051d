"""Routing sources: month listings (real shapes and the loopback mirror's) and selection."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import polars as pl
import pytest

from takedowns.config import REPO_ROOT, load_config
from takedowns.paths import raw_relpath
from takedowns.qc import MalformedInput
from takedowns.routing.listings import (
    Listing,
    listing_for,
    listing_manifest,
    listings,
    parse_listing,
    read_listing,
    rib_gaps,
    select_from_listing,
    select_ribs,
    select_updates,
    update_windows,
)
from takedowns.sources.fetch import fetch
from takedowns.sources.fetch_policy import DownloadPolicy
from takedowns.synthetic.gen_routing import generate_routing
from takedowns.synthetic.generate import generate_mirror
from takedowns.synthetic.server import NOT_FOUND_PAGE, serve

UTC = dt.UTC
RV = "http://archive.routeviews.org/bgpdata"
RIS = "http://data.ris.ripe.net"

# Verbatim rows of real listings (bgpkit-broker test fixtures).
APACHE_BDIX = """<title>Index of /route-views.bdix/bgpdata/2022.10/UPDATES</title>
<tr><td valign="top"><img src="/icons/back.gif" alt="[PARENTDIR]"></td><td><a href="/route-views.bdix/bgpdata/2022.10/">Parent Directory</a>       </td><td>&nbsp;</td><td align="right">  - </td><td>&nbsp;</td></tr>
<tr><td valign="top"><img src="/icons/unknown.gif" alt="[   ]"></td><td><a href="updates.20221001.0000.bz2">updates.20221001.000..&gt;</a></td><td align="right">2022-10-01 00:00  </td><td align="right"> 14 </td><td>&nbsp;</td></tr>
"""  # noqa: E501
RIS_TABLE = """<title>Index of /rrc00/2022.11</title>
<tr><td valign="top">&nbsp;</td><td><a href="bview.20221102.0800.gz">bview.20221102.0800.gz</a></td><td align="right">2022-11-02 10:14  </td><td align="right">1.5G</td><td>&nbsp;</td></tr>
"""  # noqa: E501
RIS_NGINX = """<head><title>Index of /rrc00/2001.01/</title></head>
<h1>Index of /rrc00/2001.01/</h1><hr><pre><a href="../">../</a>
<a href="bview.20010101.0609.gz">bview.20010101.0609.gz</a>                             01-Jan-2001 06:09     12M
<a href="updates.20010131.2236.gz">updates.20010131.2236.gz</a>                           31-Jan-2001 22:36     98K
</pre><hr></body>
"""  # noqa: E501


def test_real_listing_shapes() -> None:
    rv = parse_listing(APACHE_BDIX, f"{RV}/2022.10/UPDATES/")
    assert rv.to_dicts() == [
        {
            "name": "updates.20221001.0000.bz2",  # the link, not the truncated label
            "url": f"{RV}/2022.10/UPDATES/updates.20221001.0000.bz2",
            "listed_time": dt.datetime(2022, 10, 1, 0, 0, tzinfo=UTC),
            "size_bytes": 14,
        }
    ]
    table = parse_listing(RIS_TABLE, f"{RIS}/rrc00/2022.11/")
    assert table["size_bytes"].to_list() == [round(1.5 * 1024**3)]
    nginx = parse_listing(RIS_NGINX, f"{RIS}/rrc00/2001.01/")
    assert nginx["name"].to_list() == ["bview.20010101.0609.gz", "updates.20010131.2236.gz"]
    assert nginx["size_bytes"].to_list() == [12 * 1024**2, 98 * 1024]
    assert nginx["listed_time"][1] == dt.datetime(2001, 1, 31, 22, 36, tzinfo=UTC)
    listing = Listing("rrc00", "ris", "all", dt.date(2001, 1, 1), f"{RIS}/rrc00/2001.01/")
    manifest = listing_manifest(RIS_NGINX, listing)
    assert manifest.select("kind", "file_time").rows() == [
        ("rib", dt.datetime(2001, 1, 1, 6, 9, tzinfo=UTC)),
        ("updates", dt.datetime(2001, 1, 31, 22, 36, tzinfo=UTC)),
    ]
    assert set(manifest["listing_url"]) == {listing.url}


def test_listing_without_the_expected_files_names_its_url() -> None:
    ribs = Listing("route-views2", "routeviews", "rib", dt.date(2008, 11, 1), f"{RV}/2008.11/RIBS/")
    with pytest.raises(
        MalformedInput,
        match=r"bgpdata/2008\.11/RIBS/: the directory listing "
        r"names no rib\.YYYYMMDD\.HHMM\.bz2 files",
    ):
        listing_manifest(NOT_FOUND_PAGE, ribs)
    with pytest.raises(MalformedInput, match=r"2008\.11/RIBS/"):
        listing_manifest(APACHE_BDIX, ribs)  # an UPDATES listing is not a RIBS listing


def _config(**routing: object) -> dict:
    config = load_config(REPO_ROOT / "config" / "demo.yaml", REPO_ROOT / "tests" / "e2e.yaml")
    config["events"] = {"mccolo": config["events"]["mccolo"]}
    config["windows"] = {"pre_days": 2, "post_days": [4]}
    config["routing"] = {
        **config["routing"], "update_window_hours": 1, "rib_hour": 8, "rib_every_days": 1,
        **routing,
    }  # fmt: skip
    return config


def test_listing_urls_from_config() -> None:
    config = _config()
    urls = {(x.collector, x.kind, x.url) for x in listings(config)}
    assert urls == {
        ("route-views2", "rib", f"{RV}/2008.11/RIBS/"),
        ("route-views2", "updates", f"{RV}/2008.11/UPDATES/"),
        ("rrc00", "all", f"{RIS}/rrc00/2008.11/"),
    }
    # a window across a month boundary needs both months' update listings
    config["events"]["mccolo"]["nominal_cutoff"] = "2008-11-30T23:30:00Z"
    months = {x.month for x in listings(config) if x.kind != "rib"}
    assert months == {dt.date(2008, 11, 1), dt.date(2008, 12, 1)}
    assert listing_for(config, "rrc00", "rib", dt.date(2008, 12, 1)).raw_path == (
        "data/raw/data.ris.ripe.net/rrc00/2008.12/index.html"
    )


def _manifest(times: list[str], kind: str, collector: str = "route-views2") -> pl.DataFrame:
    listing = f"{RV}/2008.11/{'RIBS' if kind == 'rib' else 'UPDATES'}/"
    return pl.DataFrame(
        {
            "collector": collector,
            "kind": kind,
            "name": [f"{kind}.{t}" for t in times],
            "url": [f"{listing}{kind}.{t}.bz2" for t in times],
            "file_time": [
                dt.datetime.strptime(t, "%Y%m%d.%H%M").replace(tzinfo=UTC) for t in times
            ],
            "size_bytes": 1,
            "listed_time": None,
            "listing_url": listing,
        },
        schema_overrides={
            "listed_time": pl.Datetime("us", "UTC"),
            "file_time": pl.Datetime("us", "UTC"),
        },
    )


def test_select_ribs_closest_to_the_hour() -> None:
    manifest = _manifest(
        ["20081110.0644", "20081110.1000", "20081111.0600", "20081111.1000", "20081112.2359"],
        "rib",
    )
    days = [dt.date(2008, 11, 10), dt.date(2008, 11, 11), dt.date(2008, 11, 12)]
    chosen = select_ribs(manifest, days, 8)
    # 06:44 is closer to 08:00 than 10:00; 06:00 and 10:00 tie: the earlier wins
    assert chosen["name"].to_list() == [
        "rib.20081110.0644",
        "rib.20081111.0600",
        "rib.20081112.2359",
    ]
    with pytest.raises(
        MalformedInput,
        match=r"bgpdata/2008\.11/RIBS/: no route-views2 RIB "
        r"dump listed for 1 selected day\(s\): 2008-11-13",
    ):
        select_ribs(manifest, [*days, dt.date(2008, 11, 13)], 8)
    assert select_ribs(manifest, [*days, dt.date(2008, 11, 13)], 8, allow_missing=True).height == 3


def test_select_updates_inside_the_windows() -> None:
    times = [f"20081111.{h:02d}{m:02d}" for h in (20, 21, 22, 23) for m in (0, 15, 30, 45)]
    manifest = _manifest(times, "updates")
    t0 = dt.datetime(2008, 11, 11, 22, 0, tzinfo=UTC)
    chosen = select_updates(
        manifest, [("mccolo", t0 - dt.timedelta(hours=1), t0 + dt.timedelta(hours=1))]
    )
    # 20:45 covers 20:45-21:00, so it does not reach into the window
    assert chosen["name"].to_list() == [
        f"updates.20081111.{h}"
        for h in ("2100", "2115", "2130", "2145", "2200", "2215", "2230", "2245")
    ]
    assert set(chosen["event_id"]) == {"mccolo"}
    gap = manifest.filter(~pl.col("name").str.contains(r"\.21\d\d$"))
    with pytest.raises(
        MalformedInput,
        match=r"bgpdata/2008\.11/UPDATES/: no route-views2 update "
        r"files listed for 2008-11-11 21:00\.\.22:00 UTC",
    ):
        select_updates(gap, [("mccolo", t0 - dt.timedelta(hours=1), t0 + dt.timedelta(hours=1))])


# --------------------------------------------------------------------------------------------
# Listings served by the loopback mirror, fetched as the workflow does


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    config = _config()
    root = tmp_path_factory.mktemp("mirror")
    scenario = generate_mirror(root, config, background_prefixes=100, include_routing=False)
    truth = generate_routing(root, config, scenario, random.Random(5), background_prefixes=20)
    raw = tmp_path_factory.mktemp("raw")
    fast = DownloadPolicy(retries=1, backoff_seconds=0.01, timeout_seconds=10)
    pages = {}
    with serve(root) as server:
        for listing in listings(config):
            dest = raw / raw_relpath(listing.url)
            fetch(listing.url, dest, mirror=server.url, policy=fast)
            pages[listing.id] = (listing, dest)
    return config, root, truth, pages


def test_mirror_listings_parse_to_the_files_on_disk(served) -> None:
    _, root, _, pages = served
    for listing, page in pages.values():
        manifest = read_listing(page, listing)
        directory = root / raw_relpath(listing.url).parent
        names = {p.name for p in directory.iterdir() if p.name.endswith((".bz2", ".gz"))}
        assert set(manifest["name"]) == names, listing.url
        for row in manifest.iter_rows(named=True):
            size = (directory / row["name"]).stat().st_size
            assert abs(row["size_bytes"] - size) <= max(0.06 * size, 1024), row
        assert page.read_text().startswith(
            "<html>" if listing.archive == "ris" else "<!DOCTYPE HTML PUBLIC"
        )


def test_selection_from_mirror_listings(served) -> None:
    config, _, truth, pages = served
    chosen = pl.concat([select_from_listing(page, lst, config) for lst, page in pages.values()])
    ribs = chosen.filter(pl.col("kind") == "rib")
    days = sorted(set(ribs["day"]))
    assert len(days) == 7 and ribs.height == 2 * len(days)  # one dump per day and collector
    for row in ribs.iter_rows(named=True):
        same_day = [t for t in truth.ribs[row["collector"]] if t.date() == row["day"]]
        target = dt.datetime.combine(row["day"], dt.time(8), UTC)
        assert row["file_time"] == min(same_day, key=lambda t: (abs(t - target), t))
    ups = chosen.filter(pl.col("kind") == "updates")
    assert ups.filter(pl.col("collector") == "rrc00").height == 24  # 2 h of 5-minute files
    assert ups.filter(pl.col("collector") == "route-views2").height == 8
    ((_, start, end),) = update_windows(config)
    assert ups["file_time"].min() == start and ups["file_time"].max() < end
    assert all(r.startswith("data/raw/") for r in chosen["raw_path"])
    assert chosen["raw_path"][0].endswith(chosen["name"][0])


def test_selected_day_missing_from_a_listing(served, tmp_path: Path) -> None:
    config, _, _, pages = served
    listing, page = next(v for v in pages.values() if v[0].archive == "ris")
    text = page.read_text()
    names = parse_listing(text, listing.url)["name"]
    day = sorted({n[6:14] for n in names if n.startswith("bview.")})[3]
    kept = "\n".join(line for line in text.splitlines() if f"bview.{day}" not in line)
    broken = tmp_path / "index.html"
    broken.write_text(kept)
    # Not an error of the listing: the day is left out, and the study's gap record lists it
    # (qc.max_missing_share decides whether the run goes on).
    chosen = select_from_listing(broken, listing, config)
    lost = dt.datetime.strptime(day, "%Y%m%d").date()
    ribs = chosen.filter(pl.col("kind") == "rib")
    assert lost not in set(ribs["day"]) and ribs.height > 0
    whole = select_from_listing(page, listing, config).filter(pl.col("kind") == "rib")
    assert ribs.height == whole.height - 1
    qc, missing = rib_gaps(ribs, {**config, "sources": {**config["sources"], "ripe_ris": {
        **config["sources"]["ripe_ris"], "collectors": ["rrc00"]}}})  # fmt: skip
    assert f"rrc00 {lost.isoformat()}" in missing and qc.status == "gaps"
