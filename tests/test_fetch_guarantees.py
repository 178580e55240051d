"""The download layer's guarantees under concurrency, changed files, slow servers and files
truncated at the source, against the loopback mirror."""

from __future__ import annotations

import bz2
import dataclasses
import errno
import gzip
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from download_support import PFX2AS, RIB, SPAM, fast_policy, payload
from takedowns import jobs
from takedowns.errors import (
    ContentError,
    CorruptContent,
    DeadlineExceeded,
    LocalFileError,
    TruncatedAtSource,
)
from takedowns.paths import raw_relpath
from takedowns.qc import read_qc
from takedowns.routing import mrt
from takedowns.sources import fetch as fetch_module
from takedowns.sources.fetch import FetchResult, fetch, mirror_url
from takedowns.sources.fetch_policy import DownloadPolicy, policy_for_host
from takedowns.sources.ledger import read_ledger, recorded_status
from takedowns.synthetic import MirrorServer, serve
from takedowns.synthetic import mrt_writer as mw
from takedowns.synthetic.server import RequestRecord

BLOB = "http://archive.routeviews.org/bgpdata/2008.05/RIBS/rib.20080501.0644.mrt"
FAST = fast_policy(3)


def rib_records(count: int) -> bytes:
    """``count`` TABLE_DUMP (v1) entries of one route-views2 peer, as in a 2008 RIB."""
    return b"".join(
        mw.table_dump_v1(
            1209623040, f"12.{i // 256}.{i % 256}.0/24", "198.32.160.1", 3561, "3561 701 7018"
        )
        for i in range(count)
    )


def truncated_rib_bz2(count: int = 20_000, keep: float = 0.6) -> bytes:
    """A bz2-compressed RIB cut mid-stream: several whole bz2 blocks, then half of one."""
    whole = bz2.compress(rib_records(count), compresslevel=1)
    return whole[: int(len(whole) * keep)]


class Mirror:
    """A served tree plus the local raw directory the tests download into."""

    def __init__(self, server: MirrorServer, root: Path, raw: Path) -> None:
        self.server, self.root, self.raw = server, root, raw
        self.checksums = raw / "SHA256SUMS"

    def put(self, url: str, data: bytes, mtime: float | None = None) -> Path:
        path = self.root / raw_relpath(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        return path

    def dest(self, url: str) -> Path:
        return self.raw / raw_relpath(url)

    def log(self, url: str) -> list[RequestRecord]:
        path = mirror_url(url, self.server.url).removeprefix(self.server.url)
        return self.server.requests.for_path(path)

    def fault(self, url: str, *faults: tuple[object, ...]) -> None:
        path = mirror_url(url, self.server.url).removeprefix(self.server.url)
        self.server.faults[path] = list(faults)

    def fetch(self, url: str, policy: DownloadPolicy = FAST, **kw: Any) -> FetchResult:
        kw.setdefault("checksums", self.checksums)
        return fetch(url, self.dest(url), mirror=self.server.url, policy=policy, **kw)


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    root = tmp_path / "mirror"
    root.mkdir()
    with serve(root) as server:
        yield Mirror(server, root, tmp_path / "raw")


# --- 1. two fetches of one destination at once ------------------------------------------------


def test_concurrent_fetches_of_one_file_make_one_transfer(mirror: Mirror) -> None:
    body = bz2.compress(payload(200_000))
    mirror.put(RIB, body)
    mirror.fault(RIB, ("drip", 20_000, 0.1))  # the first transfer takes about a second
    results: list[FetchResult] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(mirror.fetch(RIB))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
        time.sleep(0.2)  # the second starts while the first is mid-transfer
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(r.reused for r in results) == [False, True]
    assert [r.status for r in mirror.log(RIB)] == [200]  # one transfer
    assert mirror.dest(RIB).read_bytes() == body
    sha = hashlib.sha256(body).hexdigest()
    assert mirror.checksums.read_text() == f"{sha}  {raw_relpath(RIB)}\n"
    assert not mirror.dest(RIB).with_name(mirror.dest(RIB).name + ".part").exists()
    assert sorted(p.name for p in mirror.dest(RIB).parent.iterdir()) == [mirror.dest(RIB).name]


# --- 2. a partial file is only resumed into the same version ----------------------------------


def _partial_from_an_earlier_run(mirror: Mirror, url: str, cut: int) -> Path:
    mirror.fault(url, ("reset_after", cut))
    with pytest.raises(fetch_module.DownloadError):
        mirror.fetch(url, dataclasses.replace(FAST, retries=0))
    part = mirror.dest(url).with_name(mirror.dest(url).name + ".part")
    assert part.stat().st_size == cut and part.with_name(part.name + ".json").exists()
    return part


def test_part_of_an_old_version_is_not_resumed_into_the_new_one(mirror: Mirror) -> None:
    old, new = payload(100_000, seed=1), payload(100_000, seed=2)  # same length
    mirror.put(BLOB, old, mtime=1_209_600_000)
    _partial_from_an_earlier_run(mirror, BLOB, 40_000)
    mirror.put(BLOB, new, mtime=1_209_700_000)  # the server's file changed since
    result = mirror.fetch(BLOB)
    assert result.path.read_bytes() == new
    assert result.resumed is False
    resume = mirror.log(BLOB)[1]
    assert resume.headers["Range"] == "bytes=40000-" and resume.headers["If-Range"]
    assert resume.status == 200  # If-Range did not match: the whole new file


def test_resume_refuses_a_content_range_of_another_length(mirror: Mirror) -> None:
    body = payload(100_000, seed=3)
    mirror.put(BLOB, body)
    part = _partial_from_an_earlier_run(mirror, BLOB, 30_000)
    sidecar = part.with_name(part.name + ".json")
    saved = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**saved, "length": 100_500}))  # saved for another size
    result = mirror.fetch(BLOB)
    assert result.path.read_bytes() == body
    assert [r.status for r in mirror.log(BLOB)[1:]] == [206, 200]


