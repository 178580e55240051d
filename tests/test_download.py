"""The download layer against the loopback mirror: retries, resume, checks, checksums, rate.

More guarantees (concurrency, validators, deadlines, truncation at the source) are tested in
tests/test_fetch_guarantees.py.
"""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import hashlib
import itertools
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from download_support import PFX2AS, RIB, SPAM, fast_policy, payload
from takedowns.errors import (
    ChecksumMismatch,
    ContentError,
    DownloadError,
    HTTPStatusError,
    MissingHeaderError,
    UnrecordedFile,
)
from takedowns.paths import raw_relpath
from takedowns.sources.containers import infer_expect
from takedowns.sources.fetch import fetch, mirror_url, unmirror_url
from takedowns.sources.fetch_policy import DownloadPolicy, policy_for_host, policy_for_url
from takedowns.sources.ledger import recorded_status, verify_raw
from takedowns.synthetic import MirrorServer, serve
from takedowns.synthetic.server import RequestRecord

CDX = "http://web.archive.org/cdx/search/cdx?url=www.spamhaus.org/drop/drop.lasso&output=json"
FAST = fast_policy(5)


PFX2AS_BODY = gzip.compress(b"".join(b"12.%d.0.0\t16\t%d\n" % (i, 7000 + i) for i in range(4000)))
RIB_BODY = bz2.compress(payload(150_000))


