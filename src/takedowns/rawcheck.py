"""At the start of every run: raw files whose bytes changed since download are refused.

``data/raw/SHA256SUMS`` records every download. A file is re-hashed only when its size or
modification time differs from what the last check saw (kept in ``data/raw/.SHA256SUMS.stat``),
so a no-op re-run stays cheap; a changed file stops the run before any job, with its name,
whatever the workflow's dependency graph would rerun.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from takedowns.download import ChecksumMismatch, sha256_file

STAT_NAME = ".SHA256SUMS.stat"


def _recorded(checksums: Path) -> dict[str, str]:
    sums: dict[str, str] = {}
    for line in checksums.read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.lstrip("*")] = digest
    return sums


def check_raw_tree(checksums: Path = Path("data/raw/SHA256SUMS")) -> int:
    """Verify every recorded raw file that changed since the last check; return how many.

    Raises :class:`ChecksumMismatch` naming the first file whose bytes no longer match.
    A recorded file that is absent is left to the download rule (which compares anew).
    """
    if not checksums.exists():
        return 0
    root = checksums.parent
    stat_path = root / STAT_NAME
    seen: dict[str, list[int]] = {}
    if stat_path.exists():
        seen = json.loads(stat_path.read_text(encoding="utf-8"))
    checked = 0
    for name, digest in _recorded(checksums).items():
        path = root / name
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        stamp = [st.st_size, st.st_mtime_ns]
        if seen.get(name) == stamp:
            continue
        found = sha256_file(path)
        checked += 1
        if found != digest:
            raise ChecksumMismatch(
                f"{path}: sha256 {found} does not match {digest} recorded in {checksums}; "
                "raw files are never replaced silently (restore it, or delete it and its "
                "SHA256SUMS line to download it again)"
            )
        seen[name] = stamp
    tmp = stat_path.with_name(stat_path.name + ".tmp")
    tmp.write_text(json.dumps(seen, sort_keys=True), encoding="utf-8")
    os.replace(tmp, stat_path)
    return checked
