"""The spam stage through the loopback mirror: generated archives in, planted effects out.

The SYNTHETIC mirror (prefix-to-AS tables, spam archives, RIR delegated files) is served on
127.0.0.1 and downloaded through the project's download layer; the archives are normalized,
attributed by date and summed by analysis/spam_daily.sql. The checks compare with what the
generators planted: every message's relay status and origins, the countries, the volume
drop at each cut-off and the change in the mix of sending networks.
"""

from __future__ import annotations

import bisect
import datetime as dt
import random
from pathlib import Path

import duckdb
import polars as pl
import pytest

from takedowns.config import REPO_ROOT, load_config
from takedowns.paths import raw_relpath
from takedowns.prefix2as import caida as prefix2as
from takedowns.sources.fetch import fetch
from takedowns.sources.fetch_policy import DownloadPolicy
from takedowns.spamtrap.archive import attribute_messages, normalize_archive
from takedowns.spamtrap.delegations import build_ip_country, read_delegated
from takedowns.study import watched_asns_frame
from takedowns.synthetic.gen_delegations import generate_delegations
from takedowns.synthetic.gen_spam import generate_spam
from takedowns.synthetic.generate import generate_mirror
from takedowns.synthetic.server import serve

E2E = REPO_ROOT / "tests" / "e2e.yaml"


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory):
    config = load_config(REPO_ROOT / "config" / "demo.yaml", E2E)
    root = tmp_path_factory.mktemp("mirror")
    work = tmp_path_factory.mktemp("work")
    scenario = generate_mirror(root, config, background_prefixes=800, realistic_volume=True)
    truth = generate_spam(root, config, scenario, random.Random(11), realistic=True)
    deleg = generate_delegations(root, config, scenario, random.Random(12))
    raw = work / "data" / "raw"
    policy = DownloadPolicy(retries=1, backoff_seconds=0, progress=False)
    with serve(root) as server:
        for url in truth.urls + deleg.urls:
            fetch(url, raw / raw_relpath(url), mirror=server.url, policy=policy,
                  checksums=raw / "SHA256SUMS")  # fmt: skip
    processed = work / "data" / "processed"
    qcs = []
    for url in truth.urls:
        rel = raw_relpath(url)
        out = processed / "spam_messages" / f"{Path(rel).stem}.parquet"
        qcs.append(normalize_archive(raw / rel, out, source_file=str(rel)))
    daily = []
    for path in sorted(root.rglob("*.pfx2as.gz")):
        frame, _ = prefix2as.read_daily_table(path, path.name)
        daily.append(work / "daily" / f"{path.name}.parquet")
        daily[-1].parent.mkdir(exist_ok=True)
        frame.write_parquet(daily[-1])
    prefix2as.build_episodes(daily, processed / "prefix_origin.parquet", max_gap_days=3)
    episodes = pl.read_parquet(processed / "prefix_origin.parquet")
    ip_country = build_ip_country(
        [read_delegated(raw / raw_relpath(u), str(raw_relpath(u)))[0] for u in deleg.urls],
        max_age_days=config["sources"]["rir_delegated"]["max_age_days"],
    )
    messages = pl.read_parquet(processed / "spam_messages" / "*.parquet")
    attributed = attribute_messages(messages, episodes, ip_country)
    attributed.write_parquet(processed / "spam_messages_attributed.parquet")
    watched_asns_frame(config).write_parquet(processed / "watched_asns.parquet")
    con = duckdb.connect()
    con.execute(
        f"CREATE VIEW spam_messages_attributed AS SELECT * FROM read_parquet("
        f"'{processed / 'spam_messages_attributed.parquet'}');"
        f"CREATE VIEW watched_asns AS SELECT * FROM read_parquet("
        f"'{processed / 'watched_asns.parquet'}');"
    )
    spam_daily = con.sql((REPO_ROOT / "analysis" / "spam_daily.sql").read_text()).pl()
    return scenario, truth, deleg, qcs, attributed, spam_daily


def test_archives_are_real_7z_in_the_real_layout(stage) -> None:
    _, truth, _, qcs, _, _ = stage
    assert [u.rsplit("/", 1)[1] for u in truth.urls] == ["2007.7z", "2008.7z"]
    names = truth.messages["member"]
    assert names.str.contains(r"^\d{4}/\d{2}/\d{10}\.\d+_\d+\.(txt|lorien)$").all()
    assert names.str.ends_with(".txt").any() and names.str.ends_with(".lorien").any()
    assert sum(q.records_kept for q in qcs) == truth.messages.height
    assert all(not q.skipped for q in qcs)


