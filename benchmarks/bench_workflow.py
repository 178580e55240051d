"""Workflow benchmarks on the demo (SYNTHETIC) data.

* the whole demo run from an empty directory (mirror generation excluded);
* a no-op re-run with everything up to date (aim: below 10 s).

Usage: python -m benchmarks.bench_workflow [--directory /tmp/takedowns-bench]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import time
from pathlib import Path

from benchmarks._common import report
from takedowns.config import load_config
from takedowns.demo import DEMO_CONFIG, snakemake_command
from takedowns.synthetic.generate import generate_mirror
from takedowns.synthetic.server import serve


def timed_run(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--directory", type=Path, default=Path("/tmp/takedowns-bench"))
    args = parser.parse_args()
    shutil.rmtree(args.directory, ignore_errors=True)
    mirror = args.directory / "mirror"
    scenario = generate_mirror(mirror, load_config(DEMO_CONFIG))
    work = args.directory / "work"
    with serve(mirror) as server:
        full = timed_run(snakemake_command(work, server.url, 2))
        noop = timed_run(snakemake_command(work, server.url, 2))
    jobs = len(list((work / "data/processed/qc").rglob("*.json")))
    report(
        "workflow",
        {
            "daily prefix2as files": len(scenario.days),
            "normalize jobs": jobs,
            "full demo run, 2 cores (s)": round(full, 1),
            "no-op re-run (s)": round(noop, 1),
        },
    )


if __name__ == "__main__":
    main()
