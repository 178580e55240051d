"""Every rule asks for resources computed from its measured cost in benchmarks/rates.yaml."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from takedowns.config import REPO_ROOT
from takedowns.rates import RATES_PATH, JobCost, load_costs

RULE_FILES = [REPO_ROOT / "Snakefile", *sorted((REPO_ROOT / "workflow" / "rules").glob("*.smk"))]


def _rules() -> dict[str, str]:
    """rule name -> its block of text, over every rule file."""
    blocks: dict[str, str] = {}
    for path in RULE_FILES:
        text = path.read_text(encoding="utf-8")
        starts = list(re.finditer(r"^(?:rule|checkpoint) (\w+):", text, re.M))
        for here, nxt in zip(starts, [*starts[1:], None], strict=False):
            blocks[here[1]] = text[here.start() : nxt.start() if nxt else len(text)]
    return blocks


def test_every_rule_has_a_measured_cost_and_asks_for_it() -> None:
    costs = load_costs()
    rules = _rules()
    jobs = {name for name in rules if name != "all"}
    assert jobs, "no rules found"
    assert jobs <= {name.split("@")[0] for name in costs}, jobs - set(costs)
    assert {name.split("@")[0] for name in costs} <= jobs, "entries for rules that do not exist"
    for name in jobs:
        asked = re.findall(r'\*\*rule_resources\("(\w+)"\)', rules[name])
        assert asked == [name], f"rule {name} asks for {asked}"
    assert all(cost.measured_by for cost in costs.values())


def test_requests_follow_the_input_and_grow_on_retry() -> None:
    cost = JobCost("r", "bench", 0.5, 2.0, 0.0, 200, 1.0, 2)
    assert cost.seconds(100) == pytest.approx(50.5)
    assert cost.core_seconds(100) == pytest.approx(101)
    assert cost.mem_mb(100) == 600  # (200 + 100) x 2, rounded up to 100 MB
    assert cost.mem_mb(100, attempt=2) == 1200
    assert cost.runtime_minutes(1) == 5  # the floor
    assert cost.runtime_minutes(3000) == 51  # 1500.5 s x 2 = 50.02 min, rounded up
    assert cost.runtime_minutes(3000, attempt=3) == 151
    fixed = JobCost("f", "bench", 0.2, None, 30.0, 100, 0.0, 1)
    assert fixed.seconds(0) == fixed.seconds(1e6) == pytest.approx(30.2)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("r: {measured_by: b, startup_seconds: 1}", r"rules\.r: KeyError\('mem_mb'\)"),
        (
            "r: {measured_by: b, startup_seconds: 1, input_mb_per_second: 0, mem_mb: {base: 1}}",
            r"rules\.r\.input_mb_per_second must be positive",
        ),
        (
            "r: {measured_by: b, startup_seconds: 1, threads: 0, mem_mb: {base: 1}}",
            r"rules\.r: threads must be >= 1",
        ),
    ],
)
def test_a_malformed_entry_is_named(tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / "rates.yaml"
    path.write_text(f"rules:\n  {entry}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_costs(path)
    assert RATES_PATH.is_file()
