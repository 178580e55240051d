"""The real workflow, end to end, through the loopback archive mirror.

A generated SYNTHETIC mirror (with a planted takedown per event) is served on 127.0.0.1 and
the Snakefile runs against it exactly as ``make demo`` does. The assertions compare what the
workflow measured with what the generator planted, computed independently with ``ipaddress``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from takedowns.config import REPO_ROOT, load_config
from takedowns.demo import snakemake_command
from takedowns.synthetic.generate import generate_mirror
from takedowns.synthetic.scenario import Scenario
from takedowns.synthetic.server import serve

pytestmark = pytest.mark.e2e

E2E_CONFIG = REPO_ROOT / "tests" / "e2e.yaml"


def run_workflow(
    workdir: Path, mirror: str, *extra: str, overlay: Path | None = None
) -> subprocess.CompletedProcess:
    """Snakemake on the test configs (and one more config file, ``overlay``, merged last)."""
    configs = [REPO_ROOT / "config" / "demo.yaml", E2E_CONFIG, *([overlay] if overlay else [])]
    # options and targets before the config files: --configfile takes every word after it
    cmd = snakemake_command(workdir, mirror, 2, *extra, "--configfile", *(str(p) for p in configs))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def mirror_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Scenario]:
    root = tmp_path_factory.mktemp("mirror")
    config = load_config(REPO_ROOT / "config" / "demo.yaml", E2E_CONFIG)
    return root, generate_mirror(root, config, background_prefixes=800)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, mirror_root) -> tuple[Path, Scenario, str]:
    root, scenario = mirror_root
    work = tmp_path_factory.mktemp("work")
    with serve(root) as server:
        result = run_workflow(work, server.url)
        assert result.returncode == 0, result.stderr[-4000:]
        report = run_workflow(work, server.url, "--report", str(work / "report.html"))
        assert report.returncode == 0, report.stderr[-3000:]
        noop = run_workflow(work, server.url, "--dry-run")
    return work, scenario, noop.stdout + noop.stderr


def test_address_space_matches_what_was_planted(run) -> None:
    work, scenario, _ = run
    table = pl.read_csv(work / "results/tables/address_space_daily.csv", try_parse_dates=True)
    assert table["synthetic"].all()
    assert sorted(table["day"].unique().to_list()) == scenario.days
    checked = 0
    for row in table.iter_rows(named=True):
        expected = scenario.address_space(row["asn"], row["day"])
        assert row["addresses"] == expected, row
        checked += 1
    assert checked == len(scenario.days) * 8  # 6 RBN ASNs + Atrivo + McColo
    mccolo = table.filter(pl.col("asn") == 26780)
    t0 = scenario.events["mccolo"].cutoff
    before = mccolo.filter(pl.col("day") < t0.date())
    after = mccolo.filter(pl.col("day") > t0.date())
    # 208.72.173.0/24 lies inside 208.72.168.0/21: 12 /24s, not 13
    assert set(before["slash24_equivalents"].to_list()) == {12.0}
    assert set(after["addresses"].to_list()) == {0}


def test_moved_prefix_is_found_with_its_new_origin(run) -> None:
    work, scenario, _ = run
    episodes = pl.read_parquet(work / "data/processed/prefix_origin.parquet")
    for planted in scenario.events.values():
        move = planted.move
        rows = episodes.filter(
            (pl.col("prefix") == move.prefix) & pl.col("origins").list.contains(move.new_origin)
        )
        assert rows.height >= 1
        assert rows["first_day"].min() == min(d for d in scenario.days if d >= move.from_day)


def test_as_relationships_lose_the_providers(run) -> None:
    work, _, _ = run
    rel = pl.read_parquet(list((work / "data/processed/as_relationships").glob("*.parquet")))
    providers = (
        rel.filter((pl.col("kind") == "p2c") & (pl.col("as2") == 26780))
        .group_by("month")
        .agg(pl.col("as1").sort())
        .sort("month")
    )
    by_month = {r["month"]: r["as1"] for r in providers.iter_rows(named=True)}
    assert by_month[dt.date(2008, 11, 1)] == [1299, 3549, 6939]
    assert dt.date(2008, 12, 1) not in by_month
    assert rel["month"].n_unique() >= 3


def test_raw_files_are_checksummed_as_served(run, mirror_root) -> None:
    work, _, _ = run
    root, _ = mirror_root
    sums = (work / "data/raw/SHA256SUMS").read_text().splitlines()
    recorded = dict(reversed(line.split(maxsplit=1)) for line in sums)
    raw_files = [
        p
        for p in (work / "data/raw").rglob("*")
        if p.is_file()
        and p.name != "SHA256SUMS"
        and not p.name.startswith(".")  # the check's own bookkeeping
        and ".ratelimit" not in p.parts
    ]
    assert len(raw_files) == len(recorded) > 10
    for path in raw_files:
        rel = str(path.relative_to(work / "data/raw"))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert recorded[rel] == digest
        if path.name == "index.html" and not (root / rel).exists():
            continue  # a directory listing the server generated, as the real servers do
        assert (root / rel).read_bytes() == path.read_bytes()


def test_qc_counts_every_file(run) -> None:
    work, scenario, _ = run
    qc = pl.read_parquet(work / "data/processed/qc_files.parquet")
    # Every record read is either kept or skipped for a stated reason, in every stage but
    # routing, whose records_read counts MRT records while kept and skipped count elements
    # (a TABLE_DUMP_V2 record holds many): there, elements = kept + skipped element reasons.
    unaccounted = qc.filter(
        (pl.col("stage") != "routing")
        & (pl.col("records_read") != pl.col("records_kept") + pl.col("records_skipped"))
    )
    assert unaccounted.is_empty(), unaccounted.select("stage", "source_file", "note").rows()
    daily = qc.filter(pl.col("stage") == "prefix2as")
    assert daily.height == len(scenario.days)
    assert (daily["records_skipped"] == 0).all() and (daily["status"] == "ok").all()
    for row in daily.iter_rows(named=True):
        stamp = re.search(r"-(\d{8})-\d{4}\.pfx2as\.gz$", row["source_file"])[1]
        day = dt.datetime.strptime(stamp, "%Y%m%d").date()
        expected = len(scenario.background) + len(scenario.origins_on(day))
        assert row["records_read"] == row["records_kept"] == expected, row


def test_outputs_say_they_are_synthetic(run) -> None:
    work, _, _ = run
    meta = pq.read_schema(work / "data/processed/prefix_origin.parquet").metadata
    assert meta[b"takedowns.synthetic"] == b"true"
    svg = (work / "results/figures/address_space_daily.svg").read_text()
    assert "SYNTHETIC" in svg
    assert (work / "results/figures/address_space_daily.png").stat().st_size > 10_000
    report = (work / "report.html").read_text(errors="replace")
    assert "SYNTHETIC" in report


def test_second_run_is_a_no_op(run) -> None:
    _, _, noop = run
    assert "Nothing to be done" in noop


def test_changed_raw_file_is_refused(run, tmp_path: Path, mirror_root) -> None:
    work, scenario, _ = run
    copy = tmp_path / "work"
    shutil.copytree(work, copy, symlinks=True)
    day = scenario.days[1]
    victim = next((copy / "data/raw").rglob(f"routeviews-*-{day:%Y%m%d}-*.pfx2as.gz"))
    victim.write_bytes(victim.read_bytes() + b"\x00")
    root, _ = mirror_root
    with serve(root) as server:
        result = run_workflow(copy, server.url)
    assert result.returncode != 0
    assert victim.name in result.stderr and "SHA256SUMS" in result.stderr


def test_truncated_archive_fails_cleanly(tmp_path: Path, mirror_root) -> None:
    root, scenario = mirror_root
    broken_root = tmp_path / "mirror"
    shutil.copytree(root, broken_root)
    day = scenario.days[2]
    victim = next(broken_root.rglob(f"routeviews-*-{day:%Y%m%d}-*.pfx2as.gz"))
    victim.write_bytes(victim.read_bytes()[:-200])
    work = tmp_path / "work"
    with serve(broken_root) as server:
        result = run_workflow(work, server.url, "--keep-going")
    assert result.returncode != 0
    assert victim.name in result.stderr
    assert not (work / "data/raw" / victim.relative_to(broken_root)).exists()
    assert not (work / "data/processed/prefix_origin.parquet").exists()
    assert not (work / "results/tables/address_space_daily.csv").exists()


def test_blocklists_end_to_end(run) -> None:
    work, scenario, _ = run
    truth = scenario.blocklists
    snaps = pl.read_parquet(list((work / "data/processed/blocklist_snapshots").glob("*.parquet")))
    n = 0
    for name in truth.cdx_urls:
        for c in truth.snapshots(name):
            row = snaps.filter(pl.col("snapshot_id") == c.snapshot_id)
            assert row["status"].to_list() == [c.expected_status], (c, row["note"].to_list())
            n += 1
    assert n == snaps.height
    share = pl.read_csv(work / "results/tables/blocklist_watched_share.csv", try_parse_dates=True)
    assert share["synthetic"].all()
    drop = share.filter(pl.col("list") == "spamhaus_drop")
    for event_id, planted in scenario.events.items():
        rows = drop.filter(pl.col("event_id") == event_id)
        before = rows.filter(pl.col("snapshot_time") < planted.cutoff)
        after = rows.filter(pl.col("snapshot_time") >= planted.cutoff + dt.timedelta(days=3))
        assert (before["watched_share"] > 0).all() and (after["watched_addresses"] == 0).all()
    qc = pl.read_parquet(work / "data/processed/qc_files.parquet")
    assert set(qc["stage"]) >= {"blocklist_cdx", "blocklists", "blocklist_snapshots"}
    space = pl.read_csv(work / "results/tables/blocklist_space.csv")
    assert space.height > 0 and space["synthetic"].all()
    attributed = pl.read_parquet(work / "data/processed/blocklist_attribution.parquet")
    mccolo = attributed.filter(pl.col("origin_asn") == 26780)
    assert mccolo.height and set(mccolo["country"]) == {"US"}  # as the delegations planted


def test_spam_daily_matches_the_planted_archives(run) -> None:
    work, scenario, _ = run
    truth = scenario.spam
    daily = pl.read_csv(work / "results/tables/spam_daily.csv", try_parse_dates=True)
    assert daily["synthetic"].all()
    totals = daily.filter(pl.col("breakdown") == "total").select("day", "messages").sort("day")
    assert totals.rows() == truth.daily_counts().sort("day").rows()
    for event in truth.events.values():
        t0 = event.cutoff.date()
        pre = totals.filter(pl.col("day").is_between(t0 - dt.timedelta(days=5), t0, closed="left"))
        post = totals.filter(
            pl.col("day").is_between(t0, t0 + dt.timedelta(days=5), closed="right")
        )
        measured = 1 - post["messages"].mean() / pre["messages"].mean()
        assert measured == pytest.approx(event.planted_drop, abs=0.06), event.event_id
    qc = pl.read_parquet(work / "data/processed/qc_files.parquet")
    spam_qc = qc.filter(pl.col("stage") == "spamtrap")
    assert spam_qc.height == len(truth.archives)
    assert spam_qc["records_read"].sum() == truth.messages.height


def test_planted_spam_drop_is_covered_by_the_effect_interval(run) -> None:
    work, scenario, _ = run
    effects = pl.read_csv(work / "results/tables/spam_effects.csv")
    config = load_config(REPO_ROOT / "config" / "demo.yaml", E2E_CONFIG)
    k, pre = config["verdict"]["post_days"], config["windows"]["pre_days"]
    daily = scenario.spam.daily_counts()
    for event in scenario.spam.events.values():
        # The planted change as written into the archives: post-window mean / pre-window mean.
        t0 = event.cutoff.date()
        before = daily.filter(
            pl.col("day").is_between(t0 - dt.timedelta(days=pre), t0, closed="left")
        )
        after = daily.filter(pl.col("day").is_between(t0, t0 + dt.timedelta(days=k), closed="none"))
        planted = after["messages"].mean() / before["messages"].mean() - 1
        assert planted == pytest.approx(-event.planted_drop, abs=0.05)
        for family in config["effects"]["families"]:
            row = effects.filter(
                (pl.col("event_id") == event.event_id)
                & (pl.col("family") == family)
                & (pl.col("post_days") == k)
            ).row(0, named=True)
            assert row["relative_change"] == pytest.approx(planted, abs=0.03), (family, row)
            if family == config["effects"]["families"][0]:  # the family the verdict reads
                # The generated counts carry no sampling noise, so the intervals are nearly
                # points (their coverage is what make calibrate measures, on noisy series);
                # the planted change lies within a point of them, the pro-rata cut-off day
                # and the holiday terms apart.
                assert row["ci_low"] - 0.01 <= planted <= row["ci_high"] + 0.01, (family, row)
                assert row["ci_low"] <= row["relative_change"] <= row["ci_high"]
    mccolo = effects.filter(pl.col("event_id") == "mccolo")
    assert mccolo.height == len(config["effects"]["families"]) * len(config["windows"]["post_days"])
    assert (mccolo["ci_high"] < 0).all()  # a significant drop in every window and family


def test_planted_shift_of_sending_networks_is_found(run) -> None:
    work, scenario, _ = run
    changes = pl.read_csv(work / "results/tables/concentration_changes.csv")
    hhi = changes.filter(
        (pl.col("index") == "hhi")
        & (pl.col("measure") == "spam_sources_excl_targets")
        & (pl.col("post_days") == 15)
    )
    mccolo = hhi.filter(pl.col("event_id") == "mccolo").row(0, named=True)
    # McColo's botnet networks lost most of their share: the rest got less concentrated.
    assert scenario.spam.events["mccolo"].botnet_share_after < 0.5
    assert mccolo["ci_high"] < 0
    verdicts = pl.read_csv(work / "results/tables/verdicts.csv")
    mccolo_answer = verdicts.filter(pl.col("event_id") == "mccolo").row(0, named=True)
    assert mccolo_answer["volume_answer"] == "stayed down"  # a planted lasting drop
    assert mccolo_answer["displacement_answer"] in {"displaced", "dispersed", "none"}  # asked
    text = (work / "results/verdicts.txt").read_text()
    assert text.startswith("SYNTHETIC") and "verdict.drop_if_immediate_ci_high_below" in text
    comparison = pl.read_csv(work / "results/tables/published_comparison.csv")
    ironport = comparison.filter(pl.col("figure_id") == 1).row(0, named=True)
    assert ironport["published_value"] == -66.7 and ironport["comparable"]
    assert ironport["resolution"] == "hours" and " h from 2008-11-11T" in ironport["our_window"]
    # Our figure is the afternoon's hours after t0 against the same hours of the pre days: the
    # planted hourly rate falls by planted_drop at t0. The demo trap gets ~3 messages an hour,
    # so the point estimate is coarse; the tolerance is the exact 95 % Poisson interval.
    expected = -100 * scenario.spam.events["mccolo"].planted_drop
    assert ironport["our_ci_low"] <= expected <= ironport["our_ci_high"]


def test_nothing_planted_gives_no_effect_and_no_dispersion(tmp_path: Path) -> None:
    """The null scenario: level spam, the same senders, no new listings, no moves. (Only the
    target's own few messages a day stop at its cut-off: a drop of about 3 %, far from the
    material drop the answer asks for.)"""
    root = tmp_path / "mirror"
    config = load_config(REPO_ROOT / "config" / "demo.yaml", E2E_CONFIG)
    scenario = generate_mirror(root, config, background_prefixes=800, plant_effects=False)
    work = tmp_path / "work"
    with serve(root) as server:  # only what the assertions read, and what it needs
        targets = ("results/tables/spam_effects.csv", "results/tables/verdicts.csv")
        result = run_workflow(work, server.url, *targets)
    assert result.returncode == 0, result.stderr[-3000:]
    effects = pl.read_csv(work / "results/tables/spam_effects.csv")
    primary = effects.filter(pl.col("family") == config["effects"]["families"][0])
    assert primary.height == 3 * len(config["windows"]["post_days"])
    for row in primary.iter_rows(named=True):  # small, and far from a material drop
        assert scenario.spam.events[row["event_id"]].planted_drop == 0
        assert abs(row["relative_change"]) < 0.05, row
    verdicts = pl.read_csv(work / "results/tables/verdicts.csv")
    assert set(verdicts["volume_answer"]) <= {"no effect", "inconclusive"}, verdicts
    assert set(verdicts["displacement_answer"]) == {"not asked"}, verdicts
    assert set(verdicts["reading"]) <= {"no measurable effect", "inconclusive"}, verdicts


def test_data_package_and_release(run, tmp_path: Path) -> None:
    import json
    import tarfile

    from takedowns.release import make_release

    work, _, _ = run
    package = json.loads((work / "data/processed/datapackage.json").read_text())
    assert package["title"].startswith("SYNTHETIC")
    paths = {r["path"]: r for r in package["resources"]}
    episodes = paths["prefix_origin.parquet"]
    data = (work / "data/processed/prefix_origin.parquet").read_bytes()
    assert episodes["bytes"] == len(data)
    assert episodes["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert episodes["rows"] == pl.read_parquet(work / "data/processed/prefix_origin.parquet").height
    assert all(f["description"] for r in package["resources"] for f in r["schema"]["fields"])
    archive = make_release(work, tmp_path / "dist")
    assert "SYNTHETIC" in archive.name
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        top = names[0].split("/")[0]
        sums = tar.extractfile(f"{top}/SHA256SUMS").read().decode().splitlines()
        for line in sums[:20]:
            digest, name = line.split(maxsplit=1)
            assert hashlib.sha256(tar.extractfile(f"{top}/{name}").read()).hexdigest() == digest
    assert f"{top}/data/processed/datapackage.json" in names
    assert f"{top}/CITATION.cff" in names
    assert not any("/data/raw/" in n for n in names)
    assert len(sums) == len(names) - 1


# --- config changes rerun exactly the jobs that read the changed key --------------------------

# Rules that fetch or parse a raw file: a change of a later stage's setting must rerun none.
UPSTREAM_RULES = {
    "download",
    "prefix2as_day",
    "as_relationships",
    "delegated_file",
    "spam_messages",
    "blocklist_snapshot",
    "routing_normalize",
}


def jobs_to_run(work: Path, mirror: str, overlay: str) -> tuple[dict[str, int], str]:
    """The job counts per rule of a dry run with one more config file (YAML text ``overlay``)
    merged over the test configs, and the run's output."""
    extra = work.parent / f"overlay-{hashlib.sha1(overlay.encode()).hexdigest()[:8]}.yaml"
    extra.write_text(overlay, encoding="utf-8")
    result = run_workflow(work, mirror, "--dry-run", overlay=extra)
    assert result.returncode == 0, result.stderr[-3000:]
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}, text
    table = text[text.index("Job stats:") :].split("\n\n")[0]
    counts = {}
    for line in table.splitlines()[3:]:
        rule, count = line.split()
        if rule != "total":
            counts[rule] = int(count)
    return counts, text


