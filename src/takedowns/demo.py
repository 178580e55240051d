"""``make demo``: the whole workflow, offline, against a generated SYNTHETIC archive mirror.

Generates the mirror under ``<directory>/mirror``, serves it on 127.0.0.1, runs Snakemake in
``<directory>`` with ``config/demo.yaml`` (``synthetic: true``, so every output says it is
synthetic) and ``mirror=<server URL>``, then writes the Snakemake report.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from takedowns.config import REPO_ROOT, load_config
from takedowns.mirror.generate import SYNTHETIC_NOTE, generate_mirror
from takedowns.mirror.server import serve

DEMO_CONFIG = REPO_ROOT / "config" / "demo.yaml"


def snakemake_command(directory: Path, mirror: str, cores: int, *extra: str) -> list[str]:
    """The Snakemake command line of a run against ``mirror`` in ``directory``."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO_ROOT / "Snakefile"),
        "--directory",
        str(directory),
        "--configfile",
        str(DEMO_CONFIG),
        "--config",
        f"mirror={mirror}",
        "--cores",
        str(cores),
        *extra,
    ]


def run_demo(directory: Path, *, port: int = 0, cores: int = 2, fresh: bool = False) -> int:
    """Generate, serve and run; return Snakemake's exit status."""
    directory = directory.resolve()
    if fresh and directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "SYNTHETIC.txt").write_text(SYNTHETIC_NOTE, encoding="utf-8")
    mirror_root = directory / "mirror"
    if not (mirror_root / "SYNTHETIC.txt").exists():
        generate_mirror(mirror_root, load_config(DEMO_CONFIG), realistic_volume=True)
    with serve(mirror_root, port=port) as server:
        print(f"serving the SYNTHETIC mirror {mirror_root} at {server.url}", flush=True)
        status = subprocess.call(snakemake_command(directory, server.url, cores))
        if status == 0:
            report = directory / "results" / "report.html"
            status = subprocess.call(
                snakemake_command(directory, server.url, cores, "--report", str(report))
            )
            if status == 0:
                print(f"demo finished (SYNTHETIC data): {report}", flush=True)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--directory", type=Path, default=Path("demo"))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--fresh", action="store_true", help="delete the directory first")
    args = parser.parse_args(argv)
    return run_demo(args.directory, port=args.port, cores=args.cores, fresh=args.fresh)


if __name__ == "__main__":
    sys.exit(main())
