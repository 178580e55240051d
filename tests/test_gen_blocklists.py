"""The synthetic blocklist captures, and the blocklist stage run on them through the mirror.

The generated tree is served on loopback; discovery, the snapshot jobs and the list checks
run as the workflow would run them, and what they find is compared with what was planted
(computed independently with ``ipaddress``): the snapshots and their status, every entry,
the inexact timestamp (redirected), the capture whose bytes are not its CDX digest, the
missing capture, the truncated capture, the planted faults, and
the move of listed space from the watched networks to others after each cut-off.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from takedowns.analysis.duckdb_runner import view_definition
from takedowns.blocklists.snapshots import check_list, process_snapshot
from takedowns.blocklists.wayback import (
    blocklist_sources,
    cdx_query_urls,
    discover,
    merge_manifests,
    payload_digest,
    replay_url,
)
from takedowns.config import REPO_ROOT, load_config
from takedowns.paths import raw_relpath
from takedowns.qc import read_qc
from takedowns.synthetic.gen_blocklists import (
    INEXACT_OFFSET_SECONDS,
    BlocklistTruth,
    lpm_pieces,
    near_routes,
    origin_space,
    routes_on,
)
from takedowns.synthetic.generate import generate_mirror
from takedowns.synthetic.scenario import Scenario, churned_origin
from takedowns.synthetic.server import FAULTS_FILE, serve

ANALYSIS = REPO_ROOT / "analysis"


@pytest.fixture(scope="module")
def generated(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict, Scenario, BlocklistTruth]:
    root = tmp_path_factory.mktemp("mirror")
    config = load_config(REPO_ROOT / "config" / "demo.yaml", REPO_ROOT / "tests" / "e2e.yaml")
    config["download"]["default_retry_after_seconds"] = 0.2
    config["download"]["backoff_seconds"] = 0.01
    scenario = generate_mirror(root, config, background_prefixes=800)
    truth = scenario.blocklists  # generate_mirror writes the blocklist captures too
    return root, config, scenario, truth


@pytest.fixture(scope="module")
def stage(generated, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the blocklist stage over the served tree, as its workflow rules would."""
    root, config, _, _ = generated
    work = tmp_path_factory.mktemp("work")
    raw, sums = work / "raw", work / "raw" / "SHA256SUMS"
    out: dict[str, Any] = {"work": work, "manifests": {}, "cdx_qc": {}, "list_qc": {}}
    with serve(root) as server:
        config = {**config, "mirror": server.url}
        for source in blocklist_sources(config):
            frames = []
            for index in range(len(source.urls)):
                frame, qc = discover(source.name, index, config, raw_root=raw, checksums=sums)
                frames.append(frame)
                out["cdx_qc"][(source.name, index)] = qc
            manifest = merge_manifests(frames)
            out["manifests"][source.name] = manifest
            entries, qcs = [], []
            for sid in manifest["snapshot_id"]:
                e = work / "entries" / source.name / f"{sid}.parquet"
                q = work / "qc" / source.name / f"{sid}.json"
                process_snapshot(manifest, sid, e, q, config, raw_root=raw, checksums=sums)
                entries.append(e)
                qcs.append(q)
            out["list_qc"][source.name] = check_list(
                source.name,
                manifest,
                entries,
                qcs,
                work / "snapshots" / f"{source.name}.parquet",
                work / "qc" / f"{source.name}.json",
                config,
            )
        out["requests"] = server.requests.snapshot()
    out["entries"] = pl.read_parquet(list((work / "entries").rglob("*.parquet")))
    out["snapshots"] = pl.read_parquet(list((work / "snapshots").glob("*.parquet")))
    return out


# --- the generated tree ---------------------------------------------------------------------


def test_cdx_answers_have_the_real_shape_and_names(generated) -> None:
    root, config, _, truth = generated
    assert truth.cdx_urls == cdx_query_urls(config)
    for name, queries in truth.cdx_urls.items():
        for query in queries:
            text = (root / raw_relpath(query)).read_text()
            lines = text.rstrip("\n").split("\n")
            assert lines[0] == '[["timestamp","original","statuscode","digest","length"],'
            assert all(line.startswith('["') for line in lines[1:])
            rows = json.loads(text)[1:]
            assert [r[0] for r in rows] == [c.cdx_timestamp for c in truth.snapshots(name)]
            assert {r[2] for r in rows} == {"200"}