# --- 3. a corrupt 7z is refused and fetched again, never recorded -----------------------------


def _spam_archive(tmp_path: Path) -> bytes:
    py7zr = pytest.importorskip("py7zr")
    archive = tmp_path / "2008.7z"
    with py7zr.SevenZipFile(archive, "w") as out:
        for i in range(40):
            text = (f"Received: from x{i} by trap\n\n" * 50).encode() + payload(2_000, i)
            out.writestr(text, f"2008/01/1199145600.{i}.txt")
    return archive.read_bytes()


def test_7z_with_a_corrupt_data_stream_is_refused(mirror: Mirror, tmp_path: Path) -> None:
    body = _spam_archive(tmp_path)
    at = 32 + 2_000  # inside the packed stream (the header is at the end)
    corrupt = body[:at] + bytes(b ^ 0xA5 for b in body[at : at + 16]) + body[at + 16 :]
    mirror.put(SPAM, corrupt)
    with pytest.raises(CorruptContent, match=r"^http://untroubled\.org/spam/2008\.7z: .*corrupt"):
        mirror.fetch(SPAM)
    assert len(mirror.log(SPAM)) == FAST.retries + 1  # refused, fetched again, refused
    assert not mirror.dest(SPAM).exists() and not mirror.checksums.exists()
    mirror.put(SPAM, body)  # the next run gets a good copy
    assert mirror.fetch(SPAM).path.read_bytes() == body


def test_a_bad_transfer_of_a_7z_is_fetched_again(mirror: Mirror, tmp_path: Path) -> None:
    body = _spam_archive(tmp_path)
    mirror.put(SPAM, body)
    mirror.fault(SPAM, ("flip_byte", 3_000))
    result = mirror.fetch(SPAM)
    assert (result.attempts, result.status) == (2, "complete")
    assert result.path.read_bytes() == body
    assert read_ledger(mirror.checksums).sums == {
        raw_relpath(SPAM).as_posix(): hashlib.sha256(body).hexdigest()
    }


# --- 4. a file truncated at the source ----------------------------------------------------------


def test_rib_truncated_at_the_source_is_recorded_as_such(mirror: Mirror) -> None:
    short = truncated_rib_bz2()
    mirror.put(RIB, short)
    result = mirror.fetch(RIB)
    assert (result.status, result.attempts, result.bytes) == ("truncated_at_source", 2, len(short))
    assert [r.status for r in mirror.log(RIB)] == [200, 200]
    assert recorded_status(mirror.dest(RIB), mirror.checksums) == "truncated_at_source"
    again = mirror.fetch(RIB)  # a rerun: present, recorded, kept as it is
    assert (again.reused, again.status) == (True, "truncated_at_source")


