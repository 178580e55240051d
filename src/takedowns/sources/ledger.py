"""The raw-file ledger: ``data/raw/SHA256SUMS``, its status record, its stat cache, verify.

This module is the one reader and writer of ``SHA256SUMS``. Its guarantees:

* **One line per file, never rewritten.** ``SHA256SUMS`` is in ``sha256sum`` format
  (``<sha256>  <relpath>``, the path relative to the directory of ``SHA256SUMS``). Lines are
  only appended, under an exclusive ``flock`` of the file, and fsynced; the first line for a
  path wins.
* **A file and its line never disagree.** :func:`commit` renames a downloaded file into place
  while it holds that lock, and only when its sha256 equals the line already recorded (or when
  there is none, and then it appends the line in the same critical section). A different file
  raises :class:`ChecksumMismatch`: raw files are never replaced silently.
* **What is known about a file beyond its bytes** lives in ``SHA256SUMS.status`` (lines
  ``<status>  <relpath>``, appended under the same lock). A file without a status line is
  ``complete``; ``truncated_at_source`` marks a file the source itself serves short (every
  transfer gave the same bytes, of the announced length, and the container ends early).
  :func:`recorded_status` reads it.
* **A changed raw file stops the run.** :func:`check_raw_tree` runs before any job and
  re-hashes every recorded file whose size, mtime, ctime or inode differ from what its last
  check saw (``.SHA256SUMS.stat``); the ctime cannot be set back by a user, so a file edited
  and given back its old mtime (``os.utime``, ``touch -r``, ``rsync -t``) is re-hashed and
  refused. :func:`verify_tree` re-hashes every file whatever its stat says (``make verify``,
  ``python -m takedowns.sources.ledger verify data/raw/SHA256SUMS``).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from takedowns.errors import ChecksumMismatch, TruncatedAtSource, UnrecordedFile

#: The stat cache of :func:`check_raw_tree`, next to SHA256SUMS.
STAT_NAME = ".SHA256SUMS.stat"
#: What the ledger knows about a recorded file.
Status = Literal["complete", "truncated_at_source"]
STATUSES: tuple[Status, ...] = ("complete", "truncated_at_source")
_SUM_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *](.+)")
_STATUS_LINE = re.compile(r"([a-z_]+)  (.+)")


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    with Path(path).open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def status_path(checksums: Path) -> Path:
    """The status record next to ``checksums``: ``SHA256SUMS.status``."""
    return checksums.with_name(checksums.name + ".status")


def checksum_key(path: Path, checksums: Path) -> str:
    """The path as recorded in SHA256SUMS: relative to the SHA256SUMS directory.

    Raises ValueError naming both when ``path`` is not under that directory.
    """
    base = checksums.resolve().parent
    try:
        return Path(path).resolve().relative_to(base).as_posix()
    except ValueError:
        raise ValueError(f"{path} is not under {base}, the directory of {checksums}") from None


def parse_sums(text: str) -> dict[str, str]:
    """``{path: sha256}`` from sha256sum-format text; the first entry for a path wins."""
    sums: dict[str, str] = {}
    for line in text.splitlines():
        match = _SUM_LINE.fullmatch(line.strip("\r"))
        if match:
            sums.setdefault(match[2], match[1].lower())
    return sums


def parse_statuses(text: str) -> dict[str, Status]:
    """``{path: status}`` from a status record; unknown statuses are ignored."""
    statuses: dict[str, Status] = {}
    for line in text.splitlines():
        match = _STATUS_LINE.fullmatch(line.strip("\r"))
        if match and match[1] in STATUSES:
            statuses.setdefault(match[2], match[1])  # type: ignore[arg-type]
    return statuses


@dataclass(frozen=True)
class Ledger:
    """A snapshot of ``SHA256SUMS`` and its status record."""

    sums: dict[str, str]
    statuses: dict[str, Status]

    def status(self, key: str) -> Status:
        """The recorded status of ``key`` (``complete`` without a status line)."""
        return self.statuses.get(key, "complete")


@contextmanager
def _locked(checksums: Path, *, exclusive: bool) -> Iterator[tuple[Ledger, IO[str]]]:
    """Hold an flock on SHA256SUMS; yield the ledger and the (append-mode) handle."""
    checksums.parent.mkdir(parents=True, exist_ok=True)
    with checksums.open("a+" if exclusive else "r", encoding="utf-8") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        handle.seek(0)
        sums = parse_sums(handle.read())
        status_file = status_path(checksums)
        text = status_file.read_text(encoding="utf-8") if status_file.exists() else ""
        yield Ledger(sums, parse_statuses(text)), handle


def read_ledger(checksums: Path) -> Ledger:
    """The current ledger (empty when SHA256SUMS does not exist), read under a shared lock."""
    if not checksums.exists():
        return Ledger({}, {})
    with _locked(checksums, exclusive=False) as (ledger, _):
        return ledger


def _append(handle: IO[str], line: str) -> None:
    handle.write(line)
    handle.flush()
    os.fsync(handle.fileno())


def _mismatch(key: str, expected: str, found: str, checksums: Path) -> ChecksumMismatch:
    return ChecksumMismatch(
        f"{key}: sha256 {found} differs from {expected} recorded in {checksums}; raw files are "
        f"never replaced silently (remove the file and its line to accept the new version)"
    )


def commit(
    part: Path, dest: Path, sha: str, checksums: Path | None, status: Status = "complete"
) -> None:
    """Rename ``part`` -> ``dest``, recording (or checking) its sha256 and status under the lock.

    Raises :class:`ChecksumMismatch` (and leaves ``dest`` alone) when ``dest`` has another
    sha256 on record.
    """
    if checksums is None:
        os.replace(part, dest)
        return
    key = checksum_key(dest, checksums)
    with _locked(checksums, exclusive=True) as (ledger, handle):
        recorded = ledger.sums.get(key)
        if recorded is not None and recorded != sha:
            raise _mismatch(key, recorded, sha, checksums)
        os.replace(part, dest)
        if recorded is None:
            _append(handle, f"{sha}  {key}\n")
        if status != "complete" and key not in ledger.statuses:
            with status_path(checksums).open("a", encoding="utf-8") as record:
                _append(record, f"{status}  {key}\n")


def verify_raw(path: Path, checksums: Path) -> str:
    """Recompute ``path``'s sha256 and compare it with SHA256SUMS; return it.

    Raises UnrecordedFile when the file has no entry, ChecksumMismatch when it differs.
    """
    key = checksum_key(path, checksums)
    if not checksums.exists():
        raise UnrecordedFile(f"{key}: no entry in {checksums} (the file does not exist)")
    recorded = read_ledger(checksums).sums.get(key)
    if recorded is None:
        raise UnrecordedFile(f"{key}: no entry in {checksums}")
    found = sha256_file(path)
    if found != recorded:
        raise _mismatch(key, recorded, found, checksums)
    return found


def recorded_sha(path: Path, checksums: Path) -> str | None:
    """The sha256 recorded for ``path`` (None when it has no line)."""
    return read_ledger(checksums).sums.get(checksum_key(path, checksums))


def recorded_status(path: Path, checksums: Path) -> Status:
    """``complete`` or ``truncated_at_source``: what SHA256SUMS(.status) says about ``path``.

    Raises UnrecordedFile when the file has no SHA256SUMS line.
    """
    key = checksum_key(path, checksums)
    ledger = read_ledger(checksums)
    if key not in ledger.sums:
        raise UnrecordedFile(f"{key}: no entry in {checksums}")
    return ledger.status(key)


def truncated_at_source_error(name: str) -> TruncatedAtSource:
    """The error for a file recorded ``truncated_at_source`` that the config does not allow."""
    return TruncatedAtSource(
        f"{name}: truncated at the source (every transfer gave the same bytes, as long as the "
        "server announced, and the compressed stream ends early); set "
        "qc.allow_partial_files: true to use its complete records (QC status 'partial'), or "
        "routing.allow_missing_files: true to count a routing file as missing"
    )


# --------------------------------------------------------------------------------------------
# The start-of-run check and the full verification


def _stamp(st: os.stat_result) -> list[int]:
    """What a file's bytes cannot change without changing: size, mtime, ctime, inode."""
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _changed_message(path: Path, found: str, digest: str, checksums: Path) -> str:
    return (
        f"{path}: sha256 {found} does not match {digest} recorded in {checksums}; "
        "raw files are never replaced silently (restore it, or delete it and its "
        "SHA256SUMS line to download it again)"
    )