def test_captures_are_stored_where_the_replay_urls_point(generated) -> None:
    root, config, _, truth = generated
    stored = [c for c in truth.captures if c.stored]
    for c in stored:
        assert (root / raw_relpath(replay_url(config, c.timestamp, c.original))).is_file()
    missing = truth.special("missing")
    assert not (
        root / raw_relpath(replay_url(config, missing.timestamp, missing.original))
    ).exists()
    inexact = truth.special("inexact")
    assert inexact.time - dt.datetime.strptime(inexact.cdx_timestamp, "%Y%m%d%H%M%S").replace(
        tzinfo=dt.UTC
    ) == dt.timedelta(seconds=INEXACT_OFFSET_SECONDS)
    assert {c.kind for c in truth.captures} >= {
        "normal",
        "inexact",
        "digest_mismatch",
        "missing",
        "short",
        "host_bits",
        "crlf",
    }
    spellings = {c.original for c in truth.captures if c.list_name == "spamhaus_drop"}
    assert len(spellings) == 2
    faults = json.loads((root / FAULTS_FILE).read_text())
    assert faults == truth.faults and len(faults) == 2


def test_planted_dispersion_uses_routed_unrelated_prefixes(generated) -> None:
    _, _, scenario, truth = generated
    watched = {a for ev in scenario.events.values() for a in ev.prefixes}
    background = dict(scenario.background)
    for event_id, planted in truth.dispersion.items():
        cutoff = scenario.events[event_id].cutoff
        origins = [o for _, o, _ in planted]
        assert len(set(origins)) == len(planted) and not set(origins) & watched
        assert [start for _, _, start in planted] == sorted(start for _, _, start in planted)
        assert all(start > cutoff for _, _, start in planted)
        for prefix, origin, _ in planted:
            assert background[prefix] == str(origin)
            assert all(churned_origin(prefix, str(origin), d) == str(origin) for d in scenario.days)


# --- the stage, end to end through the mirror ------------------------------------------------


def test_every_cdx_row_becomes_one_snapshot(generated, stage) -> None:
    _, _, _, truth = generated
    for name, manifest in stage["manifests"].items():
        assert manifest["snapshot_id"].to_list() == [c.snapshot_id for c in truth.snapshots(name)]
    # both DROP spellings answer with the same captures: merged once
    assert stage["cdx_qc"][("spamhaus_drop", 0)].records_kept == len(
        truth.snapshots("spamhaus_drop")
    )
    assert stage["cdx_qc"][("spamhaus_drop", 1)].records_kept == len(
        truth.snapshots("spamhaus_drop")
    )


def test_statuses_are_the_planted_ones(generated, stage) -> None:
    _, _, _, truth = generated
    snaps = stage["snapshots"]
    for c in (c for name in truth.cdx_urls for c in truth.snapshots(name)):
        row = snaps.filter(pl.col("snapshot_id") == c.snapshot_id).row(0, named=True)
        assert row["status"] == c.expected_status, (c, row["note"])
    short = snaps.filter(pl.col("snapshot_id") == truth.special("short").snapshot_id)
    assert "fewer than 0.5 x the median" in short["note"][0]
    assert stage["list_qc"]["spamhaus_drop"].skipped == {"suspect": 1, "redirected": 1}
    assert stage["list_qc"]["et_rbn"].skipped == {"missing": 1}
    assert stage["list_qc"]["et_rbn_ips"].skipped == {"digest_mismatch": 1}
    assert stage["list_qc"]["et_rbn_block"].status == "ok"


def test_entries_are_exactly_what_each_capture_lists(generated, stage) -> None:
    _, _, _, truth = generated
    entries = stage["entries"]
    checked = 0
    for name in truth.cdx_urls:
        for c in truth.snapshots(name):
            got = entries.filter(pl.col("snapshot_id") == c.snapshot_id)
            expected = set(c.listed) if c.counted else set()
            assert set(got["prefix"]) == expected, (c.kind, c.snapshot_id)
            assert got.height == len(expected)
            for row in got.iter_rows(named=True):
                net = ipaddress.ip_network(row["prefix"])
                assert (row["start_ip"], row["end_ip"]) == (
                    int(net.network_address),
                    int(net.broadcast_address),
                )
            if c.counted:
                assert set(got["snapshot_time"]) == {c.time}
                assert set(got["source_url"]) == {c.original}
            checked += 1
    assert checked == sum(len(truth.snapshots(n)) for n in truth.cdx_urls)


