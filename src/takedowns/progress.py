"""A readable console for a Snakemake run: one progress line per stage, the chatter in a file.

Snakemake prints a dozen lines per job; the demo runs more than a thousand jobs. This module
runs Snakemake as a child process, writes everything it prints to a log file, and reads the
stream as it goes: each job is counted in the *stage* of the rule file that defines its rule
(``workflow/rules/<stage>.smk``; the rules of the ``Snakefile`` itself count as
``workflow``), and each stage gets a progress line at most every ``interval`` seconds while it
changes (its jobs done, and the run's steps done of total with an ETA at the recent pace;
further apart as the run goes on), then one final line. A failed run names the failing rule
and its log, and shows the last lines of the console log.

The lines read are the ones this Snakemake version prints (9.x)::

    localrule download:                  a job starts (also ``rule``, ``checkpoint``, ...)
        jobid: 2
    Finished jobid: 2 (Rule: download)   a job ends (older versions: ``Finished job 2.``)
    1 of 4 steps (25%) done
    Error in rule routing_normalize:     a job failed
        log: logs/routing/x.log (check log file(s) for error details)

A checkpoint adds jobs as it finishes, and Snakemake prints its table of jobs per rule only
once, before the first checkpoint: a stage's own total (and ETA) is shown only while that
table covers it (a rerun, every checkpoint done); the run's total grows as checkpoints finish.
A line that is not understood is only written to the log; should reading the stream fail in
any way, the progress lines stop and only the final summary is printed.

Run as ``python -m takedowns.progress --log FILE [--verbose] -- snakemake ...``; the exit
status is Snakemake's.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, TextIO

from takedowns.config import REPO_ROOT

RULES_DIR = REPO_ROOT / "workflow" / "rules"
SNAKEFILE = REPO_ROOT / "Snakefile"
#: the workflow's stages in the order they mostly run; a new rule file adds a stage after them
STAGES = (
    "sources",
    "prefix2as",
    "asrel",
    "routing",
    "blocklists",
    "spamtrap",
    "analysis",
    "figures",
)
#: the stage of rules defined in the Snakefile itself (``all``, ``datapackage``) or unknown
WORKFLOW_STAGE = "workflow"
#: seconds between two progress lines of one stage
DEFAULT_INTERVAL = 15.0
#: a long run's lines of a stage are further apart: at least this fraction of the time so far
GAP_FRACTION = 0.1
#: seconds of the recent past whose pace the ETAs assume
RATE_WINDOW = 60.0
#: lines of the console log shown when the run fails
TAIL_LINES = 20

_DEFINITION = re.compile(r"^(?:rule|checkpoint)\s+(\w+)\s*:")
_JOB_START = re.compile(r"^(?:local)?(?:rule|checkpoint)\s+(\w+):\s*$")
_JOB_ID = re.compile(r"^\s+jobid:\s*(\d+)\s*$")
_FINISHED = re.compile(r"^Finished jobid:\s*(\d+)\s*\(Rule:\s*(\w+)\)")
_FINISHED_OLD = re.compile(r"^Finished job (\d+)\.")
_STEPS = re.compile(r"^(\d+) of (\d+) steps \([^)]*\) done")
_ERROR = re.compile(r"^Error in rule (\w+)[:,]")
_LOG = re.compile(r"^\s+log:\s*(.*?)(?:\s*\(check log file\(s\) for error details\))?\s*$")
_STATS_HEADER = re.compile(r"^Job stats:\s*$")
_STATS_ROW = re.compile(r"^(\w+)\s+(\d+)\s*$")


class Event(NamedTuple):
    """What one line of Snakemake's output says; ``kind`` is one of ``start``, ``jobid``,
    ``finish``, ``steps``, ``error``, ``log``, ``stats`` (the job table begins) and
    ``stats-row`` (a rule and its job count, meaningful only inside the job table)."""

    kind: str
    rule: str | None = None
    jobid: int | None = None
    done: int | None = None
    total: int | None = None
    paths: tuple[str, ...] = ()


def parse_line(line: str) -> Event | None:
    """The event a line of Snakemake's output reports, or None for any other line."""
    line = line.rstrip("\r\n")
    if match := _JOB_START.match(line):
        return Event("start", rule=match.group(1))
    if match := _FINISHED.match(line):
        return Event("finish", rule=match.group(2), jobid=int(match.group(1)))
    if match := _FINISHED_OLD.match(line):
        return Event("finish", jobid=int(match.group(1)))
    if match := _STEPS.match(line):
        return Event("steps", done=int(match.group(1)), total=int(match.group(2)))
    if match := _JOB_ID.match(line):
        return Event("jobid", jobid=int(match.group(1)))
    if match := _ERROR.match(line):
        return Event("error", rule=match.group(1))
    if match := _LOG.match(line):
        paths = tuple(p.strip() for p in match.group(1).split(",") if p.strip())
        return Event("log", paths=paths)
    if _STATS_HEADER.match(line):
        return Event("stats")
    if match := _STATS_ROW.match(line):
        return Event("stats-row", rule=match.group(1), total=int(match.group(2)))
    return None