def test_every_message_is_parsed_and_attributed_as_planted(stage) -> None:
    scenario, truth, _, _, attributed, _ = stage
    joined = attributed.join(truth.messages, on="member", how="full", coalesce=True)
    assert joined.height == truth.messages.height == attributed.height
    assert (joined["relay_status"] == joined["expected_status"]).all()
    ok = joined.filter(pl.col("relay_status") == "ok")
    assert (ok["relay_ip"] == ok["relay_ip_right"]).all()
    # The trap runs every day; prefix-to-AS tables are served for the study's days only.
    served = ok.filter(pl.col("day").is_in(scenario.days))
    assert (served["origins"] == served["expected_origins"]).all()
    assert (served["matched_prefix"] == served["expected_prefix"]).all()
    between = ok.filter(~pl.col("day").is_in(scenario.days))
    assert between.height > served.height  # the baseline between the event windows
    # there, an origin is found only where the episodes reach, and it is never a wrong one
    found = between.filter(pl.col("origins").list.len() > 0)
    assert (found["origins"] == found["expected_origins"]).all()
    assert (joined["arrival_time"] == joined["arrival_time_right"]).all()
    bad = joined.filter(pl.col("relay_status") != "ok")
    assert set(bad["relay_status"]) == {
        "ipv6_relay",
        "private_or_loopback_relay",
        "no_received",
        "no_trap_received",
    }
    assert bad["origins"].list.len().max() == 0
    assert ok["exchanger"].str.contains("zak").any() and ok["exchanger"].str.contains("mx").any()


def test_countries_match_the_delegated_files(stage) -> None:
    scenario, _, deleg, _, attributed, _ = stage
    ranges = deleg.ranges.sort("start_ip")
    starts, rows = ranges["start_ip"].to_list(), ranges.rows(named=True)
    ok = attributed.filter(pl.col("relay_status") == "ok")
    # the delegated files are served for the study's months; between them a country is
    # found only within the files' max_age_days, and never a wrong one
    ok = ok.filter(pl.col("day").is_in(scenario.days) | pl.col("country").is_not_null())
    assert ok["country"].null_count() == 0
    for address, country, registry in ok.select("relay_ip", "country", "registry").rows():
        r = rows[bisect.bisect_right(starts, address) - 1]
        assert r["start_ip"] <= address <= r["end_ip"]
        assert (country, registry) == (r["country"], r["registry"])
    mccolo = ok.filter(pl.col("origins").list.contains(26780))
    assert mccolo.height and set(mccolo["country"]) == {"US"}


def _window(frame: pl.DataFrame, cutoff: dt.datetime, days: int) -> tuple[pl.DataFrame, ...]:
    t0 = cutoff.date()
    pre = frame.filter((pl.col("day") < t0) & (pl.col("day") >= t0 - dt.timedelta(days=days)))
    post = frame.filter((pl.col("day") > t0) & (pl.col("day") <= t0 + dt.timedelta(days=days)))
    return pre, post


def test_spam_daily_counts_and_the_planted_drop(stage) -> None:
    _, truth, _, _, _, spam_daily = stage
    totals = spam_daily.filter(pl.col("breakdown") == "total").select("day", "messages")
    expected = truth.daily_counts()
    assert totals.sort("day").rows() == expected.sort("day").rows()
    # The volume is realistic: one factor per day (mean 1), every group scaled by it.
    factors = list(truth.day_factor.values())
    assert len(factors) == totals.height and sum(factors) / len(factors) == pytest.approx(1.0)
    assert max(factors) - min(factors) > 0.1
    factor = pl.DataFrame(
        {"day": list(truth.day_factor), "factor": factors},
        schema={"day": pl.Date, "factor": pl.Float64},
    )
    level = totals.join(factor, on="day").with_columns(pl.col("messages") / pl.col("factor"))
    for event in truth.events.values():
        pre, post = _window(level, event.cutoff, 5)
        measured = 1 - post["messages"].mean() / pre["messages"].mean()
        assert measured == pytest.approx(event.planted_drop, abs=0.06), event.event_id
    assert truth.events["mccolo"].planted_drop == pytest.approx(0.65, abs=0.03)


