"""The one function every download goes through: :func:`fetch`.

**Mirror rule.** When a mirror is configured a URL ``SCHEME://HOST/PATH?QUERY`` is fetched
from ``MIRROR/HOST/PATH?QUERY`` (:func:`mirror_url`); nothing else changes.

Guarantees, each held by a test in ``tests/test_download.py`` or
``tests/test_fetch_guarantees.py``:

* **Exactly as served, complete or not at all.** The body is stored byte for byte (no content
  decoding) in ``<dest>.part`` and renamed to ``dest`` only after its size, its container
  (:mod:`takedowns.sources.containers`: gzip, bzip2, xz and 7z fully decoded with their CRCs, JSON)
  and ``SHA256SUMS`` (:mod:`takedowns.sources.ledger`) agree. ``dest`` and its ``SHA256SUMS`` line
  appear together or not at all.
* **One fetch per destination at a time.** An exclusive ``flock`` on ``.<name>.lock`` next to
  ``dest`` is held for the whole fetch, across threads and processes (two workflow instances
  started in the same directory). After taking it, a ``dest`` already present whose sha256
  equals its ``SHA256SUMS`` line is the result: no transfer (unless ``require_header`` asks for
  the headers of a response).
* **A resume only continues the same file.** When a body starts, the URL, its validator
  (strong ``ETag``, else ``Last-Modified``) and its full length are saved in
  ``<dest>.part.json``. A resume sends ``Range`` with ``If-Range: <validator>`` and accepts
  only a 206 whose ``Content-Range`` starts at the offset and whose total is the saved length;
  a 200 (the server's file changed, or it ignores ranges) restarts from byte 0, and a
  ``.part`` without its saved validator (or saved for another URL) is discarded.
* **Retries share ONE budget** of ``policy.retries`` (at most ``retries + 1`` requests):
  urllib3's ``Retry`` retries before a body is read (connect errors, header timeouts,
  429/500/502/503/504, honouring ``Retry-After`` up to ``max_retry_after_seconds``; a 429
  without one waits ``default_retry_after_seconds``); tenacity resumes a body cut off
  mid-transfer; a body whose container does not decode is fetched again from byte 0.
* **A file truncated at the source can be used.** When two complete transfers (each of its
  announced ``Content-Length``) give the same bytes and the stream container ends early, the
  file is kept and recorded ``truncated_at_source`` in ``SHA256SUMS.status``
  (:attr:`FetchResult.status`); the caller decides whether the study may use it.
* **Bounded time.** ``deadline_seconds`` bounds one file's download, every retry and wait
  included (a server dripping bytes cannot hang a run); the ``.part`` is kept for a later run.
* **Every request start passes one gate** that waits for the per-host rate limit (shared
  across processes, :class:`~takedowns.sources.fetch_policy.HostRateLimit`) and counts the attempt.
* **Errors are one line** naming the URL (and the file, when writing it failed: disk full,
  permissions).
"""

from __future__ import annotations

import argparse
import fcntl
import ipaddress
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, get_args
from urllib.parse import urljoin, urlsplit

import requests
import tenacity
import urllib3
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from tqdm import tqdm
from urllib3.util.retry import Retry

from takedowns import __version__
from takedowns.errors import (
    ContentError,
    CorruptContent,
    DeadlineExceeded,
    DownloadError,
    HTTPStatusError,
    LocalFileError,
    MissingHeaderError,
    TruncatedContent,
)
from takedowns.paths import raw_relpath
from takedowns.sources import ledger
from takedowns.sources.containers import Expect, check_content, infer_expect
from takedowns.sources.fetch_policy import DEFAULT_POLICY, DownloadPolicy, HostRateLimit

log = logging.getLogger(__name__)