# (override, the rules whose own settings changed, rules that must not rerun). A rule behind a
# checkpoint gets its settings through that checkpoint (SETTINGS_KEYS in common.smk): the dry
# run shows the settings file and the checkpoint; the jobs behind it follow once it ran.
RERUN_CASES = [
    (
        r"spamtrap: {exchanger_pattern: '(?:zak|mx\d+|mail)\.futurequest\.net'}",
        {"spam_messages"},
        (UPSTREAM_RULES - {"spam_messages"}) | {"prefix_origin", "ip_country", "study_tables"},
    ),
    (
        "prefix2as: {max_gap_days: 5}",
        {"job_settings", "prefix2as_manifest"},
        UPSTREAM_RULES - {"routing_normalize", "prefix2as_day"} | {"blocklist_cdx"},
    ),
    (
        "qc: {max_malformed_records: 2}",
        {
            "job_settings",
            "prefix2as_manifest",
            "blocklist_cdx",
            "spam_messages",
            "as_relationships",
        },
        {"download", "routing_listing", "study_tables"},
    ),
    (
        # the window of the file nearest the 1st: which file each registry month takes
        "sources: {rir_delegated: {max_age_days: 40}}",
        {"delegated_file", "ip_country"},
        (UPSTREAM_RULES - {"delegated_file"})
        | {"prefix_origin", "job_settings", "prefix2as_manifest"},
    ),
    (
        "effects: {min_days_pre: 13}",
        {"spam_effects"},
        UPSTREAM_RULES | {"concentration", "spam_attributed", "sql_result", "prefix_origin"},
    ),
    (
        "bootstrap: {seed: 7}",
        {"concentration"},
        UPSTREAM_RULES | {"spam_effects", "sql_result", "spam_attributed"},
    ),
    (
        "verdict: {drop_if_immediate_ci_high_below: -0.3}",
        {"verdicts"},
        UPSTREAM_RULES
        | {"spam_effects", "concentration", "sql_result", "published_comparison", "displacement"},
    ),
    (
        "routing: {episode_gap_hours: 80}",
        {"sql_result"},
        UPSTREAM_RULES | {"routing_listing", "spam_effects", "concentration", "event_cutoffs"},
    ),
    (
        "qc: {max_missing_share: 0.2}",
        {"routing_gaps", "prefix2as_gaps", "delegations_gaps"},
        UPSTREAM_RULES
        | {"job_settings", "blocklist_cdx", "prefix2as_manifest", "prefix_origin", "ip_country"},
    ),
    (
        "blocklists: {min_ratio_to_neighbours: 0.4}",
        {"job_settings", "blocklist_cdx"},
        UPSTREAM_RULES | {"prefix2as_manifest", "routing_listing", "prefix_origin"},
    ),
]


