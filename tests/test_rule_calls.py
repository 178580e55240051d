"""Every rule calls its job with named arguments only, and every name is one the job takes."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

from takedowns import jobs

REPO = Path(__file__).resolve().parents[1]


def _job_calls() -> list[tuple[str, str, ast.Call]]:
    """(file, job name, call) for every ``jobs.<name>(...)`` in the Snakefile and rule files."""
    out = []
    for path in [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]:
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"jobs\.([a-z_0-9]+)\(", text):
            start, depth, i = match.end() - 1, 0, match.end() - 1
            while True:
                depth += {"(": 1, ")": -1}.get(text[i], 0)
                if depth == 0:
                    break
                i += 1
            call = ast.parse("f" + text[start : i + 1], mode="eval").body
            assert isinstance(call, ast.Call)
            out.append((path.name, match.group(1), call))
    return out


def test_no_rule_passes_an_argument_by_position() -> None:
    calls = _job_calls()
    assert len(calls) > 30
    positional = [f"{file}: jobs.{name}" for file, name, call in calls if call.args]
    assert not positional, positional


def test_every_named_argument_is_one_the_job_takes() -> None:
    wrong = []
    for file, name, call in _job_calls():
        func = getattr(jobs, name)
        taken = set(inspect.signature(inspect.unwrap(func)).parameters) | {"log"}
        wrong += [f"{file}: jobs.{name}({kw.arg}=)" for kw in call.keywords if kw.arg not in taken]
    assert not wrong, wrong


def test_every_job_a_rule_calls_is_logged_and_takes_keywords_only() -> None:
    # the rule's log file, the coercion of file names to Path and the closing line all come
    # from the logged_job decorator; keyword-only parameters keep every call site readable
    loose = []
    for file, name, _ in _job_calls():
        func = getattr(jobs, name)
        if func.__module__ == "takedowns.jobs.manifests":
            continue  # readers for the rules' input functions, not jobs
        if not hasattr(func, "__wrapped__"):
            loose.append(f"{file}: jobs.{name} is not a logged_job")
            continue
        params = inspect.signature(inspect.unwrap(func)).parameters.values()
        loose += [
            f"{file}: jobs.{name}({p.name}) can be passed by position"
            for p in params
            if p.kind is not inspect.Parameter.KEYWORD_ONLY
        ]
    assert not loose, loose