#: Statuses retried (with backoff, or after Retry-After) before any body is read.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Bodies larger than this get a progress bar (when the policy allows one).
PROGRESS_MIN_BYTES = 1 << 20
#: Default directory of the per-host rate limit stamps (relative to the working directory).
DEFAULT_RATELIMIT_DIR = Path("data/raw/.ratelimit")
USER_AGENT = f"takedowns/{__version__} (research archive download; python-requests)"

_CHUNK = 1 << 16


class _Interrupted(Exception):
    """The transfer broke off mid-body; the next attempt resumes from the ``.part`` file."""


class _DeadlineHit(Exception):
    """The per-file deadline passed (raised from inside urllib3's retry sleep, too)."""


class _StatusFailure(Exception):
    """The final response (after urllib3's retries) had an unusable status."""

    def __init__(self, status: int, reason: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status} {reason}".strip())
        self.status = status
        self.headers = dict(headers or {})


# --------------------------------------------------------------------------------------------
# URLs


def mirror_url(url: str, mirror: str | None) -> str:
    """Apply the mirror rule: ``SCHEME://HOST/PATH?QUERY`` -> ``MIRROR/HOST/PATH?QUERY``.

    Without a mirror the URL is returned unchanged. A fragment is dropped (never sent anyway).
    """
    if not mirror:
        return url
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"not an absolute URL: {url!r}")
    query = f"?{parts.query}" if parts.query else ""
    return f"{mirror.rstrip('/')}/{parts.netloc}{parts.path or '/'}{query}"


def unmirror_url(url: str, mirror: str | None, scheme: str = "https") -> str:
    """Invert the mirror rule: ``MIRROR/HOST/PATH?QUERY`` -> ``SCHEME://HOST/PATH?QUERY``.

    A URL not on the mirror (or without a mirror) is returned unchanged.
    """
    if not mirror:
        return url
    base = mirror.rstrip("/") + "/"
    return f"{scheme}://{url[len(base) :]}" if url.startswith(base) else url


def raw_dest(url: str, raw_root: Path = Path("data/raw")) -> Path:
    """Where ``url`` is stored: ``<raw_root>/<host>/<path>`` (see :func:`paths.raw_relpath`)."""
    return raw_root / raw_relpath(url)


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --------------------------------------------------------------------------------------------
# HTTP plumbing


@dataclass
class _Gate:
    """Every request start passes here: wait for the host's rate limit, count the attempt."""

    limit: HostRateLimit | None
    attempts: int = 0

    def __call__(self) -> None:
        if self.limit is not None:
            self.limit.wait()
        self.attempts += 1


class _GatedRetry(Retry):
    """urllib3 Retry that waits a default time on a bare 429, caps Retry-After, keeps the
    deadline and gates every retry (``gate`` runs just before urllib3 sends again)."""

    default_retry_after: float = 60.0
    max_retry_after: float = 300.0
    deadline: float | None = None  # time.monotonic() value
    gate: Callable[[], None] | None = None

    def new(self, **kw: Any) -> _GatedRetry:
        """Copy the extra attributes too (urllib3 makes a new Retry per increment)."""
        retry = super().new(**kw)
        retry.default_retry_after = self.default_retry_after
        retry.max_retry_after = self.max_retry_after
        retry.deadline = self.deadline
        retry.gate = self.gate
        return retry

    def get_retry_after(self, response: urllib3.BaseHTTPResponse) -> float | None:
        """Retry-After in seconds (capped); a 429 without one waits ``default_retry_after``."""
        seconds = super().get_retry_after(response)
        if seconds is None and response.status == 429:
            return self.default_retry_after
        if seconds is not None and seconds > self.max_retry_after:
            log.warning(
                "%s: Retry-After %g s is longer than download.max_retry_after_seconds; "
                "waiting %g s",
                getattr(response, "url", None) or "response",
                seconds,
                self.max_retry_after,
            )
            return self.max_retry_after
        return seconds

    def get_backoff_time(self) -> float:
        """``backoff_factor * 2**(n-1)`` for the n-th retry, capped (urllib3 skips the first)."""
        if not self.history:
            return 0.0
        return min(self.backoff_max, self.backoff_factor * 2 ** (len(self.history) - 1))

    def sleep(self, response: urllib3.BaseHTTPResponse | None = None) -> None:
        """Sleep (Retry-After or backoff) unless that passes the deadline, then pass the gate."""
        if self.history:
            last = self.history[-1]
            problem = f"HTTP {last.status}" if last.status else _one_line(str(last.error))
            log.warning("%s %s: %s; retrying (%s left)", last.method, last.url, problem, self.total)
        wait = None
        if self.respect_retry_after_header and response is not None:
            wait = self.get_retry_after(response)
        if wait is None:
            wait = self.get_backoff_time()
        if self.deadline is not None and time.monotonic() + wait > self.deadline:
            raise _DeadlineHit(f"the next retry would start after the deadline (wait {wait:g} s)")
        if wait > 0:
            time.sleep(wait)
        if self.gate is not None:
            self.gate()


