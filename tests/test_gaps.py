"""Gaps are QC with a threshold: pfx2as days, registry months and RIB days that could not be
had are listed in a gap record (``data/processed/qc/gaps/<stage>.json``, stage ``gaps`` in
``qc_files.parquet``), and past ``qc.max_missing_share`` the run stops with the list.

The jobs run as the workflow runs them (from a working directory holding ``data/raw`` and
its SHA256SUMS); registry files come from the loopback mirror.
"""

from __future__ import annotations

import bz2
import copy
import datetime as dt
import gzip
import hashlib
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from takedowns import jobs
from takedowns.config import REPO_ROOT, ConfigError, load_config, validate_config
from takedowns.errors import HTTPStatusError
from takedowns.paths import raw_relpath
from takedowns.prefix2as.caida import day_gaps, read_creation_log, select_snapshots
from takedowns.qc import GAP_STAGE, TooManyMissing, enforce_gap_limit, gap_qc, qc_table, read_qc
from takedowns.routing.listings import (
    SELECTION_SCHEMA,
    collectors,
    rib_days,
    rib_gaps,
    write_selection,
)
from takedowns.sources.fetch import mirror_url
from takedowns.sources.registry import prefix2as_creation_log_url
from takedowns.spamtrap.delegations import month_gaps, registry_months
from takedowns.study import selected_days, selected_months
from takedowns.synthetic import serve

BASE = "https://publicdata.caida.org/datasets/routing/routeviews-prefix2as"
#: One registry month in the demo: a small, valid delegated file.
DELEGATED = """\
2|ripencc|20071001|1|19830705|20070930|+0100
ripencc|*|ipv4|*|1|summary
ripencc|RU|ipv4|81.95.144.0|4096|20050405|allocated
"""


@pytest.fixture
def config() -> dict[str, Any]:
    return copy.deepcopy(
        load_config(REPO_ROOT / "config" / "demo.yaml", REPO_ROOT / "tests" / "e2e.yaml")
    )


def _record(workdir: Path, rel: Path, data: bytes) -> Path:
    """Put a raw file under ``workdir/data/raw`` and record it in SHA256SUMS, as a download."""
    path = workdir / "data" / "raw" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    with (workdir / "data" / "raw" / "SHA256SUMS").open("a") as sums:
        sums.write(f"{hashlib.sha256(data).hexdigest()}  {rel.as_posix()}\n")
    return path


def _creation_log(days: list[dt.date]) -> str:
    lines = ["# CAIDA RouteViews prefix2as creation log", "# seq\tunix_ts\tpath"]
    for seq, day in enumerate(days, 1000):
        stamp = int(dt.datetime(day.year, day.month, day.day, 15, tzinfo=dt.UTC).timestamp())
        lines.append(f"{seq}\t{stamp}\t{day:%Y/%m}/routeviews-rv2-{day:%Y%m%d}-1200.pfx2as.gz")
    return "\n".join(lines) + "\n"


def _packed(url: str, text: str) -> bytes:
    """A delegated file's bytes, compressed as its URL says (the archives' layout)."""
    if url.endswith(".bz2"):
        return bz2.compress(text.encode())
    if url.endswith(".gz"):
        return gzip.compress(text.encode(), mtime=0)
    return text.encode()


# --- the record and the threshold ------------------------------------------------------------


def test_gap_record_counts_and_lists_the_missing() -> None:
    qc = gap_qc("prefix2as", ["a", "b", "c", "d"], ["b", "d"], unit="day")
    assert (qc.stage, qc.source_file, qc.status) == (GAP_STAGE, "prefix2as", "gaps")
    assert (qc.records_read, qc.records_kept, qc.skipped) == (4, 2, {"missing_day": 2})
    assert qc.note == "2 of 4 days missing: b, d"
    whole = gap_qc("routing", ["a"], [], unit="RIB day")
    assert whole.status == "ok" and whole.note == "" and whole.records_kept == 1
    cut = gap_qc("prefix2as", ["a"], [], unit="day", truncated=True, extra_note="log cut")
    assert cut.status == "suspect" and cut.truncated and cut.note == "log cut"