def rule_names(path: Path) -> list[str]:
    """The rules and checkpoints a Snakemake file defines (``rule <name>:`` lines)."""
    return [
        match.group(1)
        for line in path.read_text(encoding="utf-8").splitlines()
        if (match := _DEFINITION.match(line))
    ]


def stage_map(rules_dir: Path = RULES_DIR, snakefile: Path | None = SNAKEFILE) -> dict[str, str]:
    """Rule name -> stage: the stem of the rule file in ``rules_dir`` that defines it; the
    rules of ``snakefile`` belong to the ``workflow`` stage."""
    stages: dict[str, str] = {}
    if snakefile is not None and snakefile.exists():
        stages.update(dict.fromkeys(rule_names(snakefile), WORKFLOW_STAGE))
    for path in sorted(rules_dir.glob("*.smk")):
        stages.update(dict.fromkeys(rule_names(path), path.stem))
    return stages


def stage_order(stages: Mapping[str, str]) -> list[str]:
    """The stages of ``stages`` in display order: the known ones first, then any other rule
    file's stage by name, then ``workflow``."""
    present = set(stages.values()) | {WORKFLOW_STAGE}
    known = [stage for stage in STAGES if stage in present]
    others = sorted(present - set(STAGES) - {WORKFLOW_STAGE})
    return [*known, *others, WORKFLOW_STAGE]