def test_inexact_timestamp_is_redirected_and_not_counted(generated, stage) -> None:
    _, config, _, truth = generated
    inexact = truth.special("inexact")
    row = stage["snapshots"].filter(pl.col("snapshot_id") == inexact.snapshot_id).row(0, named=True)
    assert row["status"] == "redirected" and row["entries"] == 0
    assert row["cdx_timestamp"] == inexact.cdx_timestamp
    assert row["snapshot_time"] == inexact.time
    assert row["served_url"] == replay_url(config, inexact.timestamp, inexact.original)
    assert f"redirected to {inexact.timestamp}" in row["note"]
    work = stage["work"]
    assert (work / "raw" / raw_relpath(row["served_url"])).is_file()
    statuses = [r.status for r in stage["requests"] if inexact.cdx_timestamp in r.path]
    assert statuses == [302]


def test_cdx_digests_are_those_of_the_served_bytes(generated, stage) -> None:
    """Every CDX digest is the base32 SHA-1 of the id_ replay's bytes, but the planted one;
    that one is found and kept apart."""
    root, config, _, truth = generated
    checked = 0
    for name in truth.cdx_urls:
        for c in truth.snapshots(name):
            if not c.stored:
                continue
            served = payload_digest(root / raw_relpath(replay_url(config, c.timestamp, c.original)))
            assert (served == c.digest) == (c.kind != "digest_mismatch"), c
            checked += 1
    assert checked > 10
    odd = truth.special("digest_mismatch")
    row = stage["snapshots"].filter(pl.col("snapshot_id") == odd.snapshot_id).row(0, named=True)
    assert row["status"] == "digest_mismatch" and row["entries"] == 0
    assert f"CDX digest {odd.digest}" in row["note"]


def test_planted_faults_were_met_and_overcome(generated, stage) -> None:
    _, _, _, truth = generated
    for path, faults in truth.faults.items():
        seen = [r.status for r in stage["requests"] if r.path == path]
        if faults[0] == ["wayback_429"]:
            assert seen == [429, 429, 200]
        else:
            assert seen == [200, 200]  # the false capture, then the capture
    qc = stage["snapshots"].filter(pl.col("note").str.contains("without Memento-Datetime"))
    assert qc.height == 1 and qc["status"][0] == "ok"


def test_host_bits_and_crlf_are_counted(generated, stage) -> None:
    _, _, _, truth = generated
    snaps = stage["snapshots"]
    host = snaps.filter(pl.col("snapshot_id") == truth.special("host_bits").snapshot_id)
    assert host["host_bits_normalized"].to_list() == [1]
    crlf = snaps.filter(pl.col("snapshot_id") == truth.special("crlf").snapshot_id)
    assert "lines ended in CRLF" in crlf["note"][0] and crlf["status"][0] == "ok"


def test_qc_records_name_their_files(generated, stage) -> None:
    work = stage["work"]
    for path in (work / "qc").rglob("*.json"):
        qc = read_qc(path)
        if qc.stage == "blocklists":
            assert qc.source_file.startswith("web.archive.org/web/")
            assert qc.records_read == qc.records_kept + qc.records_skipped


# --- the analysis: the planted move of listed space ------------------------------------------


def _stand_in_attribution(entries: pl.DataFrame, scenario: Scenario) -> pl.DataFrame:
    """A stand-in for the shared attribution: each entry's addresses per origin AS on the
    snapshot day, by longest-prefix match over the scenario's prefix-to-AS table (None: no
    route); one row per (entry, origin)."""
    rows = []
    for (day,), group in entries.group_by(pl.col("snapshot_time").dt.date()):
        routes = routes_on(day, scenario)
        for e in group.iter_rows(named=True):
            net = ipaddress.ip_network(e["prefix"])
            per_origin: dict[int | None, int] = {}
            for piece, origin in lpm_pieces(net, near_routes(net, routes)):
                per_origin[origin] = per_origin.get(origin, 0) + piece.num_addresses
            for origin, addresses in per_origin.items():
                rows.append(
                    {
                        k: e[k]
                        for k in (
                            "list",
                            "snapshot_id",
                            "snapshot_time",
                            "prefix",
                            "start_ip",
                            "end_ip",
                        )
                    }
                    | {"origin_asn": origin, "addresses": addresses}
                )
    return pl.DataFrame(
        rows,
        schema={
            **{
                k: entries.schema[k]
                for k in ("list", "snapshot_id", "snapshot_time", "prefix", "start_ip", "end_ip")
            },
            "origin_asn": pl.UInt32,
            "addresses": pl.UInt64,
        },
    )


