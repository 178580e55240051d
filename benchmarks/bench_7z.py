"""7z member streaming: the libarchive reader against the hand-written one and 7-Zip itself.

Generates one solid LZMA2 7z archive (py7zr, preset 6: an 8 MiB dictionary) of
``--messages`` mail-sized messages in the trap's grammar (1-8 KB each, as
:mod:`benchmarks.bench_spam_headers` makes them) and streams every member through each
reader in a fresh process, keeping the first 64 KiB of each as ``normalize_archive`` does:

* ``libarchive``: :func:`takedowns.sources.containers.iter_member_heads` (the package's reader);
* ``hand-written``: the pure-Python reader the package used before (``stream7z.py``, read
  from the repository's history at :data:`HAND_WRITTEN_COMMIT` with ``git show``; skipped
  when git or that commit is not available);
* ``7zz``: the 7-Zip program, ``7zz x -so`` into a pipe that is read and dropped (skipped
  when not installed): a peer's speed, no member heads.

For each: whole-process wall time (interpreter start and imports included) and peak RSS
(``VmHWM``), and in-process time (the streaming loop alone) and the RSS the loop added over
the process after its imports. All readers must agree on the member count, the total size
and a CRC of the kept heads.

Run: ``.venv/bin/python -m benchmarks.bench_7z [--messages 200000] [--workdir DIR]``.
The archive is cached in ``--workdir`` (default: a temporary directory).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import py7zr

from benchmarks._common import REPO, report
from benchmarks.bench_spam_headers import corpus

#: The last commit whose tree holds the hand-written reader, ``src/takedowns/stream7z.py``.
HAND_WRITTEN_COMMIT = "818163f87eafb4e5b32bf2e7a1d68a225a9d925d"
HEAD_BYTES = 65536
_FILTERS = [{"id": py7zr.FILTER_LZMA2, "preset": 6}]

_STATUS = "dict(l.split(':', 1) for l in open('/proc/self/status') if l.startswith('Vm'))"
_CHILD = f"""
import json, sys, time, zlib
def kib(key):
    return int({_STATUS}[key].split()[0])
sys.path.insert(0, sys.argv[3])
if sys.argv[1] == "libarchive":
    from takedowns.sources.containers import iter_member_heads
    from takedowns.sources.containers import load_libarchive
    load_libarchive()
else:
    from stream7z import iter_member_heads
base = kib("VmRSS")
t = time.perf_counter()
count = total = crc = 0
for m in iter_member_heads(sys.argv[2], {HEAD_BYTES}):
    count += 1
    total += m.size
    crc = zlib.crc32(m.head, crc)
seconds = time.perf_counter() - t
print(json.dumps({{"seconds": seconds, "count": count, "total": total, "crc": crc,
                  "base_mb": base / 1024, "peak_mb": kib("VmHWM") / 1024}}))
"""
# 7-Zip as a child of a small Python process, whose wait4() gives its peak RSS.
_PEER = """
import json, os, subprocess, sys, time
t = time.perf_counter()
proc = subprocess.Popen([sys.argv[1], "x", "-so", "-bd", sys.argv[2]], stdout=subprocess.PIPE)
total = 0
while block := proc.stdout.read(1 << 20):
    total += len(block)
_, status, usage = os.wait4(proc.pid, 0)
print(json.dumps({"seconds": time.perf_counter() - t, "total": total, "status": status,
                  "peak_mb": usage.ru_maxrss / 1024}))
"""


def make_archive(path: Path, n: int) -> None:
    """A solid LZMA2 archive of ``n`` generated messages (written in batches of 20,000)."""
    if path.exists():
        return
    tmp = path.with_name(path.name + ".tmp")
    with py7zr.SevenZipFile(tmp, "w", filters=_FILTERS) as archive:
        for start in range(0, n, 20_000):
            for name, raw in corpus(min(20_000, n - start), seed=start + 1):
                archive.writestr(raw, name.replace(".", f".{start}", 1) if start else name)
    tmp.replace(path)


def hand_written_reader(workdir: Path) -> Path | None:
    """A folder holding ``stream7z.py`` from :data:`HAND_WRITTEN_COMMIT`, or None."""
    git = shutil.which("git")
    if git is None:
        return None
    shown = subprocess.run(
        [git, "-C", str(REPO), "show", f"{HAND_WRITTEN_COMMIT}:src/takedowns/stream7z.py"],
        capture_output=True,
    )  # fmt: skip
    if shown.returncode:
        return None
    folder = workdir / "hand_written"
    folder.mkdir(exist_ok=True)
    (folder / "stream7z.py").write_bytes(shown.stdout)
    return folder


def run(args: list[str]) -> tuple[float, dict]:
    """Whole-process wall time and the child's JSON line."""
    t = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    return time.perf_counter() - t, json.loads(done.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_7z_"))
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"spam_lzma2_{args.messages}.7z"
    t = time.perf_counter()
    make_archive(path, args.messages)
    print(f"archive: {path.stat().st_size / 1e6:.1f} MB ({time.perf_counter() - t:.0f} s to make)")

    numbers: dict[str, object] = {
        "messages": args.messages,
        "archive_mb": path.stat().st_size / 1e6,
    }
    readers = {"libarchive": workdir}
    if (folder := hand_written_reader(workdir)) is not None:
        readers["hand-written"] = folder
    else:
        print(f"hand-written reader skipped: git or commit {HAND_WRITTEN_COMMIT[:12]} missing")
    agreed = None
    for name, folder in readers.items():
        wall, child = run([sys.executable, "-c", _CHILD, name, str(path), str(folder)])
        seen = (child["count"], child["total"], child["crc"])
        assert child["count"] == args.messages, child
        assert agreed is None or seen == agreed, (name, seen, agreed)
        agreed = seen
        numbers[name] = {
            "whole_process_s": round(wall, 2),
            "whole_process_peak_rss_mb": round(child["peak_mb"]),
            "in_process_s": round(child["seconds"], 2),
            "in_process_added_rss_mb": round(child["peak_mb"] - child["base_mb"]),
            "members_per_s": round(args.messages / child["seconds"]),
        }
    program = shutil.which("7zz") or shutil.which("7z")
    if program is not None:
        wall, peer = run([sys.executable, "-c", _PEER, program, str(path)])
        assert peer["status"] == 0 and peer["total"] == agreed[1], (peer, agreed)
        numbers["7zz"] = {
            "whole_process_s": round(wall, 2),
            "peak_rss_mb": round(peer["peak_mb"]),
            "members_per_s": round(args.messages / peer["seconds"]),
        }
    else:
        print("7-Zip peer skipped: neither 7zz nor 7z is installed")
    if "hand-written" in numbers:
        ours, old = numbers["libarchive"], numbers["hand-written"]
        numbers["time_ratio_libarchive_over_hand_written"] = round(
            ours["in_process_s"] / old["in_process_s"], 2
        )
    report("bench_7z", numbers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
