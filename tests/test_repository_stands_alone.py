"""The repository stands alone: no module, rule, query or document sends a reader to a file
outside it (the tests and benchmarks may read ../shared/realdata, skipping when absent)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCANNED = ("src", "workflow", "analysis", "config", "docs", "data/reference", "profiles")
# (pyproject.toml is left out: its pytest marker says which tests read ../shared/realdata)
TOP_FILES = ("README.md", "CONTRIBUTING.md", "Makefile", "Snakefile", "CITATION.cff")
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


def _imports() -> dict[str, set[str]]:
    """Module -> the package modules it imports (anywhere in its body, lazy imports too)."""
    import ast

    root = REPO / "src" / "takedowns"
    modules = {
        ".".join(("takedowns", *p.relative_to(root).with_suffix("").parts)).removesuffix(
            ".__init__"
        ): p
        for p in root.rglob("*.py")
    }
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def test_the_import_graph_has_no_circle() -> None:
    graph = _imports()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    circles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                circles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert len(graph) > 30 and not circles, circles
