"""Job logs: a decorated job writes its run, its errors and its closing line to the rule's log."""

from __future__ import annotations

from pathlib import Path

import pytest

from takedowns.joblog import LOGGER, logged_job


@logged_job
def _job(out: Path, *, fail: bool = False) -> int:
    LOGGER.info("writing %s", out.name)
    if fail:
        raise ValueError(f"{out.name}: cannot be written")
    out.write_text("x", encoding="utf-8")
    return 7


def test_a_logged_job_writes_its_log(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "job.log"
    assert _job(tmp_path / "a.txt", log=log) == 7
    text = log.read_text(encoding="utf-8")
    assert "writing a.txt" in text and "_job finished in" in text


def test_a_failing_job_leaves_its_error_in_the_log(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    with pytest.raises(ValueError, match="cannot be written"):
        _job(tmp_path / "b.txt", fail=True, log=log)
    assert "ERROR" in log.read_text(encoding="utf-8")
    assert "b.txt: cannot be written" in log.read_text(encoding="utf-8")
    assert _job(tmp_path / "c.txt") == 7  # without a log: the package logger only


def test_a_logged_job_gets_paths_where_it_declares_them(tmp_path: Path) -> None:
    from collections.abc import Sequence

    seen: dict[str, object] = {}

    @logged_job
    def job(*, table: Path, tables: Sequence[Path], out: Path | None, name: str) -> None:
        seen.update(table=table, tables=tables, out=out, name=name)

    # as a rule hands them over: strings, and a list of strings
    job(table="a.parquet", tables=["b.csv", "c.csv"], out=None, name="x", log=tmp_path / "l")
    assert seen == {
        "table": Path("a.parquet"),
        "tables": [Path("b.csv"), Path("c.csv")],
        "out": None,
        "name": "x",
    }
    assert "job finished in" in (tmp_path / "l").read_text()
