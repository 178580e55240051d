"""Wayback discovery (CDX) and replay downloads against the loopback Wayback imitation."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from takedowns.blocklists.wayback import (
    NoCapture,
    NoCaptures,
    NotACapture,
    blocklist_sources,
    cdx_query_url,
    cdx_query_urls,
    discover,
    fetch_capture,
    merge_manifests,
    parse_cdx,
    payload_digest,
    read_manifest,
    replay_url,
    write_manifest,
)
from takedowns.config import REPO_ROOT, load_config
from takedowns.errors import ContentError, HTTPStatusError
from takedowns.paths import raw_relpath
from takedowns.qc import MalformedInput
from takedowns.sources.fetch import mirror_url
from takedowns.synthetic import MirrorServer, serve

DROP = "http://www.spamhaus.org/drop/drop.lasso"
DROP_UPPER = "http://www.spamhaus.org/DROP/drop.lasso"
HEADER = '["timestamp","original","statuscode","digest","length"]'
DIGEST_A = "3BCPSIHGOCJ7ZRCJRSF5DRI5AD7BDOR6"
DIGEST_B = "3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ"


def _answer(*rows: list[str]) -> bytes:
    lines = [HEADER] + [json.dumps(r, separators=(",", ":")) for r in rows]
    return ("[" + ",\n".join(lines) + "]\n").encode()


def _config(mirror: str | None = None, **download: Any) -> dict[str, Any]:
    config = copy.deepcopy(load_config(REPO_ROOT / "config" / "demo.yaml"))
    config["mirror"] = mirror
    config["download"].update(
        retries=4,
        backoff_seconds=0.01,
        backoff_max_seconds=0.05,
        timeout_seconds=5,
        default_retry_after_seconds=0.2,
    )
    config["download"]["hosts"] = {"web.archive.org": {"requests_per_minute": 6000}}
    config["download"].update(download)
    return config


class Wayback:
    """A served tree, a config pointing at it, and a local raw directory."""

    def __init__(self, server: MirrorServer, root: Path, raw: Path) -> None:
        self.server, self.root, self.raw = server, root, raw
        self.checksums = raw / "SHA256SUMS"
        self.config = _config(server.url)

    def put(self, url: str, data: bytes) -> Path:
        path = self.root / raw_relpath(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def capture(self, stamp: str, body: bytes, original: str = DROP) -> str:
        url = replay_url(self.config, stamp, original)
        self.put(url, body)
        return url

    def path(self, url: str) -> str:
        return mirror_url(url, self.server.url).removeprefix(self.server.url)

    def fault(self, url: str, *faults: tuple[Any, ...]) -> None:
        self.server.faults[self.path(url)] = list(faults)

    def statuses(self, url: str) -> list[int]:
        return [r.status for r in self.server.requests.for_path(self.path(url))]

    def discover(self, name: str = "spamhaus_drop", index: int = 0):  # type: ignore[no-untyped-def]
        return discover(name, index, self.config, raw_root=self.raw, checksums=self.checksums)

    def fetch(self, url: str, **kw: Any):  # type: ignore[no-untyped-def]
        return fetch_capture(
            url, raw_root=self.raw, config=self.config, checksums=self.checksums, **kw
        )


@pytest.fixture
def wb(tmp_path: Path) -> Iterator[Wayback]:
    root = tmp_path / "mirror"
    root.mkdir()
    with serve(root) as server:
        yield Wayback(server, root, tmp_path / "raw")


# --- queries and config ---------------------------------------------------------------------


def test_cdx_query_url_is_the_documented_one() -> None:
    config = _config()
    assert cdx_query_url(config, DROP) == (
        "http://web.archive.org/cdx/search/cdx?url=www.spamhaus.org/drop/drop.lasso"
        "&from=2007&to=2009&output=json&fl=timestamp,original,statuscode,digest,length"
        "&filter=statuscode:200&collapse=digest"
    )
    config["period"] = {"start": "2008-03-01", "end": "2008-12-31"}
    assert "&from=2008&to=2008&" in cdx_query_url(config, DROP)


def test_every_configured_list_url_gets_a_query_with_a_stable_file_name() -> None:
    urls = cdx_query_urls(_config())
    assert sorted(urls) == ["et_rbn", "et_rbn_block", "et_rbn_ips", "spamhaus_drop"]
    assert len(urls["spamhaus_drop"]) == 2
    expected = [
        "www.spamhaus.org/drop/drop.lasso",
        "www.spamhaus.org/DROP/drop.lasso",
        "www.emergingthreats.net/rules/emerging-rbn.rules",
        "www.emergingthreats.net/rules/emerging-rbn-BLOCK.rules",
        "doc.emergingthreats.net/pub/Main/RussianBusinessNetwork/RussianBusinessNetworkIPs.txt",
    ]
    queries = [q for qs in urls.values() for q in qs]
    for target in expected:
        assert sum(f"?url={target}&" in q for q in queries) == 1
    name = raw_relpath(urls["spamhaus_drop"][1]).as_posix()
    assert name == (
        "web.archive.org/cdx/search/cdx@url=www.spamhaus.org%2FDROP%2Fdrop.lasso&from=2007"
        "&to=2009&output=json&fl=timestamp,original,statuscode,digest,length"
        "&filter=statuscode:200&collapse=digest"
    )


def test_lists_are_config() -> None:
    config = _config()
    config["blocklists"] = {"lists": {"mine": {"format": "drop", "urls": [DROP]}}}
    assert [s.name for s in blocklist_sources(config)] == ["mine"]
    config["blocklists"]["lists"]["mine"]["format"] = "csv"
    with pytest.raises(ValueError, match=r"blocklists\.lists\.mine\.format"):
        blocklist_sources(config)
    assert "spamhaus_drop" in load_config()["blocklists"]["lists"]


# --- parsing CDX answers --------------------------------------------------------------------


def test_parse_cdx_real_shape(tmp_path: Path) -> None:
    path = tmp_path / "cdx"
    path.write_bytes(
        _answer(
            ["20070702083012", DROP, "200", DIGEST_A, "1234"],
            ["20080214120000", DROP_UPPER, "200", DIGEST_B, "1301"],
            ["20080214120000", DROP_UPPER, "200", DIGEST_B, "1301"],  # repeated
            ["20080301000000", DROP, "404", DIGEST_A, "300"],  # not a 200
            ["20100101000000", DROP, "200", DIGEST_A, "300"],  # outside the period
        )
    )
    rows, qc = parse_cdx(path, period=(dt.date(2007, 1, 1), dt.date(2009, 12, 31)))
    assert rows["cdx_timestamp"].to_list() == ["20070702083012", "20080214120000"]
    assert rows["cdx_time"][0] == dt.datetime(2007, 7, 2, 8, 30, 12, tzinfo=dt.UTC)
    assert rows["original"].to_list() == [DROP, DROP_UPPER]
    assert rows["length"].to_list() == [1234, 1301]
    assert qc.records_read == 5 and qc.records_kept == 2
    assert qc.skipped == {"duplicate_capture": 1, "status_not_200": 1, "outside_period": 1}


@pytest.mark.parametrize(
    ("body", "note"), [(b"[]\n", "no captures ([])"), (f"[{HEADER}]\n".encode(), "no captures")]
)
def test_empty_and_header_only_answers_are_zero_captures(
    tmp_path: Path, body: bytes, note: str
) -> None:
    path = tmp_path / "cdx"
    path.write_bytes(body)
    rows, qc = parse_cdx(path)
    assert rows.height == 0 and qc.records_read == 0 and qc.note == note
    assert rows.columns == ["cdx_timestamp", "cdx_time", "original", "digest", "length"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'[["timestamp","original"],\n["2007', "not valid JSON"),
        (b'{"a": 1}', "not a JSON list of rows"),
        (b'[["timestamp","original"]]', "lacks statuscode, digest, length"),
        (_answer(["20070702083012", DROP, "200", DIGEST_A]), "row 2 has 4 fields"),
        (_answer(["2007070208", DROP, "200", DIGEST_A, "1"]), "bad timestamp or digest"),
        (_answer(["20071302083012", DROP, "200", DIGEST_A, "1"]), "bad timestamp or digest"),
        (
            _answer(["20070702083012", DROP, "200", DIGEST_A, "1"])[:-2]
            + b',\n[],\n["org,spamhaus)/drop/drop.lasso 20070702083012"]]\n',
            "resume key",
        ),
    ],
)
def test_malformed_cdx_answers_name_the_file(tmp_path: Path, body: bytes, problem: str) -> None:
    path = tmp_path / "cdx@url=x"
    path.write_bytes(body)
    with pytest.raises(MalformedInput) as info:
        parse_cdx(path, source_file="web.archive.org/cdx/search/cdx@url=x")
    assert str(info.value).startswith("web.archive.org/cdx/search/cdx@url=x: ")
    assert problem in str(info.value)


# --- discovery through the mirror -----------------------------------------------------------


def test_discover_writes_raw_answer_and_manifest(wb: Wayback, tmp_path: Path) -> None:
    query = cdx_query_url(wb.config, DROP)
    body = _answer(
        ["20070702083012", DROP, "200", DIGEST_A, "1234"],
        ["20080214120000", DROP, "200", DIGEST_B, "1301"],
    )
    wb.put(query, body)
    manifest, qc = wb.discover()
    assert (wb.raw / raw_relpath(query)).read_bytes() == body
    assert qc.source_file == raw_relpath(query).as_posix() and qc.status == "ok"
    assert manifest["snapshot_id"].to_list() == [
        "20070702083012-3bcpsihg",
        "20080214120000-3i42h3s6",
    ]
    assert manifest["replay_url"][0] == (
        "https://web.archive.org/web/20070702083012id_/http://www.spamhaus.org/drop/drop.lasso"
    )
    assert set(manifest["list"]) == {"spamhaus_drop"} and set(manifest["format"]) == {"drop"}
    write_manifest(manifest, tmp_path / "m.csv")
    assert read_manifest(tmp_path / "m.csv").equals(manifest)
    # A second discovery reuses the raw answer (checked against SHA256SUMS), asks nothing.
    again, _ = wb.discover()
    assert again.equals(manifest)
    assert wb.statuses(query) == [200]


@pytest.mark.parametrize(
    "body",
    [
        b"[]\n",
        f"[{HEADER}]\n".encode(),
        _answer(["20060702083012", DROP, "200", DIGEST_A, "1234"]),  # before the period
    ],
)
def test_discover_without_captures_fails_and_is_asked_again(wb: Wayback, body: bytes) -> None:
    query = cdx_query_url(wb.config, DROP)
    wb.put(query, body)
    with pytest.raises(NoCaptures) as info:
        wb.discover()
    message = str(info.value)
    assert "'spamhaus_drop'" in message and query in message and "\n" not in message
    assert "blocklists.lists.spamhaus_drop.optional" in message
    # Not kept as a valid answer: neither the raw file nor a SHA256SUMS line; a rerun asks.
    assert not (wb.raw / raw_relpath(query)).exists()
    assert not list((wb.raw / raw_relpath(query)).parent.glob("*"))
    assert raw_relpath(query).as_posix() not in _sums(wb)
    wb.put(query, _answer(["20080214120000", DROP, "200", DIGEST_B, "1301"]))
    manifest, qc = wb.discover()
    assert manifest["cdx_timestamp"].to_list() == ["20080214120000"] and qc.status == "ok"
    assert wb.statuses(query) == [200, 200]
    assert raw_relpath(query).as_posix() in _sums(wb)


def test_optional_list_without_captures_is_empty_not_fatal(wb: Wayback) -> None:
    wb.config["blocklists"]["lists"]["et_rbn"]["optional"] = True
    query = cdx_query_url(wb.config, wb.config["blocklists"]["lists"]["et_rbn"]["urls"][0])
    wb.put(query, b"[]\n")
    manifest, qc = wb.discover("et_rbn")
    assert manifest.height == 0 and qc.status == "empty"
    assert "optional list without captures" in qc.note and "rerun asks again" in qc.note
    assert not (wb.raw / raw_relpath(query)).exists()


def _sums(wb: Wayback) -> str:
    return wb.checksums.read_text() if wb.checksums.exists() else ""


def test_discover_blocked_site_is_recorded_not_fatal(wb: Wayback) -> None:
    query = cdx_query_url(wb.config, DROP)
    wb.fault(query, ("cdx_blocked",))
    manifest, qc = wb.discover()
    assert manifest.height == 0
    assert qc.status == "blocked" and "Blocked Site Error" in qc.note
    assert not (wb.raw / raw_relpath(query)).exists()


def test_discover_other_403_fails_naming_the_url(wb: Wayback) -> None:
    query = cdx_query_url(wb.config, DROP)
    wb.fault(query, ("status", 403, {}, b"Forbidden"))
    with pytest.raises(HTTPStatusError) as info:
        wb.discover()
    assert str(info.value).startswith(query) and "HTTP 403" in str(info.value)


def test_discover_waits_out_repeated_429_without_retry_after(wb: Wayback) -> None:
    query = cdx_query_url(wb.config, DROP)
    wb.put(query, _answer(["20070702083012", DROP, "200", DIGEST_A, "1234"]))
    wb.fault(query, ("wayback_429",), ("wayback_429",), ("wayback_429",))
    manifest, _ = wb.discover()
    assert manifest.height == 1
    log = wb.server.requests.for_path(wb.path(query))
    assert [r.status for r in log] == [429, 429, 429, 200]
    gaps = [b.time - a.time for a, b in itertools.pairwise(log)]
    assert min(gaps) >= 0.18  # default_retry_after_seconds, not the 0.01 s backoff


def test_discover_429_beyond_the_retries_fails(wb: Wayback) -> None:
    query = cdx_query_url(wb.config, DROP)
    wb.config["download"]["retries"] = 1
    wb.fault(query, ("wayback_429",), ("wayback_429",))
    with pytest.raises(HTTPStatusError) as info:
        wb.discover()
    assert str(info.value).startswith(query) and "HTTP 429" in str(info.value)


def test_discover_malformed_json_is_refused_naming_the_url(wb: Wayback) -> None:
    query = cdx_query_url(wb.config, DROP)
    wb.put(query, b'[["timestamp","original"],\n["2007')
    with pytest.raises(ContentError) as info:
        wb.discover()
    assert str(info.value).startswith(query) and "not valid JSON" in str(info.value)
    assert not (wb.raw / raw_relpath(query)).exists()


def test_discover_malformed_raw_file_names_it(wb: Wayback) -> None:
    query = cdx_query_url(wb.config, DROP)
    wb.put(query, _answer(["20070702083012", DROP, "200", DIGEST_A]))
    with pytest.raises(MalformedInput) as info:
        wb.discover()
    assert str(info.value).startswith(raw_relpath(query).as_posix())


def test_merge_keeps_one_row_per_capture_across_spellings(wb: Wayback) -> None:
    rows = [
        ["20070702083012", DROP, "200", DIGEST_A, "1234"],
        ["20080214120000", DROP_UPPER, "200", DIGEST_B, "1301"],
    ]
    wb.put(cdx_query_url(wb.config, DROP), _answer(*rows))
    wb.put(
        cdx_query_url(wb.config, DROP_UPPER),
        _answer(*rows, ["20080301000000", DROP_UPPER, "200", DIGEST_A, "9"]),
    )
    first, _ = wb.discover(index=0)
    second, _ = wb.discover(index=1)
    merged = merge_manifests([second, first])
    assert merged["cdx_timestamp"].to_list() == [
        "20070702083012",
        "20080214120000",
        "20080301000000",
    ]
    assert merged["url_index"].to_list() == [0, 0, 1]
    assert merged["original"].to_list() == [DROP, DROP_UPPER, DROP_UPPER]
    assert merge_manifests([]).height == 0


def test_cdx_and_replays_have_separate_rate_limits(wb: Wayback) -> None:
    hosts = {
        "web.archive.org/cdx": {"requests_per_minute": 300},  # 0.2 s apart
        "web.archive.org/web": {"requests_per_minute": 6000},
    }
    wb.config["download"]["hosts"] = hosts
    stamps = [f"2008010{d}120000" for d in range(1, 7)]
    replays = [wb.capture(s, b"1.2.3.0/24 ; SBL1\n") for s in stamps]
    answer = _answer(["20080101120000", DROP, "200", DIGEST_A, "1"])
    wb.put(cdx_query_url(wb.config, DROP), answer)
    wb.put(cdx_query_url(wb.config, DROP_UPPER), answer)
    wb.discover(index=0)
    for url in replays:
        wb.fetch(url)
    wb.discover(index=1)
    log = wb.server.requests.snapshot()
    cdx = [r.time for r in log if "/cdx/" in r.path]
    web = [r.time for r in log if "/web/" in r.path]
    assert cdx[1] - cdx[0] >= 0.19
    assert web[-1] - web[0] < 0.2  # six replays did not queue behind the CDX limit
    assert (wb.raw / ".ratelimit" / "web.archive.org_cdx").exists()
    assert (wb.raw / ".ratelimit" / "web.archive.org_web").exists()


# --- replays --------------------------------------------------------------------------------


def test_exact_capture(wb: Wayback) -> None:
    url = wb.capture("20080214120000", b"; Spamhaus DROP List\n1.2.3.0/24 ; SBL1\n")
    result = wb.fetch(url)
    assert result.served_url == url and result.redirects == ()
    assert result.capture_time == dt.datetime(2008, 2, 14, 12, tzinfo=dt.UTC)
    assert result.memento_datetime == "Thu, 14 Feb 2008 12:00:00 GMT"
    assert result.path == wb.raw / raw_relpath(url)
    assert result.path.read_bytes().endswith(b"SBL1\n")
    assert raw_relpath(url).as_posix() in wb.checksums.read_text()


def test_inexact_timestamp_is_followed_and_stored_under_the_capture(wb: Wayback) -> None:
    served = wb.capture("20080214120047", b"1.2.3.0/24 ; SBL1\n")
    asked = replay_url(wb.config, "20080214120000", DROP)
    result = wb.fetch(asked)
    assert result.requested_url == asked and result.served_url == served
    assert result.served_timestamp == "20080214120047"
    assert result.redirects == (asked,)
    assert result.capture_time == dt.datetime(2008, 2, 14, 12, 0, 47, tzinfo=dt.UTC)
    assert result.path == wb.raw / raw_relpath(served)
    assert not (wb.raw / raw_relpath(asked)).exists()
    assert wb.statuses(asked) == [302] and wb.statuses(served) == [200]


def test_replay_digest_is_the_cdx_digest_of_the_bytes(wb: Wayback) -> None:
    body = b"; Spamhaus DROP List\n1.2.3.0/24 ; SBL1\n"
    url = wb.capture("20080214120000", body)
    result = wb.fetch(url)
    expected = base64.b32encode(hashlib.sha1(body).digest()).decode()
    assert result.digest == expected == payload_digest(result.path)
    assert re.fullmatch(r"[A-Z2-7]{32}", result.digest)
    assert result.served_timestamp == "20080214120000"


def test_missing_capture_is_no_capture_naming_the_url(wb: Wayback) -> None:
    wb.capture("20080214120000", b"1.2.3.0/24 ; SBL1\n")
    asked = replay_url(wb.config, "20080301000000", DROP)
    with pytest.raises(NoCapture) as info:
        wb.fetch(asked)
    assert str(info.value).startswith(asked)
    assert "HTTP 404" in str(info.value) and "x-ts: 404" in str(info.value)
    assert not list(wb.raw.rglob("drop.lasso*"))


def test_false_capture_is_refused_then_asked_again(wb: Wayback) -> None:
    url = wb.capture("20080214120000", b"1.2.3.0/24 ; SBL1\n")
    wb.fault(url, ("wayback_blocked",))
    result = wb.fetch(url)
    assert result.false_captures == 1
    assert wb.statuses(url) == [200, 200]
    assert result.path.read_bytes() == b"1.2.3.0/24 ; SBL1\n"


def test_persistent_false_capture_fails_naming_the_url(wb: Wayback) -> None:
    url = wb.capture("20080214120000", b"1.2.3.0/24 ; SBL1\n")
    wb.fault(url, *[("wayback_blocked",)] * 5)
    with pytest.raises(NotACapture) as info:
        wb.fetch(url, false_capture_retries=2)
    message = str(info.value)
    assert message.startswith(url) and "without Memento-Datetime" in message
    assert "\n" not in message
    assert len(wb.statuses(url)) == 3
    assert not (wb.raw / raw_relpath(url)).exists()
    assert not list(wb.raw.rglob("*.part"))


def test_replay_429_without_retry_after_is_retried(wb: Wayback) -> None:
    url = wb.capture("20080214120000", b"1.2.3.0/24 ; SBL1\n")
    wb.fault(url, ("wayback_429",), ("wayback_429",))
    result = wb.fetch(url)
    assert wb.statuses(url) == [429, 429, 200] and result.attempts == 3


def test_empty_capture_is_a_capture(wb: Wayback) -> None:
    url = wb.capture("20080214120000", b"")
    result = wb.fetch(url)
    assert result.bytes == 0 and result.path.read_bytes() == b""


def test_manifest_rows_lead_to_captures(wb: Wayback) -> None:
    wb.capture("20070702083012", b"1.2.3.0/24 ; SBL1\n")
    wb.put(cdx_query_url(wb.config, DROP), _answer(["20070702083012", DROP, "200", DIGEST_A, "1"]))
    manifest, _ = wb.discover()
    result = wb.fetch(manifest["replay_url"][0])
    assert result.capture_time == manifest["cdx_time"][0]
    assert isinstance(manifest, pl.DataFrame)
