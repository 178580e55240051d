"""The raw-file ledger: SHA256SUMS, its status record, the start-of-run check, ``verify``."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from takedowns.errors import ChecksumMismatch, UnrecordedFile
from takedowns.sources.ledger import (
    STAT_NAME,
    check_raw_tree,
    commit,
    read_ledger,
    recorded_status,
    verify_tree,
)


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


def test_a_changed_file_with_its_mtime_restored_is_refused(tmp_path: Path) -> None:
    sums = _record(tmp_path, {"a.org/x.gz": b"one", "b.org/y.bz2": b"two"})
    victim = tmp_path / "b.org/y.bz2"
    before = victim.stat()
    assert check_raw_tree(sums) == 2
    victim.write_bytes(b"tw0")  # same size, other bytes ...
    os.utime(victim, ns=(before.st_atime_ns, before.st_mtime_ns))  # ... and the old mtime
    assert (victim.stat().st_size, victim.stat().st_mtime_ns) == (3, before.st_mtime_ns)
    with pytest.raises(ChecksumMismatch, match=r"b\.org/y\.bz2: sha256"):
        check_raw_tree(sums)


def test_a_file_replaced_by_another_inode_is_rehashed(tmp_path: Path) -> None:
    sums = _record(tmp_path, {"a.org/x.gz": b"one"})
    check_raw_tree(sums)
    path = tmp_path / "a.org/x.gz"
    copy = tmp_path / "copy"
    copy.write_bytes(b"one")
    os.replace(copy, path)  # same bytes, new inode: re-hashed, passes
    assert check_raw_tree(sums) == 1


def test_touched_but_identical_file_passes(tmp_path: Path) -> None:
    sums = _record(tmp_path, {"a.org/x.gz": b"one"})
    check_raw_tree(sums)
    os.utime(tmp_path / "a.org/x.gz", ns=(10**18, 10**18))
    assert check_raw_tree(sums) == 1
    assert check_raw_tree(tmp_path / "absent" / "SHA256SUMS") == 0


def test_commit_records_sha_and_status_once(tmp_path: Path) -> None:
    sums = tmp_path / "SHA256SUMS"
    dest = tmp_path / "h.org" / "rib.bz2"
    dest.parent.mkdir()
    for _ in range(2):
        part = tmp_path / "h.org" / "rib.bz2.part"
        part.write_bytes(b"short")
        commit(part, dest, hashlib.sha256(b"short").hexdigest(), sums, "truncated_at_source")
    book = read_ledger(sums)
    assert book.sums == {"h.org/rib.bz2": hashlib.sha256(b"short").hexdigest()}
    assert (tmp_path / "SHA256SUMS.status").read_text() == "truncated_at_source  h.org/rib.bz2\n"
    assert recorded_status(dest, sums) == "truncated_at_source"
    other = tmp_path / "h.org" / "x.gz"
    part.write_bytes(b"x")
    commit(part, other, hashlib.sha256(b"x").hexdigest(), sums)
    assert recorded_status(other, sums) == "complete"
    with pytest.raises(UnrecordedFile):
        recorded_status(tmp_path / "h.org" / "never.gz", sums)


def test_verify_names_every_changed_file(tmp_path: Path) -> None:
    files = {"a.org/x.gz": b"one", "b.org/y.bz2": b"two", "c.org/z.7z": b"three"}
    sums = _record(tmp_path, files)
    ok = subprocess.run(
        [sys.executable, "-m", "takedowns.sources.ledger", "verify", str(sums)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0 and "3 files re-hashed, 0 changed" in ok.stdout
    for name in ("a.org/x.gz", "c.org/z.7z"):
        path = tmp_path / name
        st = path.stat()
        path.write_bytes(path.read_bytes()[::-1] + b"!")
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    (tmp_path / "b.org/y.bz2").unlink()
    bad = subprocess.run(
        [sys.executable, "-m", "takedowns.sources.ledger", "verify", str(sums)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    changed = [line for line in bad.stderr.splitlines() if line.startswith("CHANGED ")]
    assert len(changed) == 2
    assert "a.org/x.gz: sha256" in changed[0] and "c.org/z.7z: sha256" in changed[1]
    assert "absent  b.org/y.bz2" in bad.stdout
    result = verify_tree(sums)
    assert (result.checked, len(result.changed), result.missing) == (2, 2, ["b.org/y.bz2"])