def test_threshold_names_the_key_stage_count_and_first_items() -> None:
    days = [f"2008-01-{d:02d}" for d in range(1, 21)]
    qc = gap_qc("prefix2as", days, days[:1], unit="day")
    enforce_gap_limit(qc, days[:1], 0.05)  # 1 of 20 = 5 %: allowed
    qc = gap_qc("prefix2as", days, days[:7], unit="day")
    with pytest.raises(TooManyMissing) as info:
        enforce_gap_limit(qc, days[:7], 0.05)
    message = str(info.value)
    assert message.startswith("stage 'prefix2as': 7 of 20 days missing (35.0%)")
    assert "qc.max_missing_share=0.05" in message and "\n" not in message
    assert "first missing: 2008-01-01, 2008-01-02, 2008-01-03, 2008-01-04, 2008-01-05 ..." in (
        message
    )


@pytest.mark.parametrize("value", [-0.1, 1.5, "a lot"])
def test_max_missing_share_is_a_share(config: dict[str, Any], value: Any) -> None:
    config["qc"]["max_missing_share"] = value
    with pytest.raises(ConfigError, match=r"^config key 'qc\.max_missing_share'"):
        validate_config(config)


def test_concentration_list_cannot_be_optional(config: dict[str, Any]) -> None:
    assert config["qc"]["max_missing_share"] == 0.05  # the schema default
    assert config["blocklists"]["lists"]["spamhaus_drop"]["optional"] is False
    config["blocklists"]["lists"]["et_rbn"]["optional"] = True
    validate_config(config)
    config["blocklists"]["lists"]["spamhaus_drop"]["optional"] = True
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    assert str(info.value).startswith("config key 'blocklists.lists.spamhaus_drop.optional'")
    assert "\n" not in str(info.value)


# --- pfx2as days -----------------------------------------------------------------------------


def test_creation_log_cut_mid_line_is_flagged(tmp_path: Path) -> None:
    days = [dt.date(2008, 5, d) for d in range(1, 5)]
    log = tmp_path / "pfx2as-creation.log"
    text = _creation_log(days)
    log.write_text(text[: text.rindex("rv2-2008")])  # the last line stops mid-name
    listed, note = read_creation_log(log, BASE)
    assert listed["day"].to_list() == days[:3]
    assert "ends mid-line" in note and "cut last line was dropped" in note
    qc, missing = day_gaps(select_snapshots(listed, days), days, log_note=note)
    assert missing == ["2008-05-04"] and qc.truncated and qc.status == "gaps"
    assert "1 of 4 days missing: 2008-05-04" in qc.note and "ends mid-line" in qc.note
    log.write_text(text.rstrip("\n"))  # complete, but without its newline: kept, flagged
    listed, note = read_creation_log(log, BASE)
    assert listed.height == 4 and "ends without a newline" in note
    log.write_text(text)
    assert read_creation_log(log, BASE)[1] == ""


def _manifest_job(
    workdir: Path, config: dict[str, Any], log_text: str, monkeypatch: pytest.MonkeyPatch
) -> Path:
    rel = raw_relpath(prefix2as_creation_log_url(config))
    raw = _record(workdir, rel, log_text.encode())
    monkeypatch.chdir(workdir)
    record = workdir / "data/processed/qc/gaps_found/prefix2as.json"
    gaps = workdir / "data/processed/qc/gaps/prefix2as.json"
    jobs.prefix2as_manifest(
        creation_log=raw.relative_to(workdir),
        out=Path("data/processed/manifests/p.csv"),
        config=config,
        gaps_out=record,
    )
    jobs.check_gaps(record=record, out=gaps, config=config)  # the threshold, a job of its own
    return gaps


