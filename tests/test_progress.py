"""The demo's readable console: Snakemake's lines parsed, rules mapped to stages by their rule
file, a progress line per stage, the chatter in a log file, and a failure shown clearly."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pytest

from takedowns import demo, progress
from takedowns.progress import Event, ProgressReporter, parse_line, stage_map

# lines as Snakemake 9.27 prints them (from a demo run's log and a failing toy workflow)
RUN = """\
Building DAG of jobs...
Job stats:
job                count
---------------  -------
download               1
routing_listing        1
datapackage            1
all                    1
total                  4

Select jobs to execute...
Execute 1 jobs...
[Thu Dec  3 11:40:11 2026]
localrule download:
    output: data/raw/archive.routeviews.org/bgpdata/2007.10/RIBS/index.html
    log: logs/download/archive.routeviews.org/bgpdata/2007.10/RIBS/index.html.log
    jobid: 2
    reason: Missing output files: data/raw/archive.routeviews.org/bgpdata/2007.10/RIBS/index.html
    wildcards: relpath=archive.routeviews.org/bgpdata/2007.10/RIBS/index.html
    resources: tmpdir=/tmp
[Thu Dec  3 11:40:11 2026]
Finished jobid: 2 (Rule: download)
1 of 4 steps (25%) done
Select jobs to execute...
Execute 1 jobs...
[Thu Dec  3 11:40:11 2026]
localcheckpoint routing_listing:
    input: data/raw/archive.routeviews.org/bgpdata/2007.10/RIBS/index.html
    output: data/processed/manifests/routing/route-views2_rib_2007.10.csv
    log: logs/routing/listing_route-views2_rib_2007.10.log
    jobid: 1
    wildcards: listing=route-views2_rib_2007.10
    resources: tmpdir=/tmp
DAG of jobs will be updated after completion.
[Thu Dec  3 11:40:12 2026]
Finished jobid: 1 (Rule: routing_listing)
Updating checkpoint dependencies.
2 of 30 steps (6.7%) done
"""

FAILURE = """\
[Thu Dec  3 11:47:54 2026]
localrule b:
    input: a.txt
    output: b.txt
    log: logs/b.log
    jobid: 1
    reason: Missing output files: b.txt; Input files updated by another job: a.txt
    resources: tmpdir=/tmp
RuleException:
CalledProcessError in file "Snakefile", line 13:
Command '(echo broken; exit 3) > logs/b.log 2>&1' returned non-zero exit status 3.
[Thu Dec  3 11:47:54 2026]
Error in rule b:
    message: None
    jobid: 1
    input: a.txt
    output: b.txt
    log: logs/b.log (check log file(s) for error details)
    shell:
        (echo broken; exit 3) > logs/b.log 2>&1
        (command exited with non-zero exit code)
