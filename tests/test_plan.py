"""``make plan``: counts, bytes and costs of a run, against a generated mirror on loopback.

The expectations are computed from the generated tree itself (its files and their sizes,
picked with the study's selection functions applied to the tree, not to listings fetched over
HTTP) and from ``benchmarks/rates.yaml``; the plan gets them by reading the listings served on
loopback, as the workflow does.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from takedowns import plan
from takedowns.blocklists.wayback import blocklist_sources, cdx_query_url
from takedowns.config import REPO_ROOT, load_config
from takedowns.paths import raw_relpath
from takedowns.prefix2as.caida import read_creation_log, select_snapshots
from takedowns.rates import load_costs
from takedowns.routing import listings as rs
from takedowns.sources.registry import as_relationships_url, prefix2as_creation_log_url
from takedowns.spamtrap.delegations import (
    DELEGATED_NAME,
    ListedFile,
    listing_urls,
    pick_nearest,
    registry_months,
)
from takedowns.study import selected_days, selected_months, study_period
from takedowns.synthetic.generate import generate_mirror
from takedowns.synthetic.server import NGINX_LISTING_HOSTS, apache_size, nginx_size, serve

CONFIGS = (REPO_ROOT / "config" / "demo.yaml", REPO_ROOT / "tests" / "e2e.yaml")
COSTS = load_costs()
MIB = 1 << 20


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("mirror")
    config = load_config(*CONFIGS)
    generate_mirror(root, config, background_prefixes=300)
    return root, config


@pytest.fixture(scope="module")
def planned(
    tmp_path_factory: pytest.TempPathFactory, mirror: tuple[Path, dict[str, Any]]
) -> tuple[Path, dict[tuple[str, str], dict[str, str]], list[dict[str, str]]]:
    root, _ = mirror
    work = tmp_path_factory.mktemp("work")
    configs = [str(p) for p in CONFIGS]
    with serve(root) as server, contextlib.chdir(work):
        status = plan.main(["--config", *configs, "--mirror", server.url])
    assert status == 0
    return work, read_rows(work / "results" / "plan.csv"), read_csv(work / "results/plan_shape.csv")


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def read_rows(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    return {(r["source"], r["stage"]): r for r in read_csv(path)}


# --- what the tree holds, picked as the workflow picks ------------------------------------------


def tree_file(root: Path, url: str) -> Path:
    return root / raw_relpath(url)


def listed_size(size: int, url: str) -> int:
    """The size a listing page of ``url``'s host shows for a file of ``size`` bytes, read back
    as a number (the listings round: ``5.6K``, ``12M``; 1024-based)."""
    host = url.split("/")[2]
    shown = (nginx_size if host in NGINX_LISTING_HOSTS else apache_size)(size).strip()
    match = re.fullmatch(r"([\d.]+)([KMG]?)", shown)
    assert match, shown
    return round(float(match[1]) * 1024 ** "_KMG".index(match[2] or "_"))


def routing_expected(root: Path, config: dict[str, Any]) -> pl.DataFrame:
    """The dumps and update files the study selects, from the files in the tree."""
    rows = []
    for listing in rs.listings(config):
        folder = tree_file(root, listing.url).parent
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            match = rs.FILE_RE.match(path.name)
            if not match:
                continue
            rows.append(
                {
                    "collector": listing.collector,
                    "kind": "updates" if match["prefix"] == "updates" else "rib",
                    "name": path.name,
                    "url": listing.url + path.name,
                    "file_time": dt.datetime.strptime(
                        match["date"] + match["hhmm"], "%Y%m%d%H%M"
                    ).replace(tzinfo=dt.UTC),
                    "size_bytes": path.stat().st_size,
                    "listed_time": dt.datetime(2009, 1, 1, tzinfo=dt.UTC),
                    "listing_url": listing.url,
                }
            )
    manifest = pl.DataFrame(rows).cast(rs.MANIFEST_SCHEMA).unique("url")
    settings = config["routing"]
    ribs = rs.select_ribs(
        manifest, rs.rib_days(config), float(settings["rib_hour"]), allow_missing=True
    )
    updates = rs.select_updates(manifest, rs.update_windows(config))
    columns = ["collector", "kind", "url", "size_bytes"]
    return pl.concat([ribs.select(columns), updates.select(columns)]).unique("url")


def archive_rows(frame: pl.DataFrame, archive: str, kind: str) -> pl.DataFrame:
    return frame.filter(
        (pl.col("kind") == kind)
        & pl.col("collector").map_elements(rs.archive_of, return_dtype=pl.String).eq(archive)
    )


def delegated_expected(root: Path, config: dict[str, Any]) -> list[str]:
    """The delegated file each registry month takes, from the files in the tree."""
    src = config["sources"]["rir_delegated"]
    chosen = []
    for registry, month in registry_months(config, selected_months(config)):
        candidates = listing_urls(month, src["directories"][registry], src["max_age_days"])
        files = []
        for url in candidates:
            folder = tree_file(root, url).parent
            for path in folder.iterdir() if folder.is_dir() else []:
                match = DELEGATED_NAME.match(path.name)
                if path.is_file() and match and match["registry"] == registry:
                    day = dt.datetime.strptime(match["date"], "%Y%m%d").date()
                    ext = match["ext"] or ""
                    files.append(
                        ListedFile(url + path.name, day, bool(match["extended"]), ext, url)
                    )
        inside, _ = pick_nearest(files, month, src["max_age_days"], candidates)
        if inside is not None:
            chosen.append(inside.url)
    return sorted(set(chosen))


def captures_expected(root: Path, config: dict[str, Any]) -> list[int]:
    """The CDX ``length`` of every capture of every list inside the study period, one per
    (timestamp, digest) of a list, read from the CDX answers in the tree."""
    start, end = study_period(config)
    lengths = []
    for source in blocklist_sources(config):
        seen = {}
        for url in source.urls:
            answer = json.loads(tree_file(root, cdx_query_url(config, url)).read_text())
            header = answer[0]
            for row in answer[1:]:
                r = dict(zip(header, row, strict=True))
                day = dt.datetime.strptime(r["timestamp"], "%Y%m%d%H%M%S").date()
                if r["statuscode"] == "200" and start <= day <= end:
                    seen.setdefault((r["timestamp"], r["digest"][:8].lower()), int(r["length"]))
        lengths += seen.values()
    return lengths


def hours(seconds: float) -> float:
    return seconds / 3600.0


def download_startup(files: int) -> float:
    return files * COSTS["download"].startup_seconds


# --- the tests -------------------------------------------------------------------------------


def test_routing_counts_and_bytes_are_those_of_the_selected_files(mirror, planned) -> None:
    root, config = mirror
    _, rows, _ = planned
    expected = routing_expected(root, config)
    normalize = COSTS["routing_normalize"]
    for source, archive in (("routeviews", "routeviews"), ("ripe_ris", "ris")):
        for kind in ("rib", "updates"):
            files = archive_rows(expected, archive, kind)
            row = rows[(source, kind)]
            assert files.height > 0
            assert int(row["files"]) == files.height, (source, kind)
            exact = files["size_bytes"].to_list()
            listed = [listed_size(s, u) for s, u in zip(exact, files["url"], strict=True)]
            assert int(row["bytes"]) == sum(listed), (source, kind)
            assert abs(int(row["bytes"]) - sum(exact)) <= 0.05 * sum(exact)
            assert row["bytes_source"] == "listing"
            assert int(row["raw_disk_bytes"]) == sum(listed)
            core = sum(normalize.core_seconds(b / MIB) for b in listed) + download_startup(
                len(listed)
            )
            assert float(row["core_hours"]) == pytest.approx(hours(core), rel=1e-5)


def test_listings_are_kept_for_the_run(mirror, planned) -> None:
    _, config = mirror
    work, rows, _ = planned
    ledger = (work / "data" / "raw" / "SHA256SUMS").read_text(encoding="utf-8")
    pages = [x.url for x in rs.listings(config)] + [prefix2as_creation_log_url(config)]
    for url in pages:
        rel = str(raw_relpath(url))
        assert (work / "data" / "raw" / rel).is_file(), url
        assert f"  {rel}\n" in ledger, url
    n_rv = sum(1 for x in rs.listings(config) if x.archive == "routeviews")
    assert int(rows[("routeviews", "listing")]["files"]) == n_rv
    assert rows[("routeviews", "listing")]["bytes_source"] == "fetched"


def test_head_sized_sources_match_the_tree(mirror, planned) -> None:
    root, config = mirror
    _, rows, _ = planned
    log = tree_file(root, prefix2as_creation_log_url(config))
    listed, _ = read_creation_log(log, config["sources"]["caida_prefix2as"]["url"])
    daily = select_snapshots(listed, selected_days(config))["url"].to_list()
    asrel = [as_relationships_url(config, m) for m in selected_months(config)]
    base = config["sources"]["untroubled"]["url"]
    spam = [f"{base}/{y}.7z" for y in sorted({d.year for d in selected_days(config)})]
    for key, urls, rule in (
        (("caida_prefix2as", "daily"), daily, "prefix2as_day"),
        (("caida_as_relationships", "monthly"), asrel, "as_relationships"),
        (("untroubled", "yearly"), spam, "spam_messages"),
    ):
        sizes = [tree_file(root, u).stat().st_size for u in urls]
        row = rows[key]
        assert int(row["files"]) == len(urls) > 0, key
        assert int(row["bytes"]) == sum(sizes), key
        assert row["bytes_source"] == "head"
        core = sum(COSTS[rule].core_seconds(s / MIB) for s in sizes) + download_startup(len(sizes))
        assert float(row["core_hours"]) == pytest.approx(hours(core), rel=1e-5), key


def test_delegated_files_and_blocklist_captures_match_the_tree(mirror, planned) -> None:
    root, config = mirror
    _, rows, _ = planned
    chosen = delegated_expected(root, config)
    row = rows[("rir_delegated", "delegated")]
    assert int(row["files"]) == len(chosen) > 0
    sizes = [listed_size(tree_file(root, u).stat().st_size, u) for u in chosen]
    assert int(row["bytes"]) == sum(sizes)
    months = len(registry_months(config, selected_months(config)))
    assert float(row["core_hours"]) == pytest.approx(
        hours(months * COSTS["delegated_file"].core_seconds(0)), rel=1e-5
    )
    lengths = captures_expected(root, config)
    row = rows[("wayback", "snapshot")]
    assert int(row["files"]) == len(lengths) > 0
    assert int(row["bytes"]) == sum(lengths)
    assert float(row["core_hours"]) == pytest.approx(
        hours(len(lengths) * COSTS["blocklist_snapshot"].core_seconds(0)), rel=1e-5
    )


def test_totals_and_wall_time_follow_the_rows(planned) -> None:
    _, rows, shape = planned
    parts = [r for key, r in rows.items() if key != ("total", "all")]
    total = rows[("total", "all")]
    assert int(total["bytes"]) == sum(int(r["bytes"]) for r in parts)
    core_hours = sum(float(r["core_hours"]) for r in parts)
    assert float(total["core_hours"]) == pytest.approx(core_hours, rel=1e-5)
    assert [int(s["cores"]) for s in shape] == list(plan.CORES)
    download = int(total["bytes"]) * 8 / (float(shape[0]["bandwidth_mbit"]) * 1e6) / 3600
    for s in shape:
        compute = core_hours / int(s["cores"])
        assert float(s["compute_hours"]) == pytest.approx(compute, rel=1e-4)
        assert float(s["download_hours"]) == pytest.approx(download, rel=1e-4, abs=1e-6)
        bounds = [compute, download, float(s["request_hours"])]
        assert float(s["wall_hours"]) == pytest.approx(max(bounds), rel=1e-4, abs=1e-6)
    assert shape[0]["bound"] == "compute"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError(f"network refused in this test: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    yield attempts


def test_estimate_works_offline_and_labels_its_rows(
    mirror, tmp_path: Path, no_network: list[Any]
) -> None:
    root, config = mirror
    out = tmp_path / "plan.csv"
    with contextlib.chdir(tmp_path):
        status = plan.main(["--estimate", "--config", *map(str, CONFIGS), "--out", str(out)])
    assert status == 0
    assert no_network == []
    assert not (tmp_path / "data").exists()
    rows = read_rows(out)
    labels = {r["bytes_source"] for key, r in rows.items() if key[0] != "total"}
    assert labels <= {"estimated", "unknown", "derived"}
    assert rows[("routeviews", "rib")]["bytes_source"] == "estimated"
    # With every file in the archive, the counts from the config are the selection's.
    expected = routing_expected(root, config)
    for source, archive in (("routeviews", "routeviews"), ("ripe_ris", "ris")):
        for kind in ("rib", "updates"):
            assert (
                int(rows[(source, kind)]["files"]) == archive_rows(expected, archive, kind).height
            )
    months = selected_months(config)
    assert int(rows[("caida_as_relationships", "monthly")]["files"]) == len(months)
    typical = {
        (r["source"], r["file_kind"], int(r["year"])): int(r["bytes"])
        for r in read_csv(REPO_ROOT / "data" / "reference" / "typical_file_sizes.csv")
    }
    asrel = sum(typical[("caida_as_relationships", "monthly", m.year)] for m in months)
    assert int(rows[("caida_as_relationships", "monthly")]["bytes"]) == asrel
    # The snapshots of a list are known only from its CDX answers.
    assert rows[("wayback", "snapshot")]["files"] == ""
    assert rows[("wayback", "snapshot")]["bytes_source"] == "unknown"


def test_a_failed_listing_names_its_url(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "empty").mkdir()
    with serve(tmp_path / "empty") as server, contextlib.chdir(tmp_path):
        status = plan.main(["--config", *map(str, CONFIGS), "--mirror", server.url])
    assert status == 1
    err = capsys.readouterr().err
    assert "takedowns plan:" in err and "http" in err and "404" in err
