"""The routing SQL (analysis/routing_*.sql) on a generated archive with a planted takedown:
listings -> selection -> MRT normalization -> DuckDB, compared with what was planted."""

from __future__ import annotations

import datetime as dt
import ipaddress
import random
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import polars as pl
import pytest

from takedowns.analysis.duckdb_runner import view_definition
from takedowns.asrel import providers_of, read_as_relationships
from takedowns.config import REPO_ROOT, load_config, schema_defaults
from takedowns.paths import raw_relpath
from takedowns.prefix2as import caida as prefix2as
from takedowns.qc import read_qc
from takedowns.routing.listings import (
    listing_by_id,
    listings,
    read_selection,
    select_from_listing,
    sql_parameters,
    write_selection,
)
from takedowns.routing.mrt import normalize_routing_file
from takedowns.study import watched_asns_frame
from takedowns.synthetic.gen_routing import RoutingTruth, generate_routing
from takedowns.synthetic.generate import generate_mirror
from takedowns.synthetic.server import list_entries, listing_page
from takedowns.tables import write_parquet

ANALYSIS = REPO_ROOT / "analysis"
UTC = dt.UTC
PARAMS = {"pre_days": 3, "post_days": 5, "update_window_hours": 1, "episode_gap_hours": 36}

# The views of analysis/views.sql the routing queries read (paths relative to the run
# directory there; made absolute here).
VIEWS = (
    "watched_asns",
    "prefix_origin",
    "as_relationships",
    "routing_elements",
    "routing_peers",
    "event_watch",
    "event_prefixes",
    "event_routing_rows",
)


def connect(workdir: Path, **params: float) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    for name in VIEWS:
        sql = view_definition(ANALYSIS / "views.sql", name)
        con.execute(sql.replace("'data/processed/", f"'{workdir}/data/processed/"))
    for key, value in {**PARAMS, **params}.items():
        con.execute(f"SET VARIABLE {key} = {value}")
    return con


def query(con: duckdb.DuckDBPyConnection, name: str) -> pl.DataFrame:
    return con.sql((ANALYSIS / f"{name}.sql").read_text()).pl()


def _prefix_origin(root: Path, config: dict, processed: Path) -> None:
    """The skeleton's prefix2as stage on the generated CAIDA files."""
    base = config["sources"]["caida_prefix2as"]["url"]
    log = root / raw_relpath(f"{base}/pfx2as-creation.log")
    manifest = prefix2as.parse_creation_log(log, base)
    daily = []
    for row in manifest.iter_rows(named=True):
        frame, _ = prefix2as.read_daily_table(root / raw_relpath(row["url"]), row["file"])
        path = processed / "prefix2as" / f"{row['day']}.parquet"
        write_parquet(frame, path)
        daily.append(path)
    prefix2as.build_episodes(daily, processed / "prefix_origin.parquet", max_gap_days=3)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RoutingTruth, dict]:
    config = load_config(REPO_ROOT / "config" / "demo.yaml", REPO_ROOT / "tests" / "e2e.yaml")
    config["events"] = {"mccolo": config["events"]["mccolo"]}
    config["windows"] = {"pre_days": PARAMS["pre_days"], "post_days": [PARAMS["post_days"]]}
    config["routing"] = {**schema_defaults()["routing"], "update_window_hours": 1, "rib_hour": 8}
    root = tmp_path_factory.mktemp("mirror")
    work = tmp_path_factory.mktemp("work")
    processed = work / "data" / "processed"
    scenario = generate_mirror(root, config, background_prefixes=200, include_routing=False)
    truth = generate_routing(root, config, scenario, random.Random(2008))
    _prefix_origin(root, config, processed)
    for path in root.rglob("*.as-rel.txt.bz2"):
        frame, _ = read_as_relationships(path, path.name)
        write_parquet(frame, processed / "as_relationships" / f"{path.name[:6]}.parquet")
    write_parquet(watched_asns_frame(config), processed / "watched_asns.parquet")
    manifests = []
    for listing in listings(config):  # as the checkpoint per listing does
        assert listing_by_id(config, listing.id) == listing
        directory = root / raw_relpath(listing.url).parent
        page = work / "listings" / f"{listing.id}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        split = urlsplit(listing.url)
        page.write_text(listing_page(split.netloc, split.path, list_entries(directory)))
        manifest = processed / "manifests" / "routing" / f"{listing.id}.csv"
        write_selection(select_from_listing(page, listing, config), manifest)
        manifests.append(manifest)
    for row in read_selection(manifests).iter_rows(named=True):  # one job per raw file
        target = f"{row['collector']}/{row['name']}"
        qc = normalize_routing_file(
            root / raw_relpath(row["url"]),
            processed / "routing" / f"{target}.parquet",
            processed / "routing_peers" / f"{target}.parquet",
            processed / "qc" / "routing" / f"{target}.json",
            collector=row["collector"],
            source_file=row["raw_path"],
            config=config,
            prefix_origin=processed / "prefix_origin.parquet",
        )
        assert qc == read_qc(processed / "qc" / "routing" / f"{target}.json")
        assert qc.status == "ok" and not qc.skipped.get("records_malformed")
    assert sql_parameters(config) == {k: float(v) for k, v in PARAMS.items()}
    return work, truth, config