Shutting down, this might take some time.
Exiting because a job execution failed. Look above for error messages
Complete log(s): .snakemake/log/2026-12-03T114754.010907.snakemake.log
Elapsed time: 0:00:00.194437
WorkflowError:
At least one job did not complete successfully.
"""


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_snakemake_lines_are_parsed() -> None:
    assert parse_line("localrule download:\n") == Event("start", rule="download")
    assert parse_line("rule routing_normalize:") == Event("start", rule="routing_normalize")
    assert parse_line("localcheckpoint routing_listing:") == Event("start", rule="routing_listing")
    assert parse_line("checkpoint blocklist_cdx:") == Event("start", rule="blocklist_cdx")
    assert parse_line("    jobid: 2") == Event("jobid", jobid=2)
    assert parse_line("Finished jobid: 2 (Rule: download)") == Event(
        "finish", rule="download", jobid=2
    )
    assert parse_line("Finished job 7.") == Event("finish", jobid=7)
    assert parse_line("1116 of 1119 steps (99.7%) done") == Event("steps", done=1116, total=1119)
    assert parse_line("Error in rule b:") == Event("error", rule="b")
    assert parse_line("    log: logs/b.log (check log file(s) for error details)") == Event(
        "log", paths=("logs/b.log",)
    )
    assert parse_line("    log: a.log, b.log") == Event("log", paths=("a.log", "b.log"))
    assert parse_line("Job stats:") == Event("stats")
    assert parse_line("download               1") == Event("stats-row", rule="download", total=1)
    for other in ("Select jobs to execute...", "[Thu Dec  3 11:40:11 2026]", "", "    rule b:"):
        assert parse_line(other) is None


def test_each_rule_belongs_to_the_stage_of_its_rule_file() -> None:
    stages = stage_map()
    rules_dir = progress.RULES_DIR
    for stem in progress.STAGES:
        text = (rules_dir / f"{stem}.smk").read_text(encoding="utf-8")
        names = re.findall(r"^(?:rule|checkpoint)\s+(\w+)\s*:", text, flags=re.MULTILINE)
        assert names, stem
        assert all(stages[name] == stem for name in names)
    assert stages["routing_normalize"] == "routing"
    assert stages["blocklist_cdx"] == "blocklists"  # a checkpoint
    assert stages["download"] == "sources"
    assert stages["all"] == stages["datapackage"] == progress.WORKFLOW_STAGE


def test_a_new_rule_file_is_a_new_stage_without_code(tmp_path: Path) -> None:
    (tmp_path / "routing.smk").write_text("rule routing_normalize:\n    output: 'x'\n")
    (tmp_path / "extra.smk").write_text("checkpoint new_listing:\n    output: 'y'\n")
    stages = stage_map(tmp_path, None)
    assert stages == {"routing_normalize": "routing", "new_listing": "extra"}
    assert progress.stage_order(stages) == ["routing", "extra", progress.WORKFLOW_STAGE]
    reporter = ProgressReporter(stages, write=lambda line: None)
    assert reporter.stage_of("never_defined") == progress.WORKFLOW_STAGE


def synthetic_stream(jobs_per_stage: int) -> list[str]:
    """The lines of a run with ``jobs_per_stage`` jobs in each of three stages, one after
    another, each job started and finished before the next (the older ``Finished job N.``)."""
    rules = {"sources": "download", "routing": "routing_normalize", "figures": "answer_figure"}
    total = jobs_per_stage * len(rules)
    lines = []
    jobid = 0
    for rule in rules.values():
        for _ in range(jobs_per_stage):
            jobid += 1
            lines += [f"localrule {rule}:", "    output: x", f"    jobid: {jobid}"]
            lines += [f"Finished job {jobid}.", f"{jobid} of {total} steps (x%) done"]
    return lines


def feed_timed(reporter: ProgressReporter, lines: list[str], clock: Clock, step: float) -> None:
    """Feed ``lines``, each job taking ``step`` seconds on ``clock``."""
    for line in lines:
        if line.startswith("Finished"):
            clock.now += step
        reporter.feed(line)


def test_a_long_run_prints_a_few_lines_per_stage_and_a_final_one() -> None:
    clock = Clock()
    out: list[str] = []
    reporter = ProgressReporter(stage_map(), write=out.append, clock=clock, interval=15)
    lines = synthetic_stream(500)  # 1500 jobs, 300 s
    feed_timed(reporter, lines, clock, 0.2)
    reporter.finish(0, Path("demo/logs/snakemake-console.log"))
    # a line at most every 15 s per stage while it changes: 100 s per stage -> at most 8 each
    assert 3 * 2 <= len(out) <= 3 * 8 + 3 + 1
    assert len(out) < 100
    assert out[-4:] == [
        "sources      500/500   jobs done in 1m40s",
        "routing      500/500   jobs done in 1m40s",
        "figures      500/500   jobs done in 1m40s",
        "snakemake: finished (1500 of 1500 steps, 5m00s); its output: "
        "demo/logs/snakemake-console.log",
    ]
    routing = [line for line in out if line.startswith("routing ") and "running" in line]
    assert routing and "| all " in routing[-1] and "steps" in routing[-1]
    assert re.search(r"ETA \d+m\d\ds$", routing[-1])  # the run's pace: 0.2 s a job


def test_an_hour_long_run_still_prints_few_lines() -> None:
    clock = Clock()
    out: list[str] = []
    reporter = ProgressReporter(stage_map(), write=out.append, clock=clock, interval=15)
    feed_timed(reporter, synthetic_stream(6000), clock, 0.2)  # 18000 jobs, 1 hour
    reporter.finish(0)
    assert len(out) < 80  # 15 s apart throughout would be 240 lines


def test_the_job_table_gives_a_stage_its_total_and_an_eta() -> None:
    clock = Clock()
    out: list[str] = []
    reporter = ProgressReporter(stage_map(), write=out.append, clock=clock, interval=15)
    for line in RUN.splitlines():
        clock.now += 1
        reporter.feed(line)
    assert out[0].startswith("sources        0/1 jobs (0%)")
    assert reporter.state["sources"].done == 1
    assert reporter.state["routing"].done == 1  # the checkpoint, by its jobid
    assert reporter.steps == (2, 30)
    reporter.finish(0)
    assert out[-1].startswith("snakemake: finished (2 of 30 steps, ")


def test_a_failed_job_is_named_with_its_log_and_the_console_tail(tmp_path: Path) -> None:
    out: list[str] = []
    reporter = ProgressReporter(stage_map(), write=out.append, tail_lines=5)
    for line in FAILURE.splitlines():
        reporter.feed(line)
    log = tmp_path / "logs" / "snakemake-console.log"
    reporter.finish(1, log, tmp_path)
    text = "\n".join(out)
    assert "snakemake: FAILED with exit status 1" in text
    assert f"failed job: rule b (stage workflow), log: {tmp_path / 'logs' / 'b.log'}" in text
    assert f"last 5 lines of {log}:" in text
    assert out[-1] == "  | At least one job did not complete successfully."


def test_a_stream_not_understood_gives_only_the_summary(monkeypatch) -> None:
    out: list[str] = []
    reporter = ProgressReporter(stage_map(), write=out.append)
    for line in ("some other tool", "printing lines", "42"):
        reporter.feed(line)
    reporter.finish(0)
    assert len(out) == 1 and out[0].startswith("snakemake: finished (")

    def broken(line: str) -> Event:
        raise ValueError(line)

    monkeypatch.setattr(progress, "parse_line", broken)
    out.clear()
    reporter = ProgressReporter(stage_map(), write=out.append)
    for line in RUN.splitlines():
        reporter.feed(line)  # never raises
    reporter.finish(0)
    assert reporter.broken and len(out) == 1


def test_run_writes_the_output_to_the_log_and_returns_the_status(tmp_path: Path) -> None:
    script = f"import sys; sys.stderr.write({FAILURE!r}); sys.stdout.write({RUN!r}); sys.exit(3)"
    log = tmp_path / "logs" / "console.log"
    console = io.StringIO()
    status = progress.run(
        [sys.executable, "-c", script], log, directory=tmp_path, console=console, label="demo"
    )
    assert status == 3
    written = log.read_text(encoding="utf-8")
    assert "Error in rule b:" in written and "Finished jobid: 2 (Rule: download)" in written
    shown = console.getvalue().splitlines()
    assert len(shown) < 40
    assert "demo: FAILED with exit status 3" in console.getvalue()
    assert f"rule b (stage workflow), log: {tmp_path / 'logs' / 'b.log'}" in console.getvalue()

    console = io.StringIO()
    status = progress.run(
        [sys.executable, "-c", "print('hello')"], log, append=True, verbose=True, console=console
    )
    assert status == 0 and console.getvalue().startswith("hello\n")
    assert log.read_text(encoding="utf-8") == written + "hello\n"


def test_the_command_line_wraps_a_command(tmp_path: Path, capsys) -> None:
    log = tmp_path / "out.log"
    argv = ["--log", str(log), "--label", "x", "--", sys.executable, "-c", "print('hi')"]
    assert progress.main(argv) == 0
    assert log.read_text() == "hi\n"
    assert capsys.readouterr().out.startswith("x: finished (")
    with pytest.raises(SystemExit):
        progress.main(["--log", str(log)])


def test_the_demo_runs_snakemake_through_the_progress_wrapper(tmp_path: Path, monkeypatch):
    def fake_generate(root: Path, config, **kwargs) -> None:
        root.mkdir(parents=True, exist_ok=True)
        (root / "SYNTHETIC.txt").write_text("SYNTHETIC\n")

    calls: list[list[str]] = []

    def fake_call(cmd: list[str]) -> int:
        calls.append(cmd)
        return 0

    monkeypatch.setattr(demo, "generate_mirror", fake_generate)
    monkeypatch.setattr(demo.subprocess, "call", fake_call)
    directory = tmp_path / "demo"
    assert demo.main(["--directory", str(directory)]) == 0
    run, report = calls
    assert run[1:3] == ["-m", "takedowns.progress"]
    assert run[run.index("--log") + 1] == str(directory / "logs" / "snakemake-console.log")
    assert "--verbose" not in run and "--append" not in run and "--append" in report
    assert run[run.index("--") + 1 :][1:3] == ["-m", "snakemake"]
    assert "--report" in report
    calls.clear()
    assert demo.main(["--directory", str(directory), "--verbose"]) == 0
    assert all("--verbose" in cmd[: cmd.index("--")] for cmd in calls)
