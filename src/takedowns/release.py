"""``make release``: one archive of the processed data, results and checksums, ready for a
data repository (e.g. Zenodo).

The archive holds ``data/processed`` (Parquet, datapackage.json, QC), ``results/``, the data
dictionary, README.md, CITATION.cff, LICENSE and a ``SHA256SUMS`` of every file in it. Raw
downloads are never included (several sources may not be redistributed), and a synthetic
run's archive says SYNTHETIC in its name.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path

from takedowns import __version__
from takedowns.config import REPO_ROOT

INCLUDE = ["data/processed", "results"]
DOCS = ["README.md", "CITATION.cff", "LICENSE", "data/dictionary.yaml", "data/reference"]


class ReleaseError(RuntimeError):
    """The directory holds no complete run to release."""


def _files(workdir: Path) -> list[tuple[Path, str]]:
    out: list[tuple[Path, str]] = []
    for top in INCLUDE:
        base = workdir / top
        out += [
            (p, p.relative_to(workdir).as_posix())
            for p in sorted(base.rglob("*"))
            if p.is_file() and not p.name.endswith(".tmp")
        ]
    for doc in DOCS:
        src = REPO_ROOT / doc
        paths = sorted(src.rglob("*")) if src.is_dir() else [src]
        out += [(p, p.relative_to(REPO_ROOT).as_posix()) for p in paths if p.is_file()]
    return out


def make_release(workdir: Path, dist: Path) -> Path:
    """Write ``dist/takedowns-<version>[-SYNTHETIC].tar.gz`` and return its path."""
    package = workdir / "data" / "processed" / "datapackage.json"
    if not package.exists():
        raise ReleaseError(f"{package} is missing: run the workflow to the end first")
    synthetic = "SYNTHETIC" in json.loads(package.read_text()).get("title", "")
    name = f"takedowns-{__version__}{'-SYNTHETIC' if synthetic else ''}"
    dist.mkdir(parents=True, exist_ok=True)
    out = dist / f"{name}.tar.gz"
    tmp = out.with_name(out.name + ".tmp")
    sums = []
    with tarfile.open(tmp, "w:gz") as tar:
        for path, arcname in _files(workdir):
            sums.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {arcname}")
            tar.add(path, arcname=f"{name}/{arcname}", recursive=False)
        data = ("\n".join(sums) + "\n").encode()
        info = tarfile.TarInfo(f"{name}/SHA256SUMS")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    tmp.replace(out)
    (dist / f"{out.name}.sha256").write_text(
        f"{hashlib.sha256(out.read_bytes()).hexdigest()}  {out.name}\n"
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--directory", type=Path, default=Path("."), help="the workflow's run")
    parser.add_argument("--dist", type=Path, default=Path("dist"))
    args = parser.parse_args(argv)
    try:
        print(make_release(args.directory, args.dist))
    except ReleaseError as exc:
        print(f"takedowns release: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
