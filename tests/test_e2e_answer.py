"""End to end: the two-axis answer finds what the generator planted, for however many events.

One generated SYNTHETIC mirror holds five events and a different scenario for each: the
study's three, and two more added with cited reference rows and a config block only (their
rows appended to a copy of the events table that config ``reference.events`` names; no code
names an event). After each cut-off the spam drops, and then:

* Russian Business Network: nothing moves anywhere (no re-announced prefix, no newly listed
  network): *contained*;
* Intercage: half of the target's spam and listed space spreads over ten networks:
  *dispersed*;
* McColo and the first added event: half of it moves to one network (the cited successor, or
  a stand-in): *displaced*, with a WDQ interval below 0 (part of the loss reappeared in the
  buffer networks, Bowers & Johnson's sign);
* the second added event: the generator's default moves (one prefix re-announced by a new
  origin, a few unrelated networks newly listed).

The workflow runs up to the answer (``results/tables/verdicts.csv``) and the figure that puts
the answers side by side.
"""

from __future__ import annotations

import csv
import subprocess

import polars as pl
import pytest
import yaml

from takedowns.config import REPO_ROOT, load_config
from takedowns.demo import snakemake_command
from takedowns.reference import EVENT_COLUMNS, EVENTS_CSV
from takedowns.synthetic.generate import generate_mirror
from takedowns.synthetic.server import serve

pytestmark = pytest.mark.e2e

E2E_CONFIG = REPO_ROOT / "tests" / "e2e.yaml"
TARGETS = (
    "results/tables/verdicts.csv",
    "results/tables/buffer_networks.csv",
    "results/tables/spam_effects.csv",
    "results/figures/answer.png",
)
# Two added events between the study's first two cut-offs, on documentation ASNs (RFC 5398):
# (id, name, cut-off, ASN, successor ASN).
ADDED = (
    ("test_alpha", "Test Alpha Hosting", "2008-02-15T12:00", 64496, 64498),
    ("test_beta", "Test Beta Hosting", "2008-05-20T18:00", 64497, None),
)
# What moves after each cut-off (generate_mirror's per-event displacement and moves).
DISPLACEMENT = {"rbn": "none", "intercage": "many", "mccolo": "one", "test_alpha": "one"}
MOVES = {"rbn": False}
# Botnet groups heavy enough for each event's drop (a share of all spam, the later events'
# groups included) to pass the verdict's threshold by a margin (the planted drops, computed
# by the generator, are checked in test_five_events_two_added_with_reference_rows_only).
HEAVY = {
    "rbn": {"botnet_weight": 6.0, "botnet_remaining": 0.1},
    "test_alpha": {"botnet_weight": 3.0, "botnet_remaining": 0.1},
    "test_beta": {"botnet_weight": 3.0, "botnet_remaining": 0.1},
    "intercage": {"botnet_weight": 2.0, "botnet_remaining": 0.1},
}