def format_duration(seconds: float) -> str:
    """``seconds`` as ``42s``, ``3m05s`` or ``1h02m``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


@dataclass
class StageState:
    """The jobs of one stage seen so far."""

    started: int = 0
    done: int = 0
    expected: int = 0  # from Snakemake's first job table
    first: float | None = None  # clock when its first job started
    last: float | None = None  # clock when its last job finished
    printed: float | None = None  # clock of its last progress line
    shown: tuple[int, int] | None = None  # (done, started) of its last progress line
    samples: collections.deque[tuple[float, int]] = field(default_factory=collections.deque)

    @property
    def total(self) -> int:
        """The jobs of the stage known so far."""
        return max(self.started, self.expected, self.done)


@dataclass
class ProgressReporter:
    """Reads Snakemake's output line by line and writes a progress line per stage.

    ``write`` gets each console line (without newline); ``clock`` gives seconds. Progress lines
    of a stage come only when its counts changed, at least ``interval`` seconds apart (and a
    tenth of the run's time so far, so that a long run's console stays short);
    ``finish`` writes a final line per stage and the run's summary or its failure.
    """

    stages: Mapping[str, str]
    write: Callable[[str], None] = print
    clock: Callable[[], float] = time.monotonic
    interval: float = DEFAULT_INTERVAL
    label: str = "snakemake"
    tail_lines: int = TAIL_LINES
    state: dict[str, StageState] = field(default_factory=dict)
    steps: tuple[int, int] | None = None
    failed_rules: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    broken: bool = False
    tail: collections.deque[str] = field(init=False)
    start: float = field(init=False)
    _job_rules: dict[int, str] = field(default_factory=dict)
    _step_samples: collections.deque[tuple[float, int]] = field(default_factory=collections.deque)
    _pending_rule: str | None = None
    _in_stats: bool = False
    _in_error: bool = False

    def __post_init__(self) -> None:
        self.tail = collections.deque(maxlen=self.tail_lines)
        self.start = self.clock()

    def stage_of(self, rule: str) -> str:
        """The stage of ``rule`` (``workflow`` for a rule no rule file defines)."""
        return self.stages.get(rule, WORKFLOW_STAGE)

    def _stage(self, rule: str) -> StageState:
        return self.state.setdefault(self.stage_of(rule), StageState())

    def feed(self, line: str) -> None:
        """Read one line of Snakemake's output; never raises."""
        line = line.rstrip("\r\n")
        self.tail.append(line)
        if self.broken:
            return
        try:
            self._feed(line)
        except Exception:  # a stream not understood must not stop the run
            self.broken = True

    def _feed(self, line: str) -> None:
        event = parse_line(line)
        if event is None:  # (the job table's heading and rule lines leave it open)
            self._in_error = self._in_error and line.startswith(" ")
            return
        now = self.clock()
        kind = event.kind
        if kind != "log" and kind != "jobid":
            self._in_error = False
        if kind == "stats":
            self._in_stats = True
        elif kind == "stats-row":
            if event.rule == "total":
                self._in_stats = False
            elif self._in_stats and event.total:
                self._stage(event.rule).expected += event.total
        elif kind == "start":
            self._in_stats = False
            stage = self._stage(event.rule)
            stage.started += 1
            if stage.first is None:
                stage.first = now
                stage.samples.append((now, 0))
            self._pending_rule = event.rule
            self._maybe_print(self.stage_of(event.rule), now)
        elif kind == "jobid":
            if self._pending_rule is not None and not self._in_error:
                self._job_rules[event.jobid] = self._pending_rule
            self._pending_rule = None
        elif kind == "finish":
            rule = event.rule or self._job_rules.get(event.jobid)
            if rule is None:
                return
            stage = self._stage(rule)
            stage.done += 1
            stage.last = now
            stage.samples.append((now, stage.done))
            self._maybe_print(self.stage_of(rule), now)
        elif kind == "steps":
            self.steps = (event.done, event.total)
            self._step_samples.append((now, event.done))
        elif kind == "error":
            self.failed_rules.append((event.rule, ()))
            self._in_error = True
        elif kind == "log" and self._in_error and self.failed_rules:
            rule, _ = self.failed_rules[-1]
            self.failed_rules[-1] = (rule, event.paths)

    @staticmethod
    def _rate(samples: collections.deque[tuple[float, int]], now: float) -> float | None:
        """Jobs per second over the samples of the last ``RATE_WINDOW`` seconds (or all of
        them when the window holds too few), None before two samples apart in time."""
        while len(samples) > 2 and now - samples[1][0] >= RATE_WINDOW:
            samples.popleft()
        if len(samples) < 2 or samples[-1][0] <= samples[0][0]:
            return None
        return (samples[-1][1] - samples[0][1]) / (samples[-1][0] - samples[0][0]) or None

    def _eta(self, remaining: int, rate: float | None) -> str:
        if remaining <= 0:
            return "ETA 0s"
        return f"ETA {format_duration(remaining / rate)}" if rate else "ETA ?"

    def _overall(self, now: float) -> str:
        if self.steps is None or not self.steps[1]:
            return ""
        done, total = self.steps
        eta = self._eta(total - done, self._rate(self._step_samples, now))
        return f" | all {done}/{total} steps ({100 * done // total}%), {eta}"

    def progress_line(self, name: str, now: float | None = None) -> str:
        """The progress line of stage ``name``: its jobs done of its total when Snakemake's
        job table gave one (a rerun, with every checkpoint already done), else its jobs done
        and running; then the whole run's steps done of total and its ETA."""
        now = self.clock() if now is None else now
        stage = self.state[name]
        running = stage.started - stage.done
        if stage.expected and stage.started <= stage.expected:
            total = stage.expected
            eta = self._eta(total - stage.done, self._rate(stage.samples, now))
            counts = f"{stage.done:>5}/{total} jobs ({100 * stage.done // total}%), {eta}"
        else:
            counts = f"{stage.done:>5} jobs done, {running} running"
        return f"{name:<10} {counts}{self._overall(now)}"

    def _maybe_print(self, name: str, now: float) -> None:
        stage = self.state[name]
        counts = (stage.done, stage.started)
        if counts == stage.shown:
            return
        gap = max(self.interval, GAP_FRACTION * (now - self.start))
        if stage.printed is not None and now - stage.printed < gap:
            return
        stage.printed, stage.shown = now, counts
        self.write(self.progress_line(name, now))

    def final_lines(self) -> list[str]:
        """A line per stage that ran a job: its jobs done of known, and its duration."""
        lines = []
        for name in stage_order(self.stages):
            stage = self.state.get(name)
            if stage is None or (not stage.started and not stage.done):
                continue
            took = ""
            if stage.first is not None and stage.last is not None:
                took = f" in {format_duration(stage.last - stage.first)}"
            state = "done" if stage.done >= stage.total else "finished"
            lines.append(f"{name:<10} {stage.done:>5}/{stage.total:<5} jobs {state}{took}")
        return lines

    def finish(self, status: int, log: Path | None = None, directory: Path | None = None) -> None:
        """Write the final line per stage and the summary; on a non-zero ``status``, the failed
        rules with their log files (relative paths taken in ``directory``) and the last lines
        of the console log ``log``."""
        elapsed = format_duration(self.clock() - self.start)
        if not self.broken:
            for line in self.final_lines():
                self.write(line)
        steps = f"{self.steps[0]} of {self.steps[1]} steps, " if self.steps else ""
        where = f"; its output: {log}" if log is not None else ""
        if status == 0:
            self.write(f"{self.label}: finished ({steps}{elapsed}){where}")
            return
        self.write(f"{self.label}: FAILED with exit status {status} ({steps}{elapsed})")
        for rule, paths in dict.fromkeys(self.failed_rules):
            logs = [str(directory / p) if directory else p for p in paths] or ["(none)"]
            self.write(
                f"  failed job: rule {rule} (stage {self.stage_of(rule)}), log: {', '.join(logs)}"
            )
        if log is not None:
            self.write(f"  last {len(self.tail)} lines of {log}:")
        for line in self.tail:
            self.write(f"  | {line}")


