"""The start-of-run check of raw files against SHA256SUMS."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from takedowns.download import ChecksumMismatch
from takedowns.rawcheck import STAT_NAME, check_raw_tree


def _record(root: Path, files: dict[str, bytes]) -> Path:
    lines = []
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        lines.append(f"{hashlib.sha256(data).hexdigest()}  {name}")
    sums = root / "SHA256SUMS"
    sums.write_text("\n".join(lines) + "\n")
    return sums


def test_unchanged_files_are_hashed_once(tmp_path: Path) -> None:
    sums = _record(tmp_path, {"a.org/x.gz": b"one", "b.org/y.bz2": b"two"})
    assert check_raw_tree(sums) == 2
    assert check_raw_tree(sums) == 0  # nothing changed: no re-hash
    assert (tmp_path / STAT_NAME).exists()


def test_a_changed_file_is_refused_by_name(tmp_path: Path) -> None:
    sums = _record(tmp_path, {"a.org/x.gz": b"one", "b.org/y.bz2": b"two"})
    check_raw_tree(sums)
    victim = tmp_path / "b.org/y.bz2"
    victim.write_bytes(b"tw0")  # same size, other bytes
    os.utime(victim, ns=(1, 1))
    with pytest.raises(ChecksumMismatch, match=r"b\.org/y\.bz2: sha256 .* recorded in"):
        check_raw_tree(sums)


def test_touched_but_identical_file_passes(tmp_path: Path) -> None:
    sums = _record(tmp_path, {"a.org/x.gz": b"one"})
    check_raw_tree(sums)
    os.utime(tmp_path / "a.org/x.gz", ns=(10**18, 10**18))
    assert check_raw_tree(sums) == 1
    assert check_raw_tree(tmp_path / "absent" / "SHA256SUMS") == 0