def check_raw_tree(checksums: Path = Path("data/raw/SHA256SUMS")) -> int:
    """Verify every recorded raw file that changed since the last check; return how many.

    "Changed" means its size, mtime, ctime or inode differ from the last check's. Raises
    :class:`ChecksumMismatch` naming the first file whose bytes no longer match. A recorded
    file that is absent is left to the download rule (which compares anew).
    """
    if not checksums.exists():
        return 0
    root = checksums.parent
    stat_path = root / STAT_NAME
    seen: dict[str, list[int]] = {}
    if stat_path.exists():
        try:
            seen = json.loads(stat_path.read_text(encoding="utf-8"))
        except ValueError:
            seen = {}  # a damaged cache only costs a full re-hash
    checked = 0
    for name, digest in read_ledger(checksums).sums.items():
        path = root / name
        try:
            stamp = _stamp(path.stat())
        except FileNotFoundError:
            continue
        if seen.get(name) == stamp:
            continue
        found = sha256_file(path)
        checked += 1
        if found != digest:
            raise ChecksumMismatch(_changed_message(path, found, digest, checksums))
        seen[name] = stamp
    # a temporary name of this writer's own: runs of the workflow may check at the same time
    fd, tmp = tempfile.mkstemp(dir=root, prefix=STAT_NAME + ".", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(seen, sort_keys=True))
    os.replace(tmp, stat_path)
    return checked