class _GatedAdapter(HTTPAdapter):
    """HTTPAdapter whose first send of each request also passes the gate."""

    def __init__(self, gate: Callable[[], None], retry: Retry) -> None:
        self._gate = gate
        super().__init__(max_retries=retry)

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        self._gate()
        return super().send(request, *args, **kwargs)


class _MirrorSession(requests.Session):
    """Session that keeps redirects on the mirror: an absolute Location elsewhere is mapped."""

    def __init__(self, mirror: str | None) -> None:
        super().__init__()
        self.mirror = mirror.rstrip("/") if mirror else None

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        target = super().get_redirect_target(resp)
        if target and self.mirror:
            absolute = urljoin(resp.url, target)
            if not absolute.startswith(self.mirror + "/"):
                return mirror_url(absolute, self.mirror)
        return target


def _session(
    policy: DownloadPolicy, gate: _Gate, retries: int, mirror: str | None, deadline: float
) -> _MirrorSession:
    """A session whose adapter retries at most ``retries`` times before a body is read."""
    retry = _GatedRetry(
        total=retries,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "HEAD"}),
        backoff_factor=policy.backoff_seconds,
        backoff_max=policy.backoff_max_seconds,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    retry.default_retry_after = policy.default_retry_after_seconds
    retry.max_retry_after = policy.max_retry_after_seconds
    retry.deadline = deadline
    retry.gate = gate
    session = _MirrorSession(mirror)
    session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
    # A loopback mirror never needs the environment's proxies (and must not leave the host).
    session.trust_env = not (mirror and _is_loopback(mirror))
    adapter = _GatedAdapter(gate, retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


# --------------------------------------------------------------------------------------------
# Local files: the part, its saved validators, the destination lock


@contextmanager
def _local_io(url: str, path: Path, doing: str) -> Iterator[None]:
    """Turn an OSError of a local file operation into LocalFileError naming the file."""
    try:
        yield
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        code = f"errno {exc.errno}: " if exc.errno else ""
        raise LocalFileError(f"{url}: cannot {doing} {path} ({code}{reason})") from exc


def _write_chunk(out: IO[bytes], chunk: bytes) -> None:
    """Append one chunk of the body to the part file."""
    out.write(chunk)


@contextmanager
def destination_lock(dest: Path, url: str = "") -> Iterator[Path]:
    """Hold an exclusive flock on ``.<name>.lock`` next to ``dest`` (blocks until free).

    The holder removes the lock file before it lets go, so none is left behind; a waiter that
    then holds a lock on the removed file sees that the path no longer names it and tries
    again, so two holders can never coexist.
    """
    lock = dest.with_name(f".{dest.name}.lock")
    while True:
        with _local_io(url or str(dest), lock, "lock"):
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                current = os.stat(lock).st_ino
            except FileNotFoundError:
                current = None
            if current == os.fstat(fd).st_ino:
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the file was removed by the previous holder: take the new one
    try:
        yield lock
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)  # also releases the lock