def run(
    command: Sequence[str],
    log: Path,
    *,
    verbose: bool = False,
    append: bool = False,
    label: str = "snakemake",
    directory: Path | None = None,
    interval: float = DEFAULT_INTERVAL,
    console: TextIO | None = None,
) -> int:
    """Run ``command``, its stdout and stderr into ``log``, with progress lines on
    ``console`` (the whole output too when ``verbose``); return its exit status."""
    out = sys.stdout if console is None else console

    def write(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    reporter = ProgressReporter(stage_map(), write=write, interval=interval, label=label)
    if verbose:
        reporter.broken = True  # the whole output is shown: no progress lines
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("a" if append else "w", encoding="utf-8") as sink:
        try:
            process = subprocess.Popen(
                list(command),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                bufsize=1,
                env=env,
            )
        except OSError as error:
            write(f"{label}: could not start {command[0]}: {error}")
            return 127
        assert process.stdout is not None
        try:
            for line in process.stdout:
                sink.write(line)
                sink.flush()
                if verbose:
                    out.write(line)
                    out.flush()
                reporter.feed(line)
            status = process.wait()
        except KeyboardInterrupt:
            status = process.wait()
            status = status if status else 130
    reporter.finish(status, log, directory)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m takedowns.progress --log FILE [--verbose] -- command ...``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log", type=Path, required=True, help="file for the whole output")
    parser.add_argument("--verbose", action="store_true", help="show the whole output too")
    parser.add_argument("--append", action="store_true", help="append to the log file")
    parser.add_argument("--label", default="snakemake", help="the run's name in the summary")
    parser.add_argument("--directory", type=Path, help="where the job log paths are relative to")
    parser.add_argument("--interval", type=float, default=DEFAULT_INTERVAL)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (after --)")
    return run(
        command,
        args.log,
        verbose=args.verbose,
        append=args.append,
        label=args.label,
        directory=args.directory,
        interval=args.interval,
    )


if __name__ == "__main__":
    sys.exit(main())
