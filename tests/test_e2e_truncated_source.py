"""End to end: a RouteViews RIB that the archive itself serves truncated (bz2 cut mid-stream).

The generated SYNTHETIC mirror of tests/test_end_to_end.py is copied and one selected RIB is
replaced by a real-format RIB cut inside its bz2 stream (the real 2008 sample's first MB when
it is available, else one written with the MRT writer). One workflow run per case asks only
for that file's routing QC record: with ``qc.allow_partial_files`` the file is used and QC
says ``partial``; without it the run fails naming both keys that could allow it.
"""

from __future__ import annotations

import bz2
import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest

from takedowns.config import REPO_ROOT, load_config
from takedowns.demo import snakemake_command
from takedowns.routing.listings import rib_days, routing_settings
from takedowns.sources.ledger import recorded_status
from takedowns.synthetic import mrt_writer as mw
from takedowns.synthetic.generate import generate_mirror
from takedowns.synthetic.server import serve

pytestmark = pytest.mark.e2e

E2E_CONFIG = REPO_ROOT / "tests" / "e2e.yaml"
REAL_RIB = REPO_ROOT.parent / "shared" / "realdata" / "routing" / "rib.20080501.0644_firstMB.bz2"


def truncated_rib() -> bytes:
    """A bz2 RIB cut mid-stream: the real sample when present, else a written one."""
    if REAL_RIB.is_file():
        return REAL_RIB.read_bytes()
    records = b"".join(
        mw.table_dump_v1(
            1209623040, f"12.{i // 256}.{i % 256}.0/24", "198.32.160.1", 3561, "3561 701 7018"
        )
        for i in range(20_000)
    )
    whole = bz2.compress(records, compresslevel=1)
    return whole[: len(whole) * 6 // 10]


def _selected_rib(root: Path, config: dict) -> Path:
    """The route-views2 RIB the workflow selects for the first RIB day (closest to rib_hour)."""
    day = rib_days(config)[0]
    target = dt.datetime.combine(day, dt.time()) + dt.timedelta(
        hours=float(routing_settings(config)["rib_hour"])
    )
    files = sorted(root.rglob(f"RIBS/rib.{day:%Y%m%d}.*.bz2"))
    assert files, f"no generated RIB for {day}"

    def distance(path: Path) -> tuple[float, str]:
        when = dt.datetime.strptime(path.name[4:17], "%Y%m%d.%H%M")
        return abs((when - target).total_seconds()), path.name

    return min(files, key=distance)


@pytest.fixture(scope="module")
def truncated_mirror(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("mirror")
    config = load_config(REPO_ROOT / "config" / "demo.yaml", E2E_CONFIG)
    generate_mirror(root, config, background_prefixes=800)
    victim = _selected_rib(root, config)
    victim.write_bytes(truncated_rib())
    return root, victim


def _run(work: Path, root: Path, target: str, allow_partial: bool) -> subprocess.CompletedProcess:
    overlay = work / "overlay.yaml"
    work.mkdir(parents=True, exist_ok=True)
    overlay.write_text(json.dumps({"qc": {"allow_partial_files": allow_partial}}))
    with serve(root) as server:
        cmd = snakemake_command(
            work,
            server.url,
            2,
            "--configfile",
            str(REPO_ROOT / "config" / "demo.yaml"),
            str(E2E_CONFIG),
            str(overlay),
            "--",
            target,
        )
        return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


def test_truncated_rib_is_used_as_partial_when_allowed(
    tmp_path: Path, truncated_mirror: tuple[Path, Path]
) -> None:
    root, victim = truncated_mirror
    work = tmp_path / "work"
    target = f"data/processed/qc/routing/route-views2/{victim.name}.json"
    result = _run(work, root, target, allow_partial=True)
    assert result.returncode == 0, result.stderr[-4000:]
    qc = json.loads((work / target).read_text())
    assert (qc["status"], qc["truncated"]) == ("partial", True)
    assert qc["note"].startswith("truncated_at_source")
    assert qc["records_read"] > 0
    raw = work / "data/raw" / victim.relative_to(root)
    assert raw.read_bytes() == victim.read_bytes()
    assert recorded_status(raw, work / "data/raw/SHA256SUMS") == "truncated_at_source"


def test_truncated_rib_fails_naming_both_keys(
    tmp_path: Path, truncated_mirror: tuple[Path, Path]
) -> None:
    root, victim = truncated_mirror
    work = tmp_path / "work"
    target = f"data/processed/qc/routing/route-views2/{victim.name}.json"
    result = _run(work, root, target, allow_partial=False)
    assert result.returncode != 0
    assert "truncated at the source" in result.stderr
    assert "qc.allow_partial_files" in result.stderr
    assert "routing.allow_missing_files" in result.stderr
    assert victim.name in result.stderr
    assert not (work / target).exists()