@pytest.mark.parametrize(("override", "changed", "untouched"), RERUN_CASES)
def test_a_config_change_reruns_exactly_the_jobs_that_read_it(
    run, mirror_root, override: str, changed: set[str], untouched: set[str]
) -> None:
    work, _, _ = run
    root, _ = mirror_root
    with serve(root) as server:
        counts, text = jobs_to_run(work, server.url, override)
    assert changed <= set(counts), (override, counts)
    assert not untouched & set(counts), (override, counts)
    assert "Params have changed" in text, text[-2000:]


def test_unchanged_config_reruns_nothing_and_download_settings_are_no_trigger(
    run, mirror_root
) -> None:
    work, _, _ = run
    root, _ = mirror_root
    with serve(root) as server:
        counts, _ = jobs_to_run(work, server.url, "download: {retries: 1, timeout_seconds: 5}")
    assert counts == {}


def test_an_empty_mirror_on_the_command_line_is_refused(run) -> None:
    work, _, _ = run
    result = subprocess.run(
        [*snakemake_command(work, "", 1, "--dry-run")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "config key 'mirror': an empty value was given on the command line" in result.stderr


def test_a_changed_setting_behind_a_checkpoint_reruns_its_jobs(run, mirror_root, tmp_path) -> None:
    """A real rerun (not a dry run): a setting of the per-snapshot blocklist jobs changes, and
    they run again through their checkpoint (their old outputs removed), and nothing of
    another stage does."""
    work, _, _ = run
    root, _ = mirror_root
    copy = tmp_path / "work"
    shutil.copytree(work, copy, symlinks=True)
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("blocklists: {max_malformed_lines: 3}\n", encoding="utf-8")
    snapshots = sorted((copy / "data/processed/qc/blocklists").rglob("*.json"))
    with serve(root) as server:
        result = run_workflow(copy, server.url, overlay=overlay)
    assert result.returncode == 0, result.stderr[-3000:]
    ran = set(re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):", result.stderr, re.M))
    assert {"job_settings", "blocklist_cdx", "blocklist_snapshot", "blocklist_check"} <= ran, ran
    assert not ran & (UPSTREAM_RULES - {"blocklist_snapshot"}), ran
    assert not ran & {"prefix_origin", "prefix2as_manifest", "routing_listing"}, ran
    assert sorted((copy / "data/processed/qc/blocklists").rglob("*.json")) == snapshots
    recorded = json.loads((copy / "data/processed/settings/blocklist_snapshot.json").read_text())
    assert recorded["blocklists"]["max_malformed_lines"] == 3
    with serve(root) as server:  # and the next run has nothing left to do
        counts, _ = jobs_to_run(copy, server.url, "blocklists: {max_malformed_lines: 3}")
    assert counts == {}