def _sidecar(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _read_saved(part: Path) -> dict[str, Any] | None:
    """The validators saved for ``part`` (None when absent or unreadable)."""
    try:
        saved = json.loads(_sidecar(part).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return saved if isinstance(saved, dict) else None


# --------------------------------------------------------------------------------------------
# One transfer attempt


@dataclass
class _Transfer:
    """What one fetch has learned so far, shared by its attempts."""

    source_url: str  # the URL asked for (before the mirror rule): the identity of the part
    url: str  # the URL requested (after the mirror rule)
    part: Path
    policy: DownloadPolicy
    mirror: str | None
    gate: _Gate
    deadline: float  # time.monotonic() value
    resumed: bool = False
    content_type: str | None = None
    final_url: str | None = None
    allow_redirects: bool = True
    headers: Mapping[str, str] = field(default_factory=dict)  # of the last response

    def discard(self) -> None:
        """Remove the part file and its saved validators."""
        self.part.unlink(missing_ok=True)
        _sidecar(self.part).unlink(missing_ok=True)

    def remaining(self) -> float:
        """Seconds left before the deadline."""
        return self.deadline - time.monotonic()

    def _resume_point(self) -> tuple[int, dict[str, Any] | None]:
        """Where to resume (0: from scratch) and the validators saved for the part."""
        if not self.part.exists():
            _sidecar(self.part).unlink(missing_ok=True)
            return 0, None
        saved = _read_saved(self.part)
        size = self.part.stat().st_size
        usable = (
            saved is not None
            and saved.get("url") == self.source_url
            and bool(saved.get("validator"))
            and isinstance(saved.get("length"), int)
            and 0 < size < saved["length"]
        )
        if not usable:
            log.info("%s: discarding %s (no matching saved validator)", self.source_url, self.part)
            self.discard()
            return 0, None
        return size, saved

    def run(self) -> None:
        """One attempt: request the rest of the body (or all of it) and append it to the part."""
        if self.remaining() <= 0:
            raise _DeadlineHit("the deadline passed before the next attempt")
        offset, saved = self._resume_point()
        headers = {}
        if offset and saved is not None:
            headers["Range"] = f"bytes={offset}-"
            headers["If-Range"] = str(saved["validator"])
        budget = self.policy.retries - self.gate.attempts
        timeout = max(0.001, min(self.policy.timeout_seconds, self.remaining()))
        with (
            _session(self.policy, self.gate, budget, self.mirror, self.deadline) as session,
            session.get(
                self.url,
                headers=headers,
                stream=True,
                timeout=timeout,
                allow_redirects=self.allow_redirects,
            ) as resp,
        ):
            self.final_url = resp.url
            self.headers = CaseInsensitiveDict(resp.headers)
            self.content_type = resp.headers.get("Content-Type")
            total = self._accept(resp, offset, saved)
            if resp.status_code == 200:
                offset = 0
            self._write(resp, offset, total)

    def _accept(
        self, resp: requests.Response, offset: int, saved: dict[str, Any] | None
    ) -> int | None:
        """Check the status against the request; return the full size when known."""
        length = _int_or_none(resp.headers.get("Content-Length"))
        if resp.status_code == 200:
            self.resumed = False
            self._save_validators(resp, length)
            return length
        if resp.status_code == 206 and offset and saved is not None:
            content_range = resp.headers.get("Content-Range", "")
            match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", content_range)
            if not match or int(match[1]) != offset or match[3] != str(saved["length"]):
                self.discard()
                raise _Interrupted(
                    f"asked for bytes={offset}- of {saved['length']}, got Content-Range "
                    f"{content_range!r}; starting over"
                )
            self.resumed = True
            return int(match[3])
        if resp.status_code == 416 and offset:
            self.discard()
            raise _Interrupted(f"HTTP 416 for bytes={offset}- (stale partial file); starting over")
        raise _StatusFailure(resp.status_code, resp.reason or "", resp.headers)

    def _save_validators(self, resp: requests.Response, length: int | None) -> None:
        """Save what identifies this version of the file, so a later resume can check it."""
        etag = resp.headers.get("ETag", "")
        strong = etag if etag and not etag.startswith("W/") else ""
        validator = strong or resp.headers.get("Last-Modified") or ""
        sidecar = _sidecar(self.part)
        with _local_io(self.source_url, sidecar, "write"):
            if not validator or length is None:
                sidecar.unlink(missing_ok=True)  # without them the part cannot be resumed
                return
            saved = {
                "url": self.source_url,
                "validator": validator,
                "etag": etag or None,
                "last_modified": resp.headers.get("Last-Modified"),
                "length": length,
            }
            tmp = sidecar.with_name(sidecar.name + ".tmp")
            tmp.write_text(json.dumps(saved, sort_keys=True) + "\n", encoding="utf-8")
            os.replace(tmp, sidecar)

    def _write(self, resp: requests.Response, offset: int, total: int | None) -> None:
        """Stream the body into the part file (appending after ``offset``)."""
        length = _int_or_none(resp.headers.get("Content-Length"))
        show = self.policy.progress and (total or 0) > PROGRESS_MIN_BYTES
        received = 0
        with (
            _local_io(self.source_url, self.part, "write"),
            self.part.open("ab" if offset else "wb") as out,
            tqdm(
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=self.part.name.removesuffix(".part"),
                file=sys.stderr,
                disable=not show,
                leave=False,
            ) as bar,
        ):
            try:
                for chunk in _body_chunks(resp):
                    _write_chunk(out, chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
                    if self.remaining() <= 0:
                        raise _DeadlineHit(f"{offset + received} of {total or '?'} bytes received")
            finally:
                out.flush()
                os.fsync(out.fileno())
        if length is not None and received != length:
            raise _Interrupted(f"connection closed after {received} of {length} bytes")
        size = self.part.stat().st_size
        if total is not None and size != total:
            self.discard()
            raise _Interrupted(f"assembled {size} bytes, server says {total}; starting over")


def _body_chunks(resp: requests.Response) -> Iterator[bytes]:
    """The raw body bytes as they arrive (no content decoding, no waiting for a full chunk,
    so a slow server cannot hide the deadline); a broken connection -> _Interrupted."""
    try:
        while chunk := resp.raw.read1(_CHUNK, decode_content=False):
            yield chunk
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise _Interrupted(_one_line(exc)) from exc


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _one_line(exc: BaseException | str) -> str:
    text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    return " ".join(str(text).split())


# --------------------------------------------------------------------------------------------
# fetch


@dataclass(frozen=True)
class FetchResult:
    """A completed download. ``fetched_url`` is the last URL answered (mirror, redirects)."""

    url: str
    fetched_url: str
    path: Path
    bytes: int
    sha256: str
    resumed: bool
    attempts: int
    #: Headers of the response that delivered the body (e.g. ``Memento-Datetime``), looked
    #: up case-insensitively; empty when the file was already there (``reused``).
    headers: Mapping[str, str] = field(default_factory=dict)
    #: ``complete`` or ``truncated_at_source`` (as recorded in the ledger).
    status: ledger.Status = "complete"
    #: The destination was already present and matched SHA256SUMS: nothing was transferred.
    reused: bool = False


def fetch(
    url: str,
    dest: Path,
    *,
    mirror: str | None = None,
    policy: DownloadPolicy = DEFAULT_POLICY,
    checksums: Path | None = None,
    expect: Expect | None = None,
    ratelimit_dir: Path | None = None,
    require_header: str | None = None,
    allow_redirects: bool = True,
    rate_key: str | None = None,
) -> FetchResult:
    """Download ``url`` to ``dest`` exactly as served; see the module doc for the guarantees.

    ``expect`` forces the content check (default: inferred from the URL's file name);
    ``ratelimit_dir`` holds the per-host rate limit stamps (default ``.ratelimit`` next to
    ``checksums``, else ``data/raw/.ratelimit``). Raises DownloadError (HTTPStatusError,
    ContentError, ChecksumMismatch, DeadlineExceeded, LocalFileError, ...); ``dest`` only ever
    appears complete and checked.

    ``require_header`` refuses (ContentError naming the URL, not retried) a body whose response
    lacks that header: a Wayback replay is a capture only with ``Memento-Datetime``.
    ``allow_redirects=False`` turns a redirect into HTTPStatusError (status 3xx, ``headers``
    holding its ``Location``) so the caller decides where to go. ``rate_key`` names the rate
    limit bucket (default: the host; see :func:`~takedowns.sources.fetch_policy.policy_for_url`).
    """
    dest = Path(dest)
    expect = expect or infer_expect(url)
    if expect not in get_args(Expect):
        raise ValueError(f"expect={expect!r}; allowed: {', '.join(get_args(Expect))}")
    if checksums is not None:
        ledger.checksum_key(dest, checksums)  # fail before downloading when dest is misplaced
    host = urlsplit(url).hostname
    if not host:
        raise ValueError(f"not an absolute URL: {url!r}")
    limit = None
    if policy.requests_per_minute:
        directory = ratelimit_dir or (
            checksums.parent / ".ratelimit" if checksums else DEFAULT_RATELIMIT_DIR
        )
        limit = HostRateLimit(directory, rate_key or host, policy.min_interval_seconds)
    with _local_io(url, dest.parent, "create the directory"):
        dest.parent.mkdir(parents=True, exist_ok=True)
    with destination_lock(dest, url):
        if checksums is not None and require_header is None:
            reused = _reuse(url, dest, checksums, mirror)
            if reused is not None:
                return reused
        transfer = _Transfer(
            source_url=url,
            url=mirror_url(url, mirror),
            part=dest.with_name(dest.name + ".part"),
            policy=policy,
            mirror=mirror,
            gate=_Gate(limit),
            deadline=time.monotonic() + policy.deadline_seconds,
            allow_redirects=allow_redirects,
        )
        return _fetch_checked(transfer, url, dest, expect, checksums, require_header)


def _reuse(url: str, dest: Path, checksums: Path, mirror: str | None) -> FetchResult | None:
    """The result for a ``dest`` already present and matching its SHA256SUMS line, else None."""
    if not dest.is_file():
        return None
    book = ledger.read_ledger(checksums)
    key = ledger.checksum_key(dest, checksums)
    recorded = book.sums.get(key)
    if recorded is None or ledger.sha256_file(dest) != recorded:
        return None
    log.info("%s: %s is already here and matches %s", url, dest, checksums)
    return FetchResult(
        url=url,
        fetched_url=mirror_url(url, mirror),
        path=dest,
        bytes=dest.stat().st_size,
        sha256=recorded,
        resumed=False,
        attempts=0,
        status=book.status(key),
        reused=True,
    )


def _fetch_checked(
    transfer: _Transfer,
    url: str,
    dest: Path,
    expect: Expect,
    checksums: Path | None,
    require_header: str | None,
) -> FetchResult:
    """Transfer until a body passes its checks (or the budget ends); then commit it."""
    truncated_sha: str | None = None
    while True:
        _run_with_resume(transfer, url)
        status: ledger.Status = "complete"
        try:
            _check_body(transfer, url, expect, require_header)
        except TruncatedContent as exc:
            sha = ledger.sha256_file(transfer.part)
            if sha != truncated_sha:  # not yet confirmed by a second, identical transfer
                truncated_sha = sha
                _again_or_raise(transfer, exc)
                continue
            status = "truncated_at_source"
            log.warning("%s: the source serves this file truncated: %s", url, exc)
        except CorruptContent as exc:
            truncated_sha = None
            _again_or_raise(transfer, exc)
            continue
        except DownloadError:
            transfer.discard()  # complete but refused: resuming cannot fix it
            raise
        return _commit(transfer, url, dest, checksums, status)


def _check_body(transfer: _Transfer, url: str, expect: Expect, require_header: str | None) -> None:
    """The required header, the minimum size and the container of the received body."""
    if require_header is not None:
        _check_header(transfer, url, require_header)
    size = transfer.part.stat().st_size
    if size < transfer.policy.min_bytes:
        raise ContentError(
            f"{url}: got {size} bytes, fewer than the minimum {transfer.policy.min_bytes}"
        )
    check_content(transfer.part, expect, url, transfer.content_type)


def _again_or_raise(transfer: _Transfer, exc: ContentError) -> None:
    """Drop a refused body; return when the budget allows another transfer, else raise."""
    transfer.discard()
    attempts = transfer.gate.attempts
    if attempts > transfer.policy.retries or transfer.remaining() <= 0:
        plural = "s" if attempts != 1 else ""
        raise type(exc)(f"{exc}; refused after {attempts} attempt{plural}") from exc
    log.warning("%s; fetching it again", exc)


def _commit(
    transfer: _Transfer, url: str, dest: Path, checksums: Path | None, status: ledger.Status
) -> FetchResult:
    """Rename the checked part into place and record it in the ledger."""
    size = transfer.part.stat().st_size
    try:
        with _local_io(url, transfer.part, "hash"):
            sha = ledger.sha256_file(transfer.part)
        with _local_io(url, dest, "write"):
            ledger.commit(transfer.part, dest, sha, checksums, status)
    except DownloadError:
        transfer.discard()
        raise
    _sidecar(transfer.part).unlink(missing_ok=True)
    return FetchResult(
        url=url,
        fetched_url=transfer.final_url or transfer.url,
        path=dest,
        bytes=size,
        sha256=sha,
        resumed=transfer.resumed,
        attempts=transfer.gate.attempts,
        headers=CaseInsensitiveDict(transfer.headers),
        status=status,
    )


def _check_header(transfer: _Transfer, url: str, name: str) -> None:
    """ContentError naming the URL when the response that delivered the body lacks ``name``."""
    if any(key.lower() == name.lower() for key in transfer.headers):
        return
    size = transfer.part.stat().st_size if transfer.part.exists() else 0
    raise MissingHeaderError(
        f"{url}: the response has no {name} header, so it is not what was asked for "
        f"(HTTP 200, Content-Type {transfer.content_type or 'not given'}, {size} bytes)"
    )


def _run_with_resume(transfer: _Transfer, url: str) -> None:
    """Run transfer attempts under tenacity until done, the budget is spent or time is up."""
    policy = transfer.policy
    backoff = tenacity.wait_exponential(
        multiplier=policy.backoff_seconds, max=policy.backoff_max_seconds
    )
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(_Interrupted),
        stop=lambda _state: transfer.gate.attempts > policy.retries or transfer.remaining() <= 0,
        wait=lambda state: max(0.0, min(backoff(state), transfer.remaining())),
        before_sleep=tenacity.before_sleep_log(log, logging.WARNING),
        reraise=True,
    )
    try:
        retrying(transfer.run)
    except _DeadlineHit as exc:
        raise _deadline_error(url, transfer, str(exc)) from exc
    except _StatusFailure as exc:
        raise HTTPStatusError(_failure(url, transfer, str(exc)), exc.status, exc.headers) from exc
    except (_Interrupted, requests.RequestException) as exc:
        if transfer.remaining() <= 0:
            raise _deadline_error(url, transfer, _one_line(exc)) from exc
        raise DownloadError(_failure(url, transfer, _one_line(exc))) from exc


def _deadline_error(url: str, transfer: _Transfer, problem: str) -> DeadlineExceeded:
    kept = transfer.part.stat().st_size if transfer.part.exists() else 0
    return DeadlineExceeded(
        _failure(
            url,
            transfer,
            f"no complete download within download.deadline_seconds="
            f"{transfer.policy.deadline_seconds:g} ({problem}; {kept} bytes kept in "
            f"{transfer.part.name} for the next run)",
        )
    )


def _failure(url: str, transfer: _Transfer, problem: str) -> str:
    """One line: the URL (and the URL fetched, when different), the problem, the attempts."""
    via = f" (fetched as {transfer.url})" if transfer.url != url else ""
    attempts = transfer.gate.attempts
    return f"{url}{via}: {problem} after {attempts} attempt{'s' if attempts != 1 else ''}"


def head_size(
    url: str,
    *,
    mirror: str | None = None,
    policy: DownloadPolicy = DEFAULT_POLICY,
    ratelimit_dir: Path | None = None,
    rate_key: str | None = None,
) -> int | None:
    """The ``Content-Length`` a HEAD request for ``url`` announces, or None without one.

    Sent like a download: through the mirror rule, the host's rate limit (``rate_key``, in
    ``ratelimit_dir``, default ``data/raw/.ratelimit``) and the policy's retries; redirects
    are followed (on the mirror). A final status other than 200 is HTTPStatusError naming
    the URL, a failed request DownloadError.
    """
    host = urlsplit(url).hostname
    if not host:
        raise ValueError(f"not an absolute URL: {url!r}")
    limit = None
    if policy.requests_per_minute:
        directory = ratelimit_dir or DEFAULT_RATELIMIT_DIR
        limit = HostRateLimit(directory, rate_key or host, policy.min_interval_seconds)
    gate = _Gate(limit)
    target = mirror_url(url, mirror)
    via = f" (asked as {target})" if target != url else ""
    deadline = time.monotonic() + policy.deadline_seconds
    try:
        with _session(policy, gate, policy.retries, mirror, deadline) as session:
            resp = session.head(target, timeout=policy.timeout_seconds, allow_redirects=True)
    except requests.RequestException as exc:
        raise DownloadError(f"{url}{via}: HEAD failed: {_one_line(exc)}") from exc
    if resp.status_code != 200:
        raise HTTPStatusError(
            f"{url}{via}: HEAD answered HTTP {resp.status_code} {resp.reason}".strip(),
            resp.status_code,
            resp.headers,
        )
    return _int_or_none(resp.headers.get("Content-Length"))


# --------------------------------------------------------------------------------------------
# CLI


def main(argv: list[str] | None = None) -> int:
    """``python -m takedowns.sources.fetch URL DEST [--mirror M] [--checksums F] ...``"""
    parser = argparse.ArgumentParser(
        prog="python -m takedowns.sources.fetch",
        description="Download URL to DEST exactly as served (retries, resume, checks).",
    )
    parser.add_argument("url")
    parser.add_argument("dest", type=Path)
    parser.add_argument("--mirror", help="fetch SCHEME://HOST/PATH as MIRROR/HOST/PATH")
    parser.add_argument("--checksums", type=Path, help="SHA256SUMS file to record/verify in")
    parser.add_argument("--expect", choices=get_args(Expect), help="force the content check")
    parser.add_argument("--retries", type=int, default=DEFAULT_POLICY.retries)
    parser.add_argument("--requests-per-minute", type=float, default=None)
    parser.add_argument("--ratelimit-dir", type=Path, default=None)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    policy = replace(
        DEFAULT_POLICY,
        retries=args.retries,
        requests_per_minute=args.requests_per_minute,
        progress=not args.no_progress,
    )
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = fetch(
            args.url,
            args.dest,
            mirror=args.mirror,
            policy=policy,
            checksums=args.checksums,
            expect=args.expect,
            ratelimit_dir=args.ratelimit_dir,
        )
    except DownloadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    note = "" if result.status == "complete" else f", {result.status}"
    print(
        f"{result.sha256}  {result.path}  {result.bytes} bytes, {result.attempts} attempt(s){note}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