@pytest.fixture(scope="module")
def analysis(generated, stage) -> tuple[pl.DataFrame, pl.DataFrame]:
    """blocklist_space.sql and blocklist_watched_share.sql over the stand-in attribution."""
    from takedowns.study import watched_asns_frame

    _, config, scenario, _ = generated

    con = duckdb.connect(":memory:")
    try:
        for name, frame in (
            ("blocklist_attribution", _stand_in_attribution(stage["entries"], scenario)),
            ("blocklist_snapshots", stage["snapshots"]),
            ("watched_asns", watched_asns_frame(config)),
        ):
            con.register(f"{name}_frame", frame.to_arrow())
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM {name}_frame")
        con.execute(view_definition(ANALYSIS / "views.sql", "blocklist_attribution_counted"))
        space = con.sql((ANALYSIS / "blocklist_space.sql").read_text()).pl()
        share = con.sql((ANALYSIS / "blocklist_watched_share.sql").read_text()).pl()
    finally:
        con.close()
    utc = pl.col("snapshot_time").dt.convert_time_zone("UTC")
    return space.with_columns(utc), share.with_columns(utc)


def test_listed_space_per_origin_matches_the_truth(generated, analysis) -> None:
    _, _, scenario, truth = generated
    space, _ = analysis
    ok = [c for n in truth.cdx_urls for c in truth.snapshots(n) if c.expected_status == "ok"]
    assert set(space["snapshot_id"]) == {c.snapshot_id for c in ok}
    for c in ok:
        expected = {
            o: a
            for o, a in origin_space(c.listed, c.time.date(), scenario).items()
            if o is not None
        }
        rows = space.filter(
            (pl.col("snapshot_id") == c.snapshot_id) & pl.col("origin_asn").is_not_null()
        )
        got = dict(zip(rows["origin_asn"], rows["addresses"], strict=True))
        assert got == expected, c.snapshot_id


def test_listed_space_moves_from_watched_networks_to_others(generated, analysis) -> None:
    _, _, scenario, truth = generated
    space, share = analysis
    drop = share.filter(pl.col("list") == "spamhaus_drop")
    for event_id, planted in scenario.events.items():
        rows = drop.filter(pl.col("event_id") == event_id).sort("snapshot_time")
        before = rows.filter(pl.col("snapshot_time") < planted.cutoff)
        long_after = rows.filter(pl.col("snapshot_time") >= planted.cutoff + dt.timedelta(days=3))
        assert before.height and long_after.height
        assert (before["watched_share"] > 0).all()
        assert (long_after["watched_addresses"] == 0).all()
        # the dispersion: unrelated ASNs gain listed space after the cut-off
        gainers = {o for _, o, _ in truth.dispersion[event_id]}
        per_origin = space.filter(
            (pl.col("list") == "spamhaus_drop") & pl.col("origin_asn").is_in(list(gainers))
        )
        pre = per_origin.filter(pl.col("snapshot_time") < planted.cutoff)
        post = per_origin.filter(pl.col("snapshot_time") >= planted.cutoff + dt.timedelta(days=3))
        assert pre.height == 0
        assert post["origin_asn"].n_unique() >= 2 and (post["share"] > 0).all()
        # and it grows: from nothing at the cut-off to more with each step of the dispersion
        after = rows.filter(pl.col("snapshot_time") >= planted.cutoff).select("snapshot_id")
        totals = after.join(
            per_origin.group_by("snapshot_id").agg(pl.col("addresses").sum()),
            on="snapshot_id",
            how="left",
            maintain_order="left",
        )["addresses"].fill_null(0)
        assert totals.to_list() == sorted(totals.to_list())
        assert totals[-1] > totals[0]


# --------------------------------------------------------------------------------------------
# A planted displacement (generate_mirror(displacement="one" | "many"))