def test_cut_creation_log_past_the_share_stops_with_the_list(
    tmp_path: Path, config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    days = selected_days(config)
    text = _creation_log(days)
    cut = text[: len(text) // 2]  # cut mid-file, mid-line: about half the days are lost
    with pytest.raises(TooManyMissing) as info:
        _manifest_job(tmp_path, config, cut, monkeypatch)
    listed, _ = read_creation_log(tmp_path / "data/raw" / raw_relpath(
        prefix2as_creation_log_url(config)), BASE)  # fmt: skip
    lost = [d for d in days if d not in set(listed["day"].to_list())]
    assert len(lost) > 0.05 * len(days)
    message = str(info.value)
    assert f"stage 'prefix2as': {len(lost)} of {len(days)} days missing" in message
    assert "qc.max_missing_share=0.05" in message and lost[0].isoformat() in message
    assert "itself cut short" in message
    assert not (tmp_path / "data/processed/qc/gaps/prefix2as.json").exists()
    record = read_qc(tmp_path / "data/processed/qc/gaps_found/prefix2as.json")
    assert record.truncated and record.status == "gaps"
    assert record.skipped == {"missing_day": len(lost)}
    assert f"{len(lost)} of {len(days)} days missing: {lost[0].isoformat()}" in record.note
    assert lost[-1].isoformat() in record.note and "ends mid-line" in record.note


def test_few_missing_days_are_listed_and_the_run_goes_on(
    tmp_path: Path, config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    days = selected_days(config)
    lost = [days[5], days[40]]
    gaps = _manifest_job(
        tmp_path, config, _creation_log([d for d in days if d not in lost]), monkeypatch
    )
    record = read_qc(gaps)
    assert record.status == "gaps" and not record.truncated
    assert record.note == f"2 of {len(days)} days missing: {lost[0]}, {lost[1]}"
    manifest = pl.read_csv(tmp_path / "data/processed/manifests/p.csv")
    assert manifest.height == len(days) - 2
    table = qc_table([gaps])  # as qc_files.parquet holds it
    assert table.row(0, named=True)["records_skipped"] == 2
    assert table["stage"].to_list() == ["gaps"]
    # The threshold is config: none allowed now.
    config["qc"]["max_missing_share"] = 0.0
    with pytest.raises(TooManyMissing, match="2 of 93 days missing"):
        _manifest_job(tmp_path / "again", config, _creation_log(days[:-2]), monkeypatch)


# --- registry months -------------------------------------------------------------------------


def _delegation_jobs(
    workdir: Path, config: dict[str, Any], lacking: set[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[list[Path], list[Path]]:
    """Run the delegated-file job for every registry month of the demo through the mirror,
    whose tree lacks the files of ``lacking`` registries; return the tables and QC paths."""
    months = selected_months(config)
    root = workdir / "mirror"
    for registry, month in registry_months(config, months):
        if registry not in lacking:
            url = _file_url(config, registry, month)
            path = root / raw_relpath(url)
            path.parent.mkdir(parents=True, exist_ok=True)
            text = DELEGATED.replace("ripencc", registry).replace("20071001", f"{month:%Y%m%d}")
            path.write_bytes(_packed(url, text))
    monkeypatch.chdir(workdir)
    tables, qcs = [], []
    with serve(root) as server:
        cfg = {**config, "mirror": server.url}
        for registry, month in registry_months(cfg, months):
            table = Path(f"data/processed/delegations/{registry}/{month:%Y%m}.parquet")
            qc = Path(f"data/processed/qc/delegations/{registry}/{month:%Y%m}.json")
            jobs.delegated_month(
                registry=registry, month=f"{month:%Y%m}", out=table, qc_out=qc, config=cfg
            )
            tables.append(table)
            qcs.append(qc)
    return tables, qcs


def _file_url(config: dict[str, Any], registry: str, month) -> str:
    """The URL of the registry's file of the 1st in its first candidate directory."""
    directory = config["sources"]["rir_delegated"]["directories"][registry][0]
    return directory.format(year=f"{month:%Y}") + f"delegated-{registry}-{month:%Y%m%d}"


def test_registry_months_without_a_file_are_gaps(
    tmp_path: Path, config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    config["sources"]["rir_delegated"]["registries"] = ["afrinic", "ripencc"]
    config["qc"]["max_missing_share"] = 0.5
    tables, qcs = _delegation_jobs(tmp_path, config, {"afrinic"}, monkeypatch)
    months = selected_months(config)
    statuses = {str(q): read_qc(q).status for q in qcs}
    assert sorted(set(statuses.values())) == ["missing", "ok"]
    afrinic = read_qc(qcs[0])
    assert afrinic.status == "missing" and "HTTP 404/410" in afrinic.note
    assert "listings read: none" in afrinic.note  # no candidate directory was there
    ripencc = read_qc(qcs[1])
    assert "the file nearest" in ripencc.note and "listings read:" in ripencc.note
    assert pl.read_parquet(tables[0]).height == 0
    found = Path("data/processed/qc/gaps_found/delegations.json")
    gaps_out = Path("data/processed/qc/gaps/delegations.json")
    jobs.ip_country(
        tables=tables,
        qc_paths=qcs,
        out=Path("data/processed/ip_country.parquet"),
        config=config,
        gaps_out=found,
    )
    jobs.check_gaps(record=found, out=gaps_out, config=config)
    record = read_qc(gaps_out)
    expected = [f"afrinic {m:%Y-%m}" for m in months]
    assert record.skipped == {"missing_registry month": len(months)}
    assert record.note == f"{len(months)} of {2 * len(months)} registry months missing: " + (
        ", ".join(expected)
    )
    ip_country = pl.read_parquet("data/processed/ip_country.parquet")
    assert set(ip_country["registry"]) == {"ripencc"} and ip_country.height == len(months)
    assert month_gaps(qcs)[1] == expected
    config["qc"]["max_missing_share"] = 0.05
    with pytest.raises(TooManyMissing) as info:
        jobs.check_gaps(record=found, out=gaps_out, config=config)
    assert f"stage 'delegations': {len(months)} of {2 * len(months)} registry months" in str(
        info.value
    )
    assert "first missing: afrinic 2007-10" in str(info.value)


def test_a_server_error_on_a_registry_file_still_fails(
    tmp_path: Path, config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only "the archive does not have it" (404/410) is a gap; anything else stops the job."""
    config["sources"]["rir_delegated"]["registries"] = ["ripencc"]
    config["download"].update(retries=0, backoff_seconds=0.01)
    root = tmp_path / "mirror"
    _, month = registry_months(config, selected_months(config))[0]
    url = _file_url(config, "ripencc", month)
    (root / raw_relpath(url)).parent.mkdir(parents=True)
    (root / raw_relpath(url)).write_bytes(_packed(url, DELEGATED))
    monkeypatch.chdir(tmp_path)
    with serve(root) as server:
        path = mirror_url(url, server.url).removeprefix(server.url)
        server.faults[path] = [("status", 500, {}, b"")] * 5
        with pytest.raises(HTTPStatusError, match="500"):
            jobs.delegated_month(
                registry="ripencc",
                month=f"{month:%Y%m}",
                out=Path("t.parquet"),
                qc_out=Path("q.json"),
                config={**config, "mirror": server.url},
            )
    assert not Path("q.json").exists()


# --- RIB days --------------------------------------------------------------------------------


def _selection(pairs: list[tuple[str, dt.date]]) -> pl.DataFrame:
    rows = [
        {
            "collector": c,
            "kind": "rib",
            "name": f"rib.{d:%Y%m%d}.0800.bz2",
            "url": f"http://example.org/{c}/rib.{d:%Y%m%d}.0800.bz2",
            "file_time": dt.datetime(d.year, d.month, d.day, 8, tzinfo=dt.UTC),
            "size_bytes": 1,
            "listed_time": dt.datetime(d.year, d.month, d.day, 9, tzinfo=dt.UTC),
            "listing_url": f"http://example.org/{c}/",
            "event_id": None,
            "day": d,
            "raw_path": f"data/raw/example.org/{c}/rib.{d:%Y%m%d}.0800.bz2",
        }
        for c, d in pairs
    ]
    return pl.DataFrame(rows, schema=SELECTION_SCHEMA)


def test_rib_days_without_a_dump_are_gaps(
    tmp_path: Path, config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    days, names = rib_days(config), collectors(config)
    lost = [("rrc00", days[3]), ("route-views2", days[10])]
    pairs = [(c, d) for c in names for d in days if (c, d) not in lost]
    qc, missing = rib_gaps(_selection(pairs), config)
    assert missing == [f"route-views2 {days[10]}", f"rrc00 {days[3]}"]
    assert qc.records_read == len(names) * len(days) and qc.records_kept == len(pairs)
    assert qc.note.startswith(f"2 of {len(names) * len(days)} RIB days missing: route-views2")
    monkeypatch.chdir(tmp_path)
    write_selection(_selection(pairs), Path("sel.csv"))
    jobs.routing_gaps(
        selections=[Path("sel.csv")], out=Path("gaps.json"), config=config
    )  # 2 of 62: 3.2 %
    assert read_qc(Path("gaps.json")).skipped == {"missing_RIB day": 2}
    few = [(c, d) for c, d in pairs if d not in days[:5]]
    write_selection(_selection(few), Path("sel.csv"))
    with pytest.raises(TooManyMissing, match=r"stage 'routing': 11 of 62 RIB days missing"):
        jobs.routing_gaps(selections=[Path("sel.csv")], out=Path("gaps.json"), config=config)
