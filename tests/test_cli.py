"""The package's one command line: every subcommand reaches its module."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from takedowns.cli import SUBCOMMANDS, main


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_every_subcommand_has_a_module_main(name: str) -> None:
    module, _, _ = SUBCOMMANDS[name]
    assert callable(importlib.import_module(module).main)


def test_help_lists_the_subcommands_and_an_unknown_one_fails(capsys) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in SUBCOMMANDS)
    assert main(["frobnicate"]) == 2
    assert "unknown subcommand 'frobnicate'" in capsys.readouterr().err


def test_check_config_names_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("windows: {pre_days: [\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "takedowns.cli", "check-config", str(bad)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "bad.yaml: line 2" in result.stderr


def test_verify_finds_a_changed_raw_file(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    (raw / "example.org").mkdir(parents=True)
    data = raw / "example.org" / "a.txt"
    data.write_bytes(b"as served\n")
    import hashlib

    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    (raw / "SHA256SUMS").write_text(f"{digest}  example.org/a.txt\n", encoding="utf-8")
    assert main(["verify", str(raw / "SHA256SUMS")]) == 0
    data.write_bytes(b"edited\n")
    assert main(["verify", str(raw / "SHA256SUMS")]) == 1
