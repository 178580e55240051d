"""Peak memory while streaming spam-trap archives of growing size through normalize_archive.

Generates solid 7z archives (py7zr, LZMA2) of N messages in the trap's grammar (1-8 KB
each, as :mod:`benchmarks.bench_spam_headers` makes them) and normalizes each one in a fresh
process, reporting its peak RSS (``ru_maxrss``) and throughput. Memory should stay flat as
N grows: only the archive's compact member index (~100 bytes per member) grows with N.

Run: ``.venv/bin/python -m benchmarks.bench_spam_memory [--sizes 25000 100000 200000]``.
Archives are cached in ``--workdir`` (default: a temporary directory).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import py7zr

from benchmarks.bench_spam_headers import corpus

# Peak RSS from /proc/self/status VmHWM: it starts afresh at exec, unlike ru_maxrss, which
# Linux carries over from the (large) parent process across fork and exec.
_HWM = "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])"
_CHILD = f"""
import json, sys, time
from pathlib import Path
from takedowns.spamtrap.archive import normalize_archive
t = time.perf_counter()
qc = normalize_archive(Path(sys.argv[1]), Path(sys.argv[2]))
elapsed = time.perf_counter() - t
print(json.dumps({{"rss_mb": {_HWM} / 1024, "seconds": elapsed, "kept": qc.records_kept}}))
"""


def make_archive(path: Path, n: int) -> None:
    if path.exists():
        return
    tmp = path.with_name(path.name + ".tmp")
    with py7zr.SevenZipFile(tmp, "w") as archive:
        for start in range(0, n, 20_000):
            for name, raw in corpus(min(20_000, n - start), seed=start + 1):
                archive.writestr(raw, name.replace(".", f".{start}", 1) if start else name)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[25_000, 100_000, 200_000])
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_spam_memory_"))
    workdir.mkdir(parents=True, exist_ok=True)
    baseline = subprocess.run(
        [sys.executable, "-c", f"import takedowns.spamtrap.archive; print({_HWM} / 1024)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    print(f"baseline RSS after imports: {float(baseline.stdout):.0f} MB")
    print(f"{'messages':>10} {'archive MB':>11} {'data MB':>9} {'peak RSS MB':>12} {'msg/s':>9}")
    for n in args.sizes:
        path = workdir / f"spam_{n}.7z"
        t = time.perf_counter()
        make_archive(path, n)
        made = time.perf_counter() - t
        with py7zr.SevenZipFile(path) as archive:
            data_mb = archive.archiveinfo().uncompressed / 1e6
        result = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path), str(workdir / f"spam_{n}.parquet")],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        stats = json.loads(result.stdout)
        assert stats["kept"] == n, stats
        print(
            f"{n:>10,} {path.stat().st_size / 1e6:>11.1f} {data_mb:>9.0f} "
            f"{stats['rss_mb']:>12.0f} {n / stats['seconds']:>9,.0f}"
            + (f"   (archive written in {made:.0f} s)" if made > 1 else "")
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