class Mirror:
    """A served tree plus the local raw directory the tests download into."""

    def __init__(self, server: MirrorServer, root: Path, raw: Path) -> None:
        self.server, self.root, self.raw = server, root, raw
        self.checksums = raw / "SHA256SUMS"

    def put(self, url: str, data: bytes) -> Path:
        path = self.root / raw_relpath(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def dest(self, url: str) -> Path:
        return self.raw / raw_relpath(url)

    def path(self, url: str) -> str:
        """The request path (with query) the server sees for ``url``."""
        return mirror_url(url, self.server.url).removeprefix(self.server.url)

    def log(self, url: str) -> list[RequestRecord]:
        return self.server.requests.for_path(self.path(url))

    def fault(self, url: str, *faults: tuple[object, ...]) -> None:
        self.server.faults[self.path(url)] = list(faults)

    def fetch(self, url: str, policy: DownloadPolicy = FAST, **kw: object):  # type: ignore[no-untyped-def]
        kw.setdefault("checksums", self.checksums)
        return fetch(url, self.dest(url), mirror=self.server.url, policy=policy, **kw)  # type: ignore[arg-type]


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    root = tmp_path / "mirror"
    root.mkdir()
    with serve(root) as server:
        m = Mirror(server, root, tmp_path / "raw")
        m.put(PFX2AS, PFX2AS_BODY)
        m.put(RIB, RIB_BODY)
        yield m


def _gaps(records: list[RequestRecord]) -> list[float]:
    times = sorted(r.time for r in records)
    return [b - a for a, b in itertools.pairwise(times)]


# --- the mirror rule and the policy ---------------------------------------------------------


def test_mirror_url_rewrites_host_path_and_query() -> None:
    assert mirror_url(RIB, "http://127.0.0.1:8765") == (
        "http://127.0.0.1:8765/archive.routeviews.org/bgpdata/2008.05/RIBS/rib.20080501.0644.bz2"
    )
    assert mirror_url(CDX, "http://127.0.0.1:8765/") == (
        "http://127.0.0.1:8765/web.archive.org/cdx/search/cdx"
        "?url=www.spamhaus.org/drop/drop.lasso&output=json"
    )
    assert mirror_url("https://untroubled.org", "http://127.0.0.1:1") == (
        "http://127.0.0.1:1/untroubled.org/"
    )
    assert mirror_url(RIB, None) == RIB
    assert mirror_url(RIB, "") == RIB


def test_policy_for_host_reads_defaults_and_host_overrides() -> None:
    config = {
        "retries": 3,
        "backoff_seconds": 2,
        "timeout_seconds": 60,
        "default_retry_after_seconds": 60,
        "hosts": {"web.archive.org": {"requests_per_minute": 24, "retries": 7}},
    }
    wayback = policy_for_host("web.archive.org", config)
    assert (wayback.retries, wayback.requests_per_minute, wayback.timeout_seconds) == (7, 24, 60)
    assert wayback.min_interval_seconds == 2.5
    other = policy_for_host("archive.routeviews.org", config)
    assert (other.retries, other.requests_per_minute, other.backoff_max_seconds) == (3, None, 120)
    with pytest.raises(ValueError, match=r"download\.retry: unknown setting"):
        policy_for_host("x", {"retry": 1})
    with pytest.raises(ValueError, match="retries"):
        DownloadPolicy(retries=-1)


def test_expectation_inferred_from_name() -> None:
    assert [infer_expect(u) for u in (PFX2AS, RIB, SPAM, CDX)] == ["gzip", "bz2", "7z", "binary"]
    assert infer_expect("http://untroubled.org/spam/") == "html"


# --- plain downloads and checksums ----------------------------------------------------------


def test_fetch_writes_file_and_sha256sums(mirror: Mirror) -> None:
    result = mirror.fetch(PFX2AS)
    dest = mirror.dest(PFX2AS)
    sha = hashlib.sha256(PFX2AS_BODY).hexdigest()
    assert dest.read_bytes() == PFX2AS_BODY
    assert (result.path, result.bytes, result.sha256) == (dest, len(PFX2AS_BODY), sha)
    assert (result.attempts, result.resumed) == (1, False)
    assert result.url == PFX2AS
    assert result.fetched_url == mirror_url(PFX2AS, mirror.server.url)
    assert mirror.checksums.read_text() == f"{sha}  {raw_relpath(PFX2AS)}\n"
    assert not dest.with_name(dest.name + ".part").exists()
    headers = mirror.log(PFX2AS)[0].headers
    assert headers["Accept-Encoding"] == "identity" and "Range" not in headers
    # A second, identical download verifies and records nothing new.
    mirror.fetch(PFX2AS)
    assert mirror.checksums.read_text().count("\n") == 1


def test_query_url_is_fetched_from_its_stable_file_name(mirror: Mirror) -> None:
    body = b'[["urlkey","timestamp"],\n["org,spamhaus)/drop/drop.lasso","20070105"]]\n'
    mirror.put(CDX, body)
    result = mirror.fetch(CDX, expect="json")
    assert result.path.name == "cdx@url=www.spamhaus.org%2Fdrop%2Fdrop.lasso&output=json"
    assert result.path.read_bytes() == body


def test_404_is_one_line_naming_the_url(mirror: Mirror) -> None:
    missing = RIB.replace("0644", "0000")
    with pytest.raises(HTTPStatusError) as info:
        mirror.fetch(missing)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(missing)
    assert mirror_url(missing, mirror.server.url) in message
    assert "HTTP 404" in message and "after 1 attempt" in message
    assert info.value.status == 404
    assert not mirror.dest(missing).exists()
    assert not mirror.dest(missing).with_name("rib.20080501.0000.bz2.part").exists()


# --- retries --------------------------------------------------------------------------------


def test_429_with_retry_after_waits_and_succeeds(mirror: Mirror) -> None:
    mirror.fault(RIB, ("status", 429, {"Retry-After": "1"}, b"Too Many Requests"))
    result = mirror.fetch(RIB)
    assert result.attempts == 2
    assert result.path.read_bytes() == RIB_BODY
    log = mirror.log(RIB)
    assert [r.status for r in log] == [429, 200]
    assert _gaps(log)[0] >= 0.9


def test_429_without_retry_after_waits_the_default(mirror: Mirror) -> None:
    # The Internet Archive sends no Retry-After; backoff (0.01 s) alone would not wait 0.2 s.
    mirror.fault(RIB, ("status", 429, {}, b""))
    result = mirror.fetch(RIB)
    assert result.attempts == 2
    assert _gaps(mirror.log(RIB))[0] >= 0.18


def test_500_three_times_then_success(mirror: Mirror) -> None:
    mirror.fault(RIB, *[("status", 500, {}, b"oops")] * 3)
    result = mirror.fetch(RIB)
    assert result.attempts == 4
    assert result.path.read_bytes() == RIB_BODY
    assert [r.status for r in mirror.log(RIB)] == [500, 500, 500, 200]


def test_500_forever_fails_after_the_retry_budget(mirror: Mirror) -> None:
    mirror.fault(RIB, *[("status", 503, {}, b"")] * 10)
    with pytest.raises(DownloadError) as info:
        mirror.fetch(RIB, dataclasses.replace(FAST, retries=2))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(RIB) and "HTTP 503" in message and "after 3 attempts" in message
    assert len(mirror.log(RIB)) == 3
    assert not mirror.dest(RIB).exists()


def test_connection_refused_is_retried_then_reported(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DownloadError) as info:
        fetch(
            RIB,
            tmp_path / "rib.bz2",
            mirror=f"http://127.0.0.1:{port}",
            policy=dataclasses.replace(FAST, retries=1),
        )
    assert "\n" not in str(info.value)
    assert "ConnectionError" in str(info.value) and "after 2 attempts" in str(info.value)


def test_absolute_redirect_stays_on_the_mirror(mirror: Mirror) -> None:
    inexact = "http://web.archive.org/web/20080101id_/http://www.spamhaus.org/drop/drop.lasso"
    capture = "http://web.archive.org/web/20080102030405id_/http://www.spamhaus.org/drop/drop.lasso"
    mirror.put(capture, b"; Spamhaus DROP List 2008/01/02\n")
    mirror.fault(inexact, ("status", 302, {"Location": capture}, b""))
    result = mirror.fetch(inexact)
    assert result.path.read_bytes() == b"; Spamhaus DROP List 2008/01/02\n"
    assert result.fetched_url == mirror_url(capture, mirror.server.url)
    assert [r.status for r in mirror.log(capture)] == [200]


# --- resume ---------------------------------------------------------------------------------


def test_connection_reset_mid_file_resumes_with_range(mirror: Mirror) -> None:
    mirror.fault(RIB, ("reset_after", 70_000))
    result = mirror.fetch(RIB)
    assert result.resumed is True
    assert result.attempts == 2
    assert result.path.read_bytes() == RIB_BODY
    first, second = mirror.log(RIB)
    assert "Range" not in first.headers
    assert second.headers["Range"] == "bytes=70000-"
    assert second.headers["If-Range"]  # the first response's Last-Modified
    assert second.status == 206


def test_server_ignoring_range_restarts_from_zero(mirror: Mirror) -> None:
    mirror.fault(RIB, ("reset_after", 70_000), ("ignore_range",))
    result = mirror.fetch(RIB)
    assert result.path.read_bytes() == RIB_BODY
    assert result.resumed is False
    second = mirror.log(RIB)[1]
    assert (second.headers["Range"], second.status) == ("bytes=70000-", 200)


def test_partial_file_from_an_earlier_run_is_resumed(mirror: Mirror) -> None:
    mirror.fault(RIB, ("reset_after", 1000))
    with pytest.raises(DownloadError):  # an earlier run: cut off, no retries left
        mirror.fetch(RIB, dataclasses.replace(FAST, retries=0))
    part = mirror.dest(RIB).with_name("rib.20080501.0644.bz2.part")
    assert part.stat().st_size == 1000
    saved = json.loads(part.with_name(part.name + ".json").read_text())
    assert (saved["url"], saved["length"]) == (RIB, len(RIB_BODY))
    assert saved["validator"] == saved["etag"] and saved["etag"].startswith('"')
    result = mirror.fetch(RIB)
    assert (result.resumed, result.path.read_bytes()) == (True, RIB_BODY)
    resume = mirror.log(RIB)[1].headers
    assert (resume["Range"], resume["If-Range"]) == ("bytes=1000-", saved["etag"])
    assert not part.with_name(part.name + ".json").exists()


def test_stale_partial_file_without_validators_is_discarded(mirror: Mirror) -> None:
    part = mirror.dest(RIB).with_name("rib.20080501.0644.bz2.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * (len(RIB_BODY) + 10))
    result = mirror.fetch(RIB)
    assert result.path.read_bytes() == RIB_BODY
    assert [(r.status, "Range" in r.headers) for r in mirror.log(RIB)] == [(200, False)]


def test_resets_beyond_the_budget_leave_the_part_for_later(mirror: Mirror) -> None:
    mirror.fault(RIB, *[("reset_after", 1000)] * 3)
    with pytest.raises(DownloadError, match=r"after 2 attempts$") as info:
        mirror.fetch(RIB, dataclasses.replace(FAST, retries=1))
    assert "connection" in str(info.value).lower() or "IncompleteRead" in str(info.value)
    assert not mirror.dest(RIB).exists()
    assert mirror.dest(RIB).with_name("rib.20080501.0644.bz2.part").stat().st_size == 2000


# --- content checks -------------------------------------------------------------------------


def test_truncated_gzip_without_a_second_transfer_is_refused(mirror: Mirror) -> None:
    mirror.put(PFX2AS, PFX2AS_BODY[: len(PFX2AS_BODY) // 2])  # Content-Length matches
    with pytest.raises(ContentError, match="incomplete gzip data") as info:
        mirror.fetch(PFX2AS, dataclasses.replace(FAST, retries=0))
    assert str(info.value).startswith(PFX2AS)
    assert not mirror.dest(PFX2AS).exists()
    assert not mirror.dest(PFX2AS).with_name(mirror.dest(PFX2AS).name + ".part").exists()
    assert not mirror.checksums.exists()


def test_truncated_gzip_served_twice_is_truncated_at_source(mirror: Mirror) -> None:
    short = PFX2AS_BODY[: len(PFX2AS_BODY) // 2]
    mirror.put(PFX2AS, short)
    result = mirror.fetch(PFX2AS)
    assert (result.status, result.attempts) == ("truncated_at_source", 2)
    assert result.path.read_bytes() == short
    assert recorded_status(result.path, mirror.checksums) == "truncated_at_source"
    assert (mirror.raw / "SHA256SUMS.status").read_text() == (
        f"truncated_at_source  {raw_relpath(PFX2AS)}\n"
    )


def test_html_page_instead_of_gzip_is_refused(mirror: Mirror) -> None:
    mirror.fault(PFX2AS, ("html_200",))
    with pytest.raises(ContentError) as info:
        mirror.fetch(PFX2AS)
    message = str(info.value)
    assert message.startswith(f"{PFX2AS}: server returned an HTML page (Content-Type text/html")
    assert message.endswith("instead of gzip data")
    assert not mirror.dest(PFX2AS).exists()


def test_html_page_for_an_unknown_suffix_is_refused(mirror: Mirror) -> None:
    drop = "http://web.archive.org/web/20080102030405id_/http://www.spamhaus.org/drop/drop.lasso"
    mirror.put(drop, b"\xef\xbb\xbf  \n<!doctype HTML><html><body>Wayback</body></html>")
    with pytest.raises(ContentError, match="HTML page"):
        mirror.fetch(drop)
    assert mirror.fetch(drop, expect="html").bytes > 0


def test_corrupt_bz2_is_refused(mirror: Mirror) -> None:
    damaged = bytes(b ^ 0x55 for b in RIB_BODY[5000:5100])
    mirror.put(RIB, RIB_BODY[:5000] + damaged + RIB_BODY[5100:])
    with pytest.raises(ContentError, match=r"corrupt bzip2 data.*refused after 6 attempts"):
        mirror.fetch(RIB)
    assert not mirror.dest(RIB).exists()
    assert not mirror.checksums.exists()


def test_multistream_bz2_is_accepted(mirror: Mirror) -> None:
    mirror.put(RIB, bz2.compress(b"first") + bz2.compress(b"second"))
    assert mirror.fetch(RIB).bytes > 0


def test_json_expectation(mirror: Mirror) -> None:
    mirror.put(CDX, b'[["urlkey"],\n["org,spamhaus)/"')
    with pytest.raises(ContentError, match="not valid JSON"):
        mirror.fetch(CDX, expect="json")


def test_min_bytes(mirror: Mirror) -> None:
    empty = "http://untroubled.org/spam/empty.txt"
    mirror.put(empty, b"")
    with pytest.raises(ContentError, match="got 0 bytes"):
        mirror.fetch(empty)


def test_7z_signature_and_truncation(mirror: Mirror, tmp_path: Path) -> None:
    py7zr = pytest.importorskip("py7zr")
    member = tmp_path / "2008" / "01" / "1199145600.12345.txt"
    member.parent.mkdir(parents=True)
    member.write_bytes(payload(20_000))
    archive = tmp_path / "2008.7z"
    with py7zr.SevenZipFile(archive, "w") as out:
        out.write(member, "2008/01/1199145600.12345.txt")
    body = archive.read_bytes()
    mirror.put(SPAM, body[:-10])
    with pytest.raises(ContentError, match="truncated 7z"):
        mirror.fetch(SPAM)
    mirror.put(SPAM, b"PK\x03\x04" + body)
    with pytest.raises(ContentError, match="not a 7z archive"):
        mirror.fetch(SPAM)
    mirror.put(SPAM, body)
    assert mirror.fetch(SPAM).bytes == len(body)


def test_progress_bar_only_for_large_bodies(
    mirror: Mirror, capfd: pytest.CaptureFixture[str]
) -> None:
    big = "http://data.ris.ripe.net/rrc00/2007.01/bview.20070101.0000.gz"
    mirror.put(big, gzip.compress(payload(1_200_000), compresslevel=1))
    mirror.fetch(big, dataclasses.replace(FAST, progress=True))
    assert "bview.20070101.0000.gz" in capfd.readouterr().err
    mirror.fetch(PFX2AS, dataclasses.replace(FAST, progress=True))
    assert capfd.readouterr().err == ""


# --- raw files are never replaced silently --------------------------------------------------


def test_changed_file_on_the_server_is_refused(mirror: Mirror) -> None:
    first = mirror.fetch(PFX2AS)
    changed = gzip.compress(b"12.0.0.0\t8\t7018\n")
    mirror.put(PFX2AS, changed)
    assert mirror.fetch(PFX2AS).reused  # present and matching its line: not fetched again
    assert mirror.dest(PFX2AS).read_bytes() == PFX2AS_BODY
    mirror.dest(PFX2AS).unlink()  # a rerun after the raw file was deleted: fetched anew
    with pytest.raises(ChecksumMismatch) as info:
        mirror.fetch(PFX2AS)
    assert not mirror.dest(PFX2AS).exists()
    message = str(info.value)
    assert "\n" not in message
    assert raw_relpath(PFX2AS).as_posix() in message
    assert first.sha256 in message
    assert hashlib.sha256(changed).hexdigest() in message
    assert "never replaced silently" in message
    assert mirror.checksums.read_text().count("\n") == 1


def test_verify_raw(mirror: Mirror) -> None:
    result = mirror.fetch(RIB)
    assert verify_raw(result.path, mirror.checksums) == result.sha256
    result.path.write_bytes(RIB_BODY[:-1] + b"\x00")
    with pytest.raises(ChecksumMismatch, match=result.sha256):
        verify_raw(result.path, mirror.checksums)
    stray = mirror.raw / "untroubled.org" / "spam" / "stray.7z"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"x")
    with pytest.raises(UnrecordedFile):
        verify_raw(stray, mirror.checksums)


def test_parallel_processes_append_checksums_safely(mirror: Mirror) -> None:
    urls = [f"http://untroubled.org/spam/part{i}.txt" for i in range(4)]
    bodies = [b"spam %d\n" % i for i in range(len(urls))]
    for url, body in zip(urls, bodies, strict=True):
        mirror.put(url, body)
    procs = [_cli(mirror, url, "--checksums", str(mirror.checksums)) for url in urls]
    assert [p.wait(timeout=60) for p in procs] == [0] * len(urls)
    lines = sorted(mirror.checksums.read_text().splitlines())
    assert lines == sorted(
        f"{hashlib.sha256(body).hexdigest()}  {raw_relpath(url)}"
        for url, body in zip(urls, bodies, strict=True)
    )


# --- per-host rate limit --------------------------------------------------------------------


def test_rate_limit_spaces_requests_to_a_host(mirror: Mirror, tmp_path: Path) -> None:
    urls = [RIB.replace("0644", f"06{i}0") for i in range(3)]
    for url in urls:
        mirror.put(url, RIB_BODY)
    policy = dataclasses.replace(FAST, requests_per_minute=120)
    for url in urls:
        mirror.fetch(url, policy, ratelimit_dir=tmp_path / "ratelimit")
    records = [r for url in urls for r in mirror.log(url)]
    assert len(records) == 3
    assert min(_gaps(records)) >= 0.45
    assert (tmp_path / "ratelimit" / "archive.routeviews.org").exists()


def test_rate_limit_applies_to_retries(mirror: Mirror, tmp_path: Path) -> None:
    mirror.fault(RIB, ("status", 500, {}, b""), ("reset_after", 5000))
    policy = dataclasses.replace(FAST, requests_per_minute=120)
    result = mirror.fetch(RIB, policy, ratelimit_dir=tmp_path / "ratelimit")
    assert result.attempts == 3 and result.resumed
    assert min(_gaps(mirror.log(RIB))) >= 0.45


def test_rate_limit_default_directory_is_next_to_sha256sums(mirror: Mirror) -> None:
    mirror.fetch(RIB, dataclasses.replace(FAST, requests_per_minute=6000))
    assert (mirror.raw / ".ratelimit" / "archive.routeviews.org").is_file()


def _cli(mirror: Mirror, url: str, *extra: str) -> subprocess.Popen[bytes]:
    """``python -m takedowns.sources.fetch URL DEST --mirror M ...`` in a separate process."""
    cmd = [sys.executable, "-m", "takedowns.sources.fetch", url, str(mirror.dest(url))]
    cmd += ["--mirror", mirror.server.url, "--no-progress", *extra]
    env = {**os.environ, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_rate_limit_is_shared_across_processes(mirror: Mirror, tmp_path: Path) -> None:
    urls = [RIB.replace("0644", f"07{i}0") for i in range(3)]
    for url in urls:
        mirror.put(url, RIB_BODY)
    limit = ["--requests-per-minute", "120", "--ratelimit-dir", str(tmp_path / "ratelimit")]
    procs = [_cli(mirror, url, *limit) for url in urls]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    records = [r for url in urls for r in mirror.log(url)]
    assert len(records) == 3
    assert min(_gaps(records)) >= 0.45


# --- additions for the Wayback Machine: required header, redirects, rate buckets -------------

CAPTURE = "https://web.archive.org/web/20080214120000id_/http://www.spamhaus.org/drop/drop.lasso"


def test_require_header_refuses_a_body_without_it(mirror: Mirror) -> None:
    mirror.put(CAPTURE, b"69.50.160.0/19 ; SBL36633\n")
    mirror.fault(CAPTURE, ("html_200",))
    with pytest.raises(MissingHeaderError) as info:
        mirror.fetch(CAPTURE, expect="html", require_header="Memento-Datetime")
    message = str(info.value)
    assert message.startswith(CAPTURE) and "no Memento-Datetime header" in message
    assert isinstance(info.value, ContentError) and "\n" not in message
    assert not mirror.dest(CAPTURE).exists()
    assert not mirror.dest(CAPTURE).with_name("drop.lasso.part").exists()
    assert mirror.log(CAPTURE)[0].status == 200  # refused, not retried
    result = mirror.fetch(CAPTURE, expect="text", require_header="memento-datetime")
    assert result.headers["MEMENTO-DATETIME"] == "Thu, 14 Feb 2008 12:00:00 GMT"
    assert len(mirror.log(CAPTURE)) == 2


def test_redirect_not_followed_when_asked(mirror: Mirror) -> None:
    inexact = CAPTURE.replace("120000", "115959")
    mirror.put(CAPTURE, b"69.50.160.0/19 ; SBL36633\n")
    with pytest.raises(HTTPStatusError) as info:
        mirror.fetch(inexact, allow_redirects=False)
    assert info.value.status == 302
    assert info.value.headers["location"] == CAPTURE
    assert info.value.headers["X-Archive-Redirect-Reason"] == "found capture at 20080214120000"
    assert not mirror.dest(inexact).exists()
    assert mirror.fetch(inexact).path.read_bytes() == b"69.50.160.0/19 ; SBL36633\n"


def test_policy_for_url_picks_the_longest_path_key() -> None:
    config = {
        "retries": 3,
        "backoff_seconds": 2,
        "timeout_seconds": 60,
        "hosts": {
            "web.archive.org": {"requests_per_minute": 24, "retries": 7},
            "web.archive.org/cdx": {"requests_per_minute": 24},
            "web.archive.org/web/": {"requests_per_minute": 480},
        },
    }
    cdx, bucket = policy_for_url(CDX, config)
    assert (cdx.requests_per_minute, cdx.retries, bucket) == (24, 7, "web.archive.org/cdx")
    replay, bucket = policy_for_url(CAPTURE, config)
    assert (replay.requests_per_minute, replay.retries, bucket) == (480, 7, "web.archive.org/web")
    other, bucket = policy_for_url("https://web.archive.org/save/x", config)
    assert (other.requests_per_minute, bucket) == (24, "web.archive.org")
    plain, bucket = policy_for_url(RIB, config)
    assert (plain.requests_per_minute, bucket) == (None, "archive.routeviews.org")
    config["hosts"]["web.archive.org/cdx"] = {"rpm": 1}
    with pytest.raises(ValueError, match=r"download\.hosts\.web\.archive\.org/cdx\.rpm"):
        policy_for_url(CDX, config)


def test_rate_key_names_the_bucket(mirror: Mirror, tmp_path: Path) -> None:
    policy = dataclasses.replace(FAST, requests_per_minute=600)
    stamps = tmp_path / "stamps"
    mirror.fetch(RIB, policy, ratelimit_dir=stamps, rate_key="archive.routeviews.org/bgpdata")
    assert [p.name for p in stamps.iterdir()] == ["archive.routeviews.org_bgpdata"]


def test_unmirror_url() -> None:
    base = "http://127.0.0.1:8765"
    assert unmirror_url(mirror_url(CAPTURE, base), base) == CAPTURE
    assert unmirror_url(mirror_url(CDX, base + "/"), base, scheme="http") == CDX
    assert unmirror_url(CAPTURE, base) == CAPTURE
    assert unmirror_url(CAPTURE, None) == CAPTURE