def test_upstream_episodes(study) -> None:
    work, truth, _ = study
    table = query(connect(work), "routing_upstreams")
    ev = truth.events["mccolo"]
    t0 = ev.nominal_cutoff
    before = table.filter(pl.col("first_seen") < t0)
    assert set(before["upstream_asn"]) == {1299, 3549, 6939} == ev.upstreams()[26780]
    assert set(before["relationship"]) == {"provider"}
    assert (before["last_seen"] <= ev.cutoff).all()
    assert (before["last_seen"] >= ev.cutoff - dt.timedelta(hours=1)).all()
    planted = {e.upstream: len(e.peers) for e in truth.episodes if e.end == ev.cutoff}
    assert dict(zip(before["upstream_asn"], before["peers"], strict=True)) == planted
    after = table.filter(pl.col("first_seen") > ev.cutoff)
    assert after.height == 1
    row = after.row(0, named=True)
    episode = next(e for e in truth.episodes if e.start > ev.cutoff)
    assert (row["watched_asn"], row["upstream_asn"], row["relationship"]) == (
        26780,
        1299,
        "provider",
    )
    assert episode.start <= row["first_seen"] <= row["last_seen"] < episode.end
    assert row["duration_hours"] <= 12 and row["relative_to_cutoff"] == "after"
    assert row["peers"] == len(episode.peers) == 8
    assert 72 <= row["first_seen_hours_from_nominal_cutoff"] <= 110


def test_rehoming(study) -> None:
    work, truth, _ = study
    table = query(connect(work), "routing_rehoming")
    ev = truth.events["mccolo"]
    assert set(table["pre_prefix"]) == set(ev.prefixes[26780])
    assert table["announced_after"].all()
    moved = table.filter(
        (pl.col("post_prefix") == ev.move.prefix) & (pl.col("post_origin") == ev.move.new_origin)
    )
    assert moved.height == 2  # as the same prefix, and as a more specific of the /21
    assert set(moved["relation"]) == {"same", "more_specific"}
    assert not moved["origin_is_watched"].any()
    assert {d.date() for d in moved["first_seen"]} == {ev.move.from_day}
    returned = table.filter(
        pl.col("origin_is_watched") & (pl.col("first_seen") > ev.cutoff + dt.timedelta(days=1))
    )
    episode = next(e for e in truth.episodes if e.start > ev.cutoff)
    assert returned.height > 0
    assert (returned["first_seen"] >= episode.start).all()
    assert (returned["last_seen"] < episode.end).all()