def test_plan_displacement_one_and_many() -> None:
    from takedowns.synthetic.generate import (
        GAINER_ASN_BASE,
        PlantedDisplacement,
        plan_displacement,
        published_prefixes,
    )

    rbn = published_prefixes("rbn", [40989])  # 81.95.144.0/21 and 81.95.154.0/23: 2560
    one = plan_displacement(0, "rbn", rbn, "one", 0.5)
    assert isinstance(one, PlantedDisplacement)
    assert one.target_addresses == 2560 and one.target_spam_per_day == 40
    (gainer,) = one.gainers
    assert gainer.asn == 42672 and gainer.successor  # the first successor in events.csv
    assert gainer.prefixes == ("5.0.0.0/22", "5.0.4.0/24")  # 5 /24s, as two blocks
    assert one.gained_addresses == 1280 and one.gained_spam_per_day == 20
    many = plan_displacement(2, "mccolo", {26780: ("198.18.0.0/16",)}, "many", 0.5)
    assert many is not None and len(many.gainers) == 10
    assert [g.asn for g in many.gainers] == [GAINER_ASN_BASE + 32 + j for j in range(10)]
    assert {g.addresses for g in many.gainers} == {256 * 13}  # 32768 / 10 -> 13 /24s each
    assert {g.spam_per_day for g in many.gainers} == {2}
    nets = [ipaddress.ip_network(p) for g in many.gainers for p in g.prefixes]
    assert sum(n.num_addresses for n in nets) == 10 * 256 * 13
    assert all(n.subnet_of(ipaddress.ip_network("5.32.0.0/12")) for n in nets)
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])
    assert plan_displacement(0, "rbn", rbn, "none", 0.5) is None
    with pytest.raises(ValueError, match="displacement"):
        plan_displacement(0, "rbn", rbn, "some", 0.5)


@pytest.fixture(scope="module")
def displaced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Scenario]:
    root = tmp_path_factory.mktemp("displaced")
    config = load_config(REPO_ROOT / "config" / "demo.yaml", REPO_ROOT / "tests" / "e2e.yaml")
    scenario = generate_mirror(
        root, config, background_prefixes=800, include_routing=False, displacement="one"
    )
    return root, config, scenario


def test_listed_space_moves_to_the_successor(displaced) -> None:
    """The stored DROP captures list each gainer's prefixes from the cut-off on, never before;
    the prefix-to-AS files route them to the gainer, which then holds the planted space."""
    from takedowns.blocklists.snapshots import parse_blocklist
    from takedowns.prefix2as import caida as prefix2as

    root, config, scenario = displaced
    truth = scenario.blocklists
    rbn = scenario.events["rbn"].displacement
    assert rbn is not None and [g.asn for g in rbn.gainers] == [42672]
    drop = [c for c in truth.snapshots("spamhaus_drop") if c.expected_status == "ok"]
    for event_id, planted in scenario.events.items():
        moved = planted.displacement
        assert moved is not None and len(moved.gainers) == 1
        (gainer,) = moved.gainers
        assert truth.gained[event_id] == [(p, gainer.asn, planted.cutoff) for p in gainer.prefixes]
        assert 0 < gainer.addresses <= moved.target_addresses
        assert gainer.addresses == pytest.approx(0.5 * moved.target_addresses, abs=256)
        before = after = 0
        for c in drop:
            body = (root / raw_relpath(replay_url(config, c.timestamp, c.original))).read_bytes()
            listed = set(parse_blocklist(body, "drop", c.snapshot_id).entries["prefix"])
            if c.time < planted.cutoff:
                assert not listed & set(gainer.prefixes), c.snapshot_id
                before += 1
            else:
                assert set(gainer.prefixes) <= listed, c.snapshot_id
                space = origin_space(c.listed, c.time.date(), scenario)
                assert space[gainer.asn] == gainer.addresses
                after += 1
        assert before and after, event_id
    # the served prefix-to-AS table of a day routes every gainer prefix to its gainer
    day = scenario.days[-1]
    path = next(root.rglob(f"*{day:%Y%m%d}-*.pfx2as.gz"))
    table, _ = prefix2as.read_daily_table(path, path.name)
    routed = dict(zip(table["prefix"], table["origins"].to_list(), strict=True))
    for planted in scenario.events.values():
        for g in planted.displacement.gainers:
            assert all(routed[p] == [g.asn] for p in g.prefixes)
