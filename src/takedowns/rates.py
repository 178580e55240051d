"""What a job costs, from the measured rates in ``benchmarks/rates.yaml``.

Each workflow rule has an entry: the job's whole-process start-up, its throughput on the input
it reads (or a fixed time for jobs whose cost does not follow their input's size), its peak
memory as a base plus a slope per MB of input, its threads, and the benchmark that measured
them. The rules' ``resources`` (``mem_mb``, ``runtime``) and ``make plan`` are computed from
these numbers, so a scheduler is asked for what a job was measured to need, with a margin,
and a retried job (``attempt`` > 1) asks for more.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from takedowns.config import REPO_ROOT

RATES_PATH = REPO_ROOT / "benchmarks" / "rates.yaml"

#: Requests are this many times the measured need (times the attempt number on a retry).
MARGIN = 2.0


@dataclass(frozen=True)
class JobCost:
    """The measured cost of one rule's job."""

    rule: str
    measured_by: str
    startup_seconds: float
    #: MB of input read per second on one core; None: the job takes ``fixed_seconds``
    input_mb_per_second: float | None
    fixed_seconds: float
    mem_mb_base: float
    mem_mb_per_input_mb: float
    threads: int

    def seconds(self, input_mb: float) -> float:
        """Expected wall seconds on ``threads`` cores for ``input_mb`` MB of input."""
        work = self.fixed_seconds
        if self.input_mb_per_second:
            work += input_mb / self.input_mb_per_second
        return self.startup_seconds + work

    def core_seconds(self, input_mb: float) -> float:
        """Expected core-seconds (wall seconds times threads)."""
        return self.seconds(input_mb) * self.threads

    def mem_mb(self, input_mb: float, attempt: int = 1) -> int:
        """Memory to request, in MB: the measured peak with the margin, more on a retry."""
        need = self.mem_mb_base + self.mem_mb_per_input_mb * input_mb
        return int(math.ceil(need * MARGIN * max(attempt, 1) / 100.0) * 100)

    def runtime_minutes(self, input_mb: float, attempt: int = 1) -> int:
        """Wall minutes to request: the expected time with the margin, at least 5 minutes."""
        return max(5, math.ceil(self.seconds(input_mb) * MARGIN * max(attempt, 1) / 60.0))


def _cost(rule: str, entry: Mapping[str, Any], source: Path) -> JobCost:
    where = f"{source}: rules.{rule}"
    try:
        rate = entry.get("input_mb_per_second")
        cost = JobCost(
            rule=rule,
            measured_by=str(entry["measured_by"]),
            startup_seconds=float(entry["startup_seconds"]),
            input_mb_per_second=None if rate is None else float(rate),
            fixed_seconds=float(entry.get("fixed_seconds", 0.0)),
            mem_mb_base=float(entry["mem_mb"]["base"]),
            mem_mb_per_input_mb=float(entry["mem_mb"].get("per_input_mb", 0.0)),
            threads=int(entry.get("threads", 1)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc!r} (see the file's header for the fields)") from exc
    if cost.input_mb_per_second is not None and cost.input_mb_per_second <= 0:
        raise ValueError(f"{where}.input_mb_per_second must be positive")
    if cost.threads < 1 or cost.mem_mb_base <= 0:
        raise ValueError(f"{where}: threads must be >= 1 and mem_mb.base positive")
    return cost


def load_costs(path: Path = RATES_PATH) -> dict[str, JobCost]:
    """Every rule's :class:`JobCost` from ``path``; a malformed entry is named."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    rules = data.get("rules") if isinstance(data, Mapping) else None
    if not isinstance(rules, Mapping) or not rules:
        raise ValueError(f"{path}: no 'rules' mapping")
    return {str(rule): _cost(str(rule), entry, Path(path)) for rule, entry in rules.items()}