def test_spam_daily_shows_the_change_of_sending_networks(stage) -> None:
    _, truth, _, _, _, spam_daily = stage
    by_asn = spam_daily.filter(pl.col("breakdown") == "origin_asn")
    day_sums = by_asn.group_by("day").agg(pl.col("weighted_messages").sum(), pl.first("with_relay"))
    assert (day_sums["weighted_messages"] - day_sums["with_relay"]).abs().max() < 1e-9
    for event in truth.events.values():
        group = by_asn.filter(pl.col("origin_asn").is_in(list(event.botnet_asns)))
        pre, post = _window(group, event.cutoff, 5)
        pre_all, post_all = _window(by_asn, event.cutoff, 5)
        share_pre = pre["weighted_messages"].sum() / pre_all["weighted_messages"].sum()
        share_post = post["weighted_messages"].sum() / post_all["weighted_messages"].sum()
        assert share_pre == pytest.approx(event.botnet_share_before, abs=0.05)
        assert share_post == pytest.approx(event.botnet_share_after, abs=0.05)
        assert share_post < share_pre
    mccolo = by_asn.filter(pl.col("origin_asn") == 26780)
    t0 = truth.events["mccolo"].cutoff.date()
    assert set(mccolo["event_id"]) == {"mccolo"}
    assert mccolo["day"].max() <= t0 and mccolo["messages"].sum() > 0
    countries = spam_daily.filter(pl.col("breakdown") == "country")
    assert countries.filter(pl.col("country") == "US")["messages"].sum() > 0


# --------------------------------------------------------------------------------------------
# A planted displacement (generate_mirror(displacement="many"))


@pytest.fixture(scope="module")
def displaced(tmp_path_factory: pytest.TempPathFactory):
    """A mirror with displacement="many": its archives normalized and attributed by the
    prefix-to-AS files it serves (no download: the files are read where they were written)."""
    config = load_config(REPO_ROOT / "config" / "demo.yaml", E2E)
    root = tmp_path_factory.mktemp("displaced")
    work = tmp_path_factory.mktemp("displaced_work")
    scenario = generate_mirror(
        root, config, background_prefixes=800, include_routing=False, displacement="many"
    )
    for path in scenario.spam.archives:
        normalize_archive(path, work / "spam" / f"{path.stem}.parquet", source_file=path.name)
    daily = []
    for path in sorted(root.rglob("*.pfx2as.gz")):
        frame, _ = prefix2as.read_daily_table(path, path.name)
        daily.append(work / "daily" / f"{path.name}.parquet")
        daily[-1].parent.mkdir(exist_ok=True)
        frame.write_parquet(daily[-1])
    prefix2as.build_episodes(daily, work / "prefix_origin.parquet", max_gap_days=3)
    messages = pl.read_parquet(work / "spam" / "*.parquet")
    attributed = attribute_messages(messages, pl.read_parquet(work / "prefix_origin.parquet"))
    return scenario, attributed


def test_spam_moves_to_ten_networks_after_each_cutoff(displaced) -> None:
    scenario, attributed = displaced
    ok = attributed.filter(pl.col("relay_status") == "ok")
    for event_id, planted in scenario.events.items():
        moved = planted.displacement
        assert moved is not None and moved.mode == "many" and len(moved.gainers) == 10
        assert moved.target_spam_per_day == 40 and moved.gained_spam_per_day == 20
        asns = [g.asn for g in moved.gainers]
        assert len(set(asns)) == 10
        got = ok.filter(pl.col("origins").list.len() == 1).with_columns(
            pl.col("origins").list.first().alias("asn")
        )
        gained = got.filter(pl.col("asn").is_in(asns))
        # nothing from the gainers before the cut-off; every message the truth counts after it
        assert gained["arrival_time"].min() >= planted.cutoff
        total = sum(scenario.spam.events[event_id].gained.values())
        assert set(scenario.spam.events[event_id].gained) == set(asns)
        # on the days the prefix-to-AS tables are served, each as the truth has it
        gained = gained.filter(pl.col("day").is_in(scenario.days))
        truth = scenario.spam.messages.filter(
            (pl.col("group") == f"gained:{event_id}") & pl.col("day").is_in(scenario.days)
        )
        want = truth.group_by(pl.col("expected_origins").list.first().alias("asn")).len()
        assert dict(gained.group_by("asn").len().iter_rows()) == dict(want.iter_rows())
        assert total >= truth.height  # the rest fell on the days between the event windows
        # on every whole day after the cut-off, each gainer sends its planted 2 messages
        t0 = planted.cutoff.date()
        later = gained.filter(pl.col("day") > t0).group_by("asn", "day").len()
        full_days = [d for d in scenario.days if d > t0]
        assert later.height == 10 * len(full_days)
        assert set(later["len"]) == {2}
        # the target's own prefixes sent 40 a day before: the gainers took half of that
        target = got.filter(
            pl.col("asn").is_in(list(planted.prefixes)) & (pl.col("day") == t0 - dt.timedelta(1))
        )
        assert target.height == moved.target_spam_per_day