def test_measured_cutoff(study) -> None:
    work, truth, _ = study
    table = query(connect(work), "routing_cutoff")
    assert table.height == 1
    row = table.row(0, named=True)
    ev = truth.events["mccolo"]
    assert abs(row["measured_cutoff"] - ev.cutoff) <= dt.timedelta(minutes=5)
    assert row["measured_cutoff"] == ev.cutoff  # the planted last announcement itself
    assert row["nominal_cutoff"] == ev.nominal_cutoff
    assert row["minutes_from_nominal"] == round((ev.cutoff - ev.nominal_cutoff).seconds / 60, 2)
    peers = sum(len(p) for p in truth.peers.values())
    assert row["peers_seen"] == peers == 14
    assert row["peers_lost"] == len(ev.withdrawn_at) == peers - len(ev.stale_peers)
    assert row["share_peers_lost"] == pytest.approx(12 / 14)
    losses = sorted(ev.withdrawn_at.values())
    assert row["majority_lost_at"] == losses[peers // 2]
    assert row["first_withdrawal"] == losses[0] and row["last_loss"] == losses[-1]


def _slash24(prefixes: list[str]) -> float:
    nets = ipaddress.collapse_addresses(ipaddress.ip_network(p) for p in prefixes)
    return sum(n.num_addresses for n in nets) / 256


def test_visibility(study) -> None:
    work, truth, _ = study
    table = query(connect(work), "routing_visibility")
    ev = truth.events["mccolo"]
    ribs = table.filter(pl.col("resolution") == "rib")
    t0 = ev.nominal_cutoff
    span = (t0 - dt.timedelta(days=PARAMS["pre_days"]), t0 + dt.timedelta(days=PARAMS["post_days"]))
    expected_snapshots = set()
    for collector, times in truth.ribs.items():
        for day in sorted({t.date() for t in times}):
            target = dt.datetime.combine(day, dt.time(8), UTC)
            chosen = min((t for t in times if t.date() == day), key=lambda t: (abs(t - target), t))
            if span[0] <= chosen < span[1]:
                expected_snapshots.add((collector, chosen))
    assert set(zip(ribs["collector"], ribs["time"], strict=True)) == expected_snapshots
    for row in ribs.iter_rows(named=True):
        when = row["time"]
        seeing = truth.visible_peers("mccolo", row["collector"], when)
        assert row["peers_seeing"] == len(seeing), row
        assert row["peers_total"] == len(truth.peers[row["collector"]])
        moved = ev.move.prefix if when.date() >= ev.move.from_day else None
        expected = [p for p in ev.prefixes[26780] if p != moved] if seeing else []
        assert row["prefixes"] == len(expected)
        assert row["slash24_equivalents"] == _slash24(expected)
        assert row["share_peers"] == pytest.approx(len(seeing) / row["peers_total"])
    hours = table.filter(pl.col("resolution") == "hour")
    assert hours.height == 4  # two hours, two collectors
    for row in hours.iter_rows(named=True):
        end = row["time"] + dt.timedelta(hours=1)
        assert row["peers_seeing"] == len(truth.visible_peers("mccolo", row["collector"], end))
    cut = hours.filter(pl.col("time") == ev.nominal_cutoff)
    assert cut["withdrawals"].sum() == len(ev.withdrawn_at) * 3  # 3 prefixes per withdrawal


@pytest.mark.realdata
def test_real_relationships_classify_mccolo_upstreams(realdata: Path, tmp_path: Path) -> None:
    rel, _ = read_as_relationships(
        realdata / "routing" / "20080101.as-rel.txt", "20080101.as-rel.txt"
    )
    assert providers_of(rel, 26780) == [1299, 3549, 6939]
    processed = tmp_path / "data" / "processed"
    write_parquet(rel, processed / "as_relationships" / "200801.parquet")
    watched = pl.DataFrame(
        {
            "event_id": ["mccolo"],
            "event_name": ["McColo"],
            "asn": [26780],
            "nominal_cutoff": [dt.datetime(2008, 1, 20, tzinfo=UTC)],
        },
        schema_overrides={"asn": pl.UInt32, "nominal_cutoff": pl.Datetime("us", "UTC")},
    )
    write_parquet(watched, processed / "watched_asns.parquet")
    upstreams = [3549, 6939, 1299, 7575, 64512]
    rows = pl.DataFrame(
        {
            "time": [dt.datetime(2008, 1, 10, i, tzinfo=UTC) for i in range(len(upstreams))],
            "kind": "rib",
            "peer_ip": "203.0.113.1",
            "origins": [[26780]] * len(upstreams),
            "upstream_asn": upstreams,
            "collector": "route-views2",
            "source_file": "rib.20080110.0000.bz2",
        },
        schema_overrides={
            "origins": pl.List(pl.UInt32),
            "upstream_asn": pl.UInt32,
            "time": pl.Datetime("us", "UTC"),
        },
    )
    write_parquet(rows, processed / "routing" / "route-views2" / "rib.parquet")
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    study = schema_defaults()
    for name, value in {"pre_days": 90, "post_days": 90, **study["routing"]}.items():
        if name in ("pre_days", "post_days", "episode_gap_hours"):
            con.execute(f"SET VARIABLE {name} = ?", [float(value)])
    for view in ("watched_asns", "as_relationships", "routing_elements"):
        path = {
            "watched_asns": "watched_asns.parquet",
            "as_relationships": "as_relationships/*.parquet",
            "routing_elements": "routing/*/*.parquet",
        }[view]
        con.execute(f"CREATE VIEW {view} AS SELECT * FROM read_parquet('{processed}/{path}')")
    table = query(con, "routing_upstreams")
    assert dict(zip(table["upstream_asn"], table["relationship"], strict=True)) == {
        3549: "provider",
        6939: "provider",
        1299: "provider",
        7575: "peer",
        64512: "unknown",
    }