@dataclass(frozen=True)
class Verification:
    """What :func:`verify_tree` found: files checked, changed (messages) and absent."""

    checked: int
    changed: list[str]
    missing: list[str]


def verify_tree(checksums: Path) -> Verification:
    """Re-hash every recorded raw file, whatever its stat says."""
    if not checksums.exists():
        raise FileNotFoundError(f"{checksums}: no such file (nothing was downloaded here)")
    root = checksums.parent
    checked, changed, missing = 0, [], []
    for name, digest in read_ledger(checksums).sums.items():
        path = root / name
        if not path.is_file():
            missing.append(name)
            continue
        found = sha256_file(path)
        checked += 1
        if found != digest:
            changed.append(_changed_message(path, found, digest, checksums))
    return Verification(checked, changed, missing)


def main(argv: list[str] | None = None) -> int:
    """``python -m takedowns.sources.ledger verify data/raw/SHA256SUMS``: exit 1 naming changed
    files."""
    parser = argparse.ArgumentParser(
        prog="python -m takedowns.sources.ledger", description="Check raw files against SHA256SUMS."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    verify = sub.add_parser("verify", help="re-hash every recorded raw file")
    verify.add_argument("checksums", type=Path, nargs="?", default=Path("data/raw/SHA256SUMS"))
    args = parser.parse_args(argv)
    try:
        result = verify_tree(args.checksums)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for message in result.changed:
        print(f"CHANGED {message}", file=sys.stderr)
    for name in result.missing:
        print(f"absent  {name} (recorded, not on disk; the workflow downloads it again)")
    print(
        f"{args.checksums}: {result.checked} files re-hashed, {len(result.changed)} changed, "
        f"{len(result.missing)} absent"
    )
    return 1 if result.changed else 0


if __name__ == "__main__":
    sys.exit(main())