def _reference_rows() -> list[dict[str, str]]:
    """The added events' rows, as a researcher would cite them (here: example.org)."""
    rows = []
    for event_id, name, cutoff, asn, successor in ADDED:
        base = dict.fromkeys(EVENT_COLUMNS, "")
        base.update(
            event_id=event_id, event_name=name, source_url=f"https://example.org/{event_id}"
        )
        rows.append({
            **base, "fact": "cutoff", "role": "primary", "time_local": f"{cutoff}+00:00",
            "timezone": "UTC", "time_utc": f"{cutoff}:00Z", "time_precision": "hour",
            "description": "SYNTHETIC test event: its upstreams cut it off",
        })  # fmt: skip
        rows.append({
            **base, "fact": "network", "asn": str(asn), "as_name": name.upper(),
            "role": "target", "description": "SYNTHETIC test event: the hosting network",
        })  # fmt: skip
        if successor:
            rows.append({
                **base, "fact": "network", "asn": str(successor), "as_name": "SUCCESSOR",
                "role": "successor", "description": "SYNTHETIC test event: where it went",
            })  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    """Generate the five-event mirror, run the workflow to the answer: (answers, buffers,
    effects, work directory, scenario)."""
    tmp = tmp_path_factory.mktemp("answers")
    table = tmp / "events.csv"
    with EVENTS_CSV.open(encoding="utf-8", newline="") as src:
        committed = list(csv.DictReader(src))
    with table.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(EVENT_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows([*committed, *_reference_rows()])
    added = {
        event_id: {"name": name, "asns": [asn], "nominal_cutoff": f"{cutoff}Z"}
        for event_id, name, cutoff, asn, _ in ADDED
    }
    overlay = tmp / "events.yaml"
    overlay.write_text(
        yaml.safe_dump({"events": added, "reference": {"events": str(table)}}), encoding="utf-8"
    )
    configs = (REPO_ROOT / "config" / "demo.yaml", E2E_CONFIG, overlay)
    config = load_config(*configs)
    for event_id, weights in HEAVY.items():
        config["scenario"][event_id] = {**config["scenario"].get(event_id, {}), **weights}
    scenario = generate_mirror(
        tmp / "mirror", config, background_prefixes=300, displacement=DISPLACEMENT, moves=MOVES
    )
    work = tmp / "work"
    with serve(tmp / "mirror") as server:
        cmd = snakemake_command(
            work, server.url, 2, *TARGETS, "--configfile", *(str(c) for c in configs)
        )
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    answers = pl.read_csv(work / TARGETS[0])
    buffers = pl.read_csv(work / TARGETS[1])
    return answers, buffers, pl.read_csv(work / TARGETS[2]), work, scenario


def _answer(run, event_id: str) -> dict:
    return run[0].filter(pl.col("event_id") == event_id).row(0, named=True)


def test_a_drop_with_nothing_moved_is_contained(run) -> None:
    _, buffers, _, _, scenario = run
    planted = scenario.events["rbn"]
    assert planted.move is None and planted.displacement is None
    rbn = _answer(run, "rbn")
    assert rbn["volume_answer"] == "stayed down", rbn["explanation"]
    assert rbn["displacement_answer"] == "none", rbn["explanation"]
    assert rbn["reading"] == "contained"
    # no prefix was re-announced, so no re-homing origin is a buffer; the buffers there are
    # (cited successors, a network the list rotated in after t0) did not gain together
    reasons = set(buffers.filter(pl.col("event_id") == "rbn")["reason"])
    assert "rehomed_origin" not in reasons, reasons


def test_a_move_to_one_network_is_displaced(run) -> None:
    _, buffers, _, _, scenario = run
    for event_id in ("mccolo", "test_alpha"):
        answer = _answer(run, event_id)
        assert answer["volume_answer"] == "stayed down", answer["explanation"]
        assert answer["displacement_answer"] == "displaced", answer["explanation"]
        assert answer["reading"] == "partially displaced"
        assert answer["wdq_ci_high"] < 0  # Bowers & Johnson: < 0, part of the loss moved
        gainer = scenario.events[event_id].displacement.gainers[0].asn
        found = buffers.filter((pl.col("event_id") == event_id) & (pl.col("asn") == gainer))
        assert found.height >= 1, buffers.filter(pl.col("event_id") == event_id)
    # the added event's cited successor is where its move went, and a buffer for that reason
    assert scenario.events["test_alpha"].displacement.gainers[0].asn == 64498
    alpha = buffers.filter(pl.col("event_id") == "test_alpha")
    assert (64498, "successor") in set(alpha.select("asn", "reason").iter_rows())


def test_a_spread_to_ten_networks_is_dispersed(run) -> None:
    intercage = _answer(run, "intercage")
    assert intercage["volume_answer"] == "stayed down", intercage["explanation"]
    assert intercage["displacement_answer"] == "dispersed", intercage["explanation"]
    assert intercage["n_gainers"] > 2


def test_five_events_two_added_with_reference_rows_only(run) -> None:
    answers, _, effects, work, scenario = run
    assert len(scenario.events) == 5
    cutoffs = {e: p.cutoff for e, p in scenario.events.items()}
    # one row per event, in time order
    assert answers["event_id"].to_list() == sorted(cutoffs, key=cutoffs.__getitem__)
    assert answers["synthetic"].all()
    assert set(effects["event_id"]) == set(cutoffs)
    config = load_config(REPO_ROOT / "config" / "demo.yaml", E2E_CONFIG)
    threshold = -config["verdict"]["drop_if_immediate_ci_high_below"]
    for event_id, truth in scenario.spam.events.items():
        assert truth.planted_drop > threshold + 0.04, (event_id, truth.planted_drop)
    for event_id, name, *_ in ADDED:
        row = _answer(run, event_id)
        assert row["event_name"] == name and row["explanation"].startswith(name)
        # the generator planted a drop for it, as for every configured event
        assert row["volume_answer"] == "stayed down", row["explanation"]
    assert (work / TARGETS[3]).stat().st_size > 10_000
