"""End to end: the two-axis answer finds the displacement the generator planted.

Two generated SYNTHETIC mirrors: after each cut-off, half of the target's spam and listed
space moves to one network (the event's cited successor, or a stand-in) or spreads over ten.
The workflow runs up to the answer (``results/tables/verdicts.csv``) and must call McColo's
planted lasting drop ``stayed down`` and the move ``displaced`` with a WDQ interval below 0
(part of the loss reappeared in the buffer networks), or ``dispersed``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import polars as pl
import pytest

from takedowns.config import REPO_ROOT, load_config
from takedowns.demo import snakemake_command
from takedowns.mirror.generate import generate_mirror
from takedowns.mirror.server import serve

pytestmark = pytest.mark.e2e

E2E_CONFIG = REPO_ROOT / "tests" / "e2e.yaml"
TARGETS = ("results/tables/verdicts.csv", "results/tables/buffer_networks.csv")


def answer_for(tmp_path: Path, displacement: str) -> tuple[pl.DataFrame, pl.DataFrame, object]:
    """Generate a mirror with the planted move, run the workflow to the answer, read it."""
    config = load_config(REPO_ROOT / "config" / "demo.yaml", E2E_CONFIG)
    root = tmp_path / "mirror"
    scenario = generate_mirror(root, config, background_prefixes=400, displacement=displacement)
    work = tmp_path / "work"
    with serve(root) as server:
        cmd = snakemake_command(
            work,
            server.url,
            2,
            *TARGETS,
            "--configfile",
            str(REPO_ROOT / "config" / "demo.yaml"),
            str(E2E_CONFIG),
        )
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    answers = pl.read_csv(work / TARGETS[0])
    buffers = pl.read_csv(work / TARGETS[1])
    return answers, buffers, scenario


def test_a_move_to_one_network_is_displaced(tmp_path: Path) -> None:
    answers, buffers, scenario = answer_for(tmp_path, "one")
    mccolo = answers.filter(pl.col("event_id") == "mccolo").row(0, named=True)
    assert mccolo["volume_answer"] == "stayed down"
    assert mccolo["displacement_answer"] == "displaced", mccolo["explanation"]
    assert mccolo["reading"] == "partially displaced"
    assert mccolo["wdq_ci_high"] < 0  # Bowers & Johnson: < 0, part of the loss moved
    gainer = scenario.events["mccolo"].displacement.gainers[0].asn
    found = buffers.filter((pl.col("event_id") == "mccolo") & (pl.col("asn") == gainer))
    assert found.height >= 1, buffers.filter(pl.col("event_id") == "mccolo")


def test_a_spread_to_ten_networks_is_dispersed(tmp_path: Path) -> None:
    answers, _, _ = answer_for(tmp_path, "many")
    mccolo = answers.filter(pl.col("event_id") == "mccolo").row(0, named=True)
    assert mccolo["volume_answer"] == "stayed down"
    assert mccolo["displacement_answer"] == "dispersed", mccolo["explanation"]
    assert mccolo["n_gainers"] > 2