def test_a_transfer_cut_short_once_is_not_truncated_at_source(mirror: Mirror) -> None:
    whole = bz2.compress(rib_records(5_000), compresslevel=1)
    mirror.put(RIB, whole)
    # a proxy that once served the first 60 % with a matching Content-Length
    mirror.fault(RIB, ("status", 200, {}, whole[: len(whole) * 6 // 10]))
    result = mirror.fetch(RIB)
    assert (result.status, result.attempts) == ("complete", 2)
    assert result.path.read_bytes() == whole
    assert recorded_status(result.path, mirror.checksums) == "complete"
    assert not (mirror.raw / "SHA256SUMS.status").exists()


def _job_config(server_url: str, *, partial: bool, missing: bool) -> dict[str, Any]:
    return {
        "download": {"retries": 2, "backoff_seconds": 0.01, "timeout_seconds": 5},
        "mirror": server_url,
        "qc": {"allow_partial_files": partial, "max_malformed_records": 0},
        "routing": {"allow_missing_files": missing, "keep_all": True},
        "synthetic": True,
    }


def test_download_job_names_both_keys_for_a_truncated_file(
    mirror: Mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    mirror.put(RIB, truncated_rib_bz2())
    table = b"".join(b"12.%d.0.0\t16\t%d\n" % (i, 7000 + i) for i in range(4000))
    mirror.put(PFX2AS, gzip.compress(table)[:5000])
    out = Path("data/raw") / raw_relpath(RIB)
    config = _job_config(mirror.server.url, partial=False, missing=False)
    with pytest.raises(TruncatedAtSource) as info:
        jobs.download(url=RIB, out=out, config=config)
    message = str(info.value)
    assert message.startswith(f"{RIB}: truncated at the source")
    assert "qc.allow_partial_files" in message and "routing.allow_missing_files" in message
    out.unlink()
    jobs.download(
        url=RIB, out=out, config=_job_config(mirror.server.url, partial=True, missing=False)
    )
    out.unlink()
    jobs.download(
        url=RIB, out=out, config=_job_config(mirror.server.url, partial=False, missing=True)
    )
    assert recorded_status(out, Path("data/raw/SHA256SUMS")) == "truncated_at_source"
    # routing.allow_missing_files says nothing about a prefix2as file
    pfx = Path("data/raw") / raw_relpath(PFX2AS)
    with pytest.raises(TruncatedAtSource):
        jobs.download(
            url=PFX2AS, out=pfx, config=_job_config(mirror.server.url, partial=False, missing=True)
        )


def _normalize(raw: Path, checksums: Path, tmp_path: Path, config: dict[str, Any]) -> int:
    return mrt.main(
        [
            str(raw),
            "--out",
            str(tmp_path / "out" / "rib.parquet"),
            "--peers",
            str(tmp_path / "out" / "peers.parquet"),
            "--qc",
            str(tmp_path / "out" / "qc.json"),
            "--collector",
            "route-views2",
            "--source-file",
            str(raw_relpath(RIB)),
            "--checksums",
            str(checksums),
            "--config-json",
            json.dumps(config),
        ]
    )


def test_routing_normalize_of_a_file_truncated_at_source(
    mirror: Mirror, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import polars as pl

    mirror.put(RIB, truncated_rib_bz2())
    raw = mirror.fetch(RIB).path
    qc_path = tmp_path / "out" / "qc.json"
    config = _job_config(mirror.server.url, partial=True, missing=False)
    assert _normalize(raw, mirror.checksums, tmp_path, config) == 0
    qc = read_qc(qc_path)
    table = pl.read_parquet(tmp_path / "out" / "rib.parquet")
    assert (qc.status, qc.truncated) == ("partial", True)
    assert qc.note.startswith("truncated_at_source; TRUNCATED")
    assert 0 < qc.records_read == table.height < 20_000
    # complete records, in order, from the start of the file
    assert table["prefix"][:3].to_list() == ["12.0.0.0/24", "12.0.1.0/24", "12.0.2.0/24"]

    config = _job_config(mirror.server.url, partial=False, missing=True)
    assert _normalize(raw, mirror.checksums, tmp_path, config) == 0
    qc = read_qc(qc_path)
    assert (qc.status, qc.records_read) == ("missing", 0)
    assert "truncated_at_source" in qc.note
    assert pl.read_parquet(tmp_path / "out" / "rib.parquet").height == 0

    config = _job_config(mirror.server.url, partial=False, missing=False)
    assert _normalize(raw, mirror.checksums, tmp_path, config) == 1
    err = capsys.readouterr().err
    assert "truncated at the source" in err
    assert "qc.allow_partial_files" in err and "routing.allow_missing_files" in err


# --- 5. deadline, Retry-After cap, local write errors -------------------------------------------


def test_slow_drip_stops_at_the_deadline(mirror: Mirror) -> None:
    mirror.put(BLOB, payload(200_000))
    mirror.fault(BLOB, ("drip", 2_000, 0.05))  # 5 s for the whole file, never a read timeout
    start = time.monotonic()
    with pytest.raises(DeadlineExceeded, match=r"download\.deadline_seconds=1\b") as info:
        mirror.fetch(BLOB, dataclasses.replace(FAST, deadline_seconds=1))
    assert time.monotonic() - start < 3
    assert str(info.value).startswith(BLOB) and "bytes kept in" in str(info.value)
    part = mirror.dest(BLOB).with_name(mirror.dest(BLOB).name + ".part")
    assert 0 < part.stat().st_size < 200_000  # kept: the next run resumes
    assert not mirror.dest(BLOB).exists()


def test_retry_after_beyond_the_cap_is_capped_and_logged(
    mirror: Mirror, caplog: pytest.LogCaptureFixture
) -> None:
    mirror.put(BLOB, payload(5_000))
    mirror.fault(BLOB, ("status", 429, {"Retry-After": "25"}, b"Too Many Requests"))
    policy = dataclasses.replace(FAST, max_retry_after_seconds=0.3)
    with caplog.at_level(logging.WARNING, logger="takedowns.sources.fetch"):
        result = mirror.fetch(BLOB, policy)
    assert result.attempts == 2
    first, second = mirror.log(BLOB)
    assert 0.25 <= second.time - first.time < 5
    assert "Retry-After 25 s is longer than download.max_retry_after_seconds" in caplog.text


def test_retry_after_beyond_the_deadline_fails_at_once(mirror: Mirror) -> None:
    mirror.put(BLOB, payload(5_000))
    mirror.fault(BLOB, ("status", 503, {"Retry-After": "25"}, b""))
    start = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        mirror.fetch(BLOB, dataclasses.replace(FAST, deadline_seconds=2))
    assert time.monotonic() - start < 1.5


def test_disk_full_names_the_file(mirror: Mirror, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror.put(BLOB, payload(5_000))

    def full(out: IO[bytes], chunk: bytes) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fetch_module, "_write_chunk", full)
    with pytest.raises(LocalFileError) as info:
        mirror.fetch(BLOB)
    part = mirror.dest(BLOB).with_name(mirror.dest(BLOB).name + ".part")
    assert str(info.value) == (f"{BLOB}: cannot write {part} (errno 28: No space left on device)")
    assert len(mirror.log(BLOB)) == 1  # not retried
    assert not mirror.dest(BLOB).exists()


def test_deadline_and_retry_after_cap_per_host() -> None:
    config = {
        "retries": 3,
        "deadline_seconds": 3600,
        "max_retry_after_seconds": 300,
        "hosts": {"web.archive.org": {"deadline_seconds": 600, "max_retry_after_seconds": 90}},
    }
    wayback = policy_for_host("web.archive.org", config)
    assert (wayback.deadline_seconds, wayback.max_retry_after_seconds) == (600, 90)
    other = policy_for_host("archive.routeviews.org", config)
    assert (other.deadline_seconds, other.max_retry_after_seconds) == (3600, 300)
    with pytest.raises(ValueError, match="deadline_seconds"):
        DownloadPolicy(deadline_seconds=0)
    assert DownloadPolicy().deadline_seconds == 3600
    assert DownloadPolicy().max_retry_after_seconds == 300


def test_html_is_not_retried_like_a_bad_container(mirror: Mirror) -> None:
    mirror.put(PFX2AS, gzip.compress(b"x"))
    mirror.fault(PFX2AS, ("html_200",))
    with pytest.raises(ContentError, match="HTML page"):
        mirror.fetch(PFX2AS)
    assert len(mirror.log(PFX2AS)) == 1
