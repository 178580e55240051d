"""The repository stands alone: no module, rule, query or document sends a reader to a file
outside it (the tests and benchmarks may read ../shared/realdata, skipping when absent)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCANNED = ("src", "workflow", "analysis", "config", "docs", "data/reference", "profiles")
# (pyproject.toml is left out: its pytest marker says which tests read ../shared/realdata)
TOP_FILES = ("README.md", "Makefile", "Snakefile", "CITATION.cff")
# design notes and paths that live beside the repository, not in it
OUTSIDE = re.compile(
    r"ARCHITECTURE\.md|SERVER_FORMATS\.md|SCIENCE\.md|METHOD\.md|\.\./shared|/work/"
)


def _files() -> list[Path]:
    out = [REPO / name for name in TOP_FILES]
    for folder in SCANNED:
        out += [
            p
            for p in (REPO / folder).rglob("*")
            if p.is_file() and p.suffix in {".py", ".smk", ".sql", ".md", ".yaml", ".rst", ".csv"}
        ]
    return out


def test_nothing_points_outside_the_repository() -> None:
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in _files()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not found, "\n".join(found)
