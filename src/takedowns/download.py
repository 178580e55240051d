"""The one function every download goes through: :func:`fetch`.

It implements the "Mirror rule" and "Downloads" contracts of ARCHITECTURE.md: a URL is
fetched from ``MIRROR/HOST/PATH?QUERY`` when a mirror is configured; the body is stored
exactly as served (no content decoding) in ``<dest>.part`` and renamed to ``dest`` only after
its size, its container (gzip, bzip2, xz, 7z, JSON) and ``SHA256SUMS`` agree.

Retries use two layers sharing ONE budget of ``policy.retries`` retries per fetch (at most
``retries + 1`` requests in all):

* urllib3's ``Retry`` on the requests adapter retries before a body is read: connect errors,
  timeouts waiting for headers, and the statuses 429/500/502/503/504. It honours
  ``Retry-After``; a 429 without one waits ``default_retry_after_seconds`` (the Internet
  Archive sends none); anything else backs off exponentially.
* tenacity retries the transfer when the connection breaks mid-body: the next attempt asks
  for the rest with ``Range: bytes=N-`` and appends to the ``.part`` file. A server that
  answers 200 to the Range request is read from the start again.

Every request start, first tries and retries alike, passes one gate that waits for the
per-host rate limit (shared across processes through an flock'ed time stamp file) and counts
the attempt.
"""

from __future__ import annotations

import argparse
import bz2
import fcntl
import gzip
import hashlib
import ipaddress
import json
import logging
import lzma
import os
import re
import struct
import sys
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal, get_args
from urllib.parse import unquote, urljoin, urlsplit

import requests
import tenacity
import urllib3
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from tqdm import tqdm
from urllib3.util.retry import Retry

from takedowns import __version__
from takedowns.paths import raw_relpath

log = logging.getLogger(__name__)

#: Statuses retried (with backoff, or after Retry-After) before any body is read.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Bodies larger than this get a progress bar (when the policy allows one).
PROGRESS_MIN_BYTES = 1 << 20
#: The first six bytes of every 7z archive.
SEVENZ_SIGNATURE = b"7z\xbc\xaf\x27\x1c"
#: Default directory of the per-host rate limit stamps (relative to the working directory).
DEFAULT_RATELIMIT_DIR = Path("data/raw/.ratelimit")
USER_AGENT = f"takedowns/{__version__} (research archive download; python-requests)"

_CHUNK = 1 << 16
_CHECK_CHUNK = 1 << 20

#: What a downloaded body must be; ``binary`` only refuses an HTML page.
Expect = Literal["html", "json", "text", "gzip", "bz2", "xz", "7z", "binary"]
_SUFFIX_EXPECT: dict[str, Expect] = {
    ".gz": "gzip",
    ".tgz": "gzip",
    ".bz2": "bz2",
    ".xz": "xz",
    ".7z": "7z",
    ".json": "json",
    ".html": "html",
    ".htm": "html",
    ".txt": "text",
    ".log": "text",
    ".csv": "text",
}
_EXPECT_NOUN: dict[Expect, str] = {
    "html": "HTML",
    "json": "JSON",
    "text": "text",
    "gzip": "gzip data",
    "bz2": "bzip2 data",
    "xz": "xz data",
    "7z": "a 7z archive",
    "binary": "the file's data",
}


# --------------------------------------------------------------------------------------------
# Errors


class DownloadError(RuntimeError):
    """A download failed; ``str()`` is one line naming the URL and what went wrong."""


class HTTPStatusError(DownloadError):
    """The server's final answer was an HTTP error status (after any retries).

    ``headers`` are those of that final answer (e.g. ``Location`` of a redirect that was not
    followed, or ``X-Archive-Wayback-Runtime-Error`` of a blocked Wayback query).
    """

    def __init__(self, message: str, status: int, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers: Mapping[str, str] = CaseInsensitiveDict(headers or {})


class ContentError(DownloadError):
    """The body is not what the file name (or ``expect``) promises: short, truncated, HTML."""


class MissingHeaderError(ContentError):
    """The response lacks a header the caller requires (a Wayback page without
    ``Memento-Datetime`` is not a capture)."""


class ChecksumError(DownloadError):
    """A raw file disagrees with, or is missing from, ``SHA256SUMS``."""


class ChecksumMismatch(ChecksumError):
    """A raw file's sha256 differs from the one recorded in ``SHA256SUMS``."""


class UnrecordedFile(ChecksumError):
    """A raw file has no entry in ``SHA256SUMS``."""


class _Interrupted(Exception):
    """The transfer broke off mid-body; the next attempt resumes from the ``.part`` file."""


class _StatusFailure(Exception):
    """The final response (after urllib3's retries) had an unusable status."""

    def __init__(self, status: int, reason: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status} {reason}".strip())
        self.status = status
        self.headers = dict(headers or {})


# --------------------------------------------------------------------------------------------
# Policy


@dataclass(frozen=True)
class DownloadPolicy:
    """How hard and how politely to download from one host."""

    retries: int = 5
    #: First backoff in seconds; it doubles on each further retry (capped below).
    backoff_seconds: float = 2.0
    backoff_max_seconds: float = 120
    timeout_seconds: float = 60
    #: Wait after a 429 that carries no Retry-After (the Internet Archive sends none).
    default_retry_after_seconds: float = 60
    #: Per host, shared by all processes; None means no limit.
    requests_per_minute: float | None = None
    min_bytes: int = 1
    progress: bool = True

    def __post_init__(self) -> None:
        checks = {
            "retries": self.retries >= 0,
            "backoff_seconds": self.backoff_seconds >= 0,
            "backoff_max_seconds": self.backoff_max_seconds >= 0,
            "timeout_seconds": self.timeout_seconds > 0,
            "default_retry_after_seconds": self.default_retry_after_seconds >= 0,
            "requests_per_minute": self.requests_per_minute is None or self.requests_per_minute > 0,
            "min_bytes": self.min_bytes >= 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"download policy: {name}={getattr(self, name)!r} is out of range")

    @property
    def min_interval_seconds(self) -> float:
        """Minimum time between two request starts to the host (0 without a limit)."""
        return 60.0 / self.requests_per_minute if self.requests_per_minute else 0.0


DEFAULT_POLICY = DownloadPolicy()
_POLICY_KEYS = frozenset(f.name for f in fields(DownloadPolicy))


def policy_for_host(host: str, config_download: Mapping[str, Any]) -> DownloadPolicy:
    """Build the policy for ``host`` from the config's ``download`` mapping.

    Top-level keys are defaults for every host; ``hosts: {<host>: {...}}`` overrides them for
    one host (matched case-insensitively), e.g. ``hosts: {web.archive.org:
    {requests_per_minute: 24}}``. An unknown key raises ValueError naming it.
    """
    defaults = {k: v for k, v in config_download.items() if k != "hosts"}
    hosts_config = config_download.get("hosts") or {}
    hosts = {str(name).lower(): value for name, value in hosts_config.items()}
    override = hosts.get(host.lower()) or {}
    for where, mapping in (("download", defaults), (f"download.hosts.{host}", override)):
        unknown = sorted(set(mapping) - _POLICY_KEYS)
        if unknown:
            raise ValueError(
                f"{where}.{unknown[0]}: unknown setting; allowed: {', '.join(sorted(_POLICY_KEYS))}"
            )
    return replace(DEFAULT_POLICY, **{**defaults, **override})


def policy_for_url(url: str, config_download: Mapping[str, Any]) -> tuple[DownloadPolicy, str]:
    """The policy for ``url`` and the name of the rate-limit bucket it counts against.

    A ``hosts`` key may name a host and a path prefix, e.g. ``web.archive.org/cdx`` and
    ``web.archive.org/web``: the Internet Archive limits its CDX API (30/min) and its replays
    (600/min) separately. The longest key matching ``host/path`` wins (its settings over the
    host's, over the defaults) and is the bucket; without a path key this is
    :func:`policy_for_host` with the host as bucket.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError(f"not an absolute URL: {url!r}")
    target = f"{host}{parts.path or '/'}"
    hosts = {str(k).lower().rstrip("/"): v for k, v in (config_download.get("hosts") or {}).items()}
    keys = [k for k in hosts if "/" in k and (target == k or target.startswith(k + "/"))]
    if not keys:
        return policy_for_host(host, config_download), host
    key = max(keys, key=len)
    merged = dict(config_download)
    merged["hosts"] = {host: {**(hosts.get(host) or {}), **(hosts[key] or {})}}
    try:
        return policy_for_host(host, merged), key
    except ValueError as exc:
        message = str(exc).replace(f"download.hosts.{host}", f"download.hosts.{key}")
        raise ValueError(message) from None


def unmirror_url(url: str, mirror: str | None, scheme: str = "https") -> str:
    """Invert the mirror rule: ``MIRROR/HOST/PATH?QUERY`` -> ``SCHEME://HOST/PATH?QUERY``.

    A URL not on the mirror (or without a mirror) is returned unchanged.
    """
    if not mirror:
        return url
    base = mirror.rstrip("/") + "/"
    return f"{scheme}://{url[len(base) :]}" if url.startswith(base) else url


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


def raw_dest(url: str, raw_root: Path = Path("data/raw")) -> Path:
    """Where ``url`` is stored: ``<raw_root>/<host>/<path>`` (see :func:`paths.raw_relpath`)."""
    return raw_root / raw_relpath(url)


def infer_expect(url: str) -> Expect:
    """What the URL's file name promises (a directory URL promises an HTML listing)."""
    path = urlsplit(url).path
    if not path or path.endswith("/"):
        return "html"
    return _SUFFIX_EXPECT.get(PurePosixPath(unquote(path)).suffix.lower(), "binary")


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --------------------------------------------------------------------------------------------
# Per-host rate limit across processes


class HostRateLimit:
    """At most one request start per ``interval`` seconds to ``host``, across processes.

    The time of the last request start lives in ``<directory>/<host>``; a caller takes an
    exclusive ``flock`` on it, sleeps until the interval has passed, writes the new time and
    releases the lock, so waiting processes queue on the lock and then see the new stamp.
    """

    def __init__(self, directory: Path, host: str, interval: float) -> None:
        self.path = Path(directory) / re.sub(r"[^A-Za-z0-9.-]", "_", host.lower())
        self.interval = interval

    def wait(self) -> None:
        """Block until this process may start a request to the host, and claim the slot."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            last = _parse_stamp(os.pread(fd, 64, 0))
            now = time.time()
            # A stamp further ahead than one interval means the clock went back: ignore it.
            if last is not None and last <= now + self.interval:
                delay = last + self.interval - now
                if delay > 0:
                    time.sleep(delay)
                    now = time.time()
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{now:.6f}\n".encode(), 0)
        finally:
            os.close(fd)  # also releases the lock


def _parse_stamp(raw: bytes) -> float | None:
    try:
        return float(raw.decode().strip())
    except ValueError:
        return None


@dataclass
class _Gate:
    """Every request start passes here: wait for the host's rate limit, count the attempt."""

    limit: HostRateLimit | None
    attempts: int = 0

    def __call__(self) -> None:
        if self.limit is not None:
            self.limit.wait()
        self.attempts += 1


# --------------------------------------------------------------------------------------------
# HTTP plumbing


class _GatedRetry(Retry):
    """urllib3 Retry that waits a default time on a bare 429 and gates every retry.

    ``gate`` runs after the retry's sleep, just before urllib3 sends the request again.
    """

    default_retry_after: float = 60.0
    gate: Callable[[], None] | None = None

    def new(self, **kw: Any) -> _GatedRetry:
        """Copy the extra attributes too (urllib3 makes a new Retry per increment)."""
        retry = super().new(**kw)
        retry.default_retry_after = self.default_retry_after
        retry.gate = self.gate
        return retry

    def get_retry_after(self, response: urllib3.BaseHTTPResponse) -> float | None:
        """Retry-After in seconds; a 429 without one waits ``default_retry_after``."""
        seconds = super().get_retry_after(response)
        if seconds is None and response.status == 429:
            return self.default_retry_after
        return seconds

    def get_backoff_time(self) -> float:
        """``backoff_factor * 2**(n-1)`` for the n-th retry, capped (urllib3 skips the first)."""
        if not self.history:
            return 0.0
        return min(self.backoff_max, self.backoff_factor * 2 ** (len(self.history) - 1))

    def sleep(self, response: urllib3.BaseHTTPResponse | None = None) -> None:
        """Sleep (Retry-After or backoff), then pass the gate before the next request."""
        if self.history:
            last = self.history[-1]
            problem = f"HTTP {last.status}" if last.status else _one_line(str(last.error))
            log.warning("%s %s: %s; retrying (%s left)", last.method, last.url, problem, self.total)
        super().sleep(response)
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
    policy: DownloadPolicy, gate: _Gate, retries: int, mirror: str | None
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
# One transfer attempt


@dataclass
class _Transfer:
    """What one fetch has learned so far, shared by its attempts."""

    url: str  # the URL requested (after the mirror rule)
    part: Path
    policy: DownloadPolicy
    mirror: str | None
    gate: _Gate
    resumed: bool = False
    validator: str | None = None  # ETag or Last-Modified of the full body, for If-Range
    content_type: str | None = None
    final_url: str | None = None
    allow_redirects: bool = True
    headers: Mapping[str, str] = field(default_factory=dict)  # of the last response

    def run(self) -> None:
        """One attempt: request the rest of the body (or all of it) and append it to the part."""
        offset = self.part.stat().st_size if self.part.exists() else 0
        headers = {}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if self.validator:
                headers["If-Range"] = self.validator
        budget = self.policy.retries - self.gate.attempts
        with (
            _session(self.policy, self.gate, budget, self.mirror) as session,
            session.get(
                self.url,
                headers=headers,
                stream=True,
                timeout=self.policy.timeout_seconds,
                allow_redirects=self.allow_redirects,
            ) as resp,
        ):
            self.final_url = resp.url
            self.headers = CaseInsensitiveDict(resp.headers)
            self.content_type = resp.headers.get("Content-Type")
            total = self._accept(resp, offset)
            if resp.status_code == 200:
                offset = 0
            self._write(resp, offset, total)

    def _accept(self, resp: requests.Response, offset: int) -> int | None:
        """Check the status against the request; return the full size when known."""
        length = _int_or_none(resp.headers.get("Content-Length"))
        if resp.status_code == 200:
            self.resumed = False
            etag = resp.headers.get("ETag", "")
            self.validator = (
                etag if etag and not etag.startswith("W/") else resp.headers.get("Last-Modified")
            )
            return length
        if resp.status_code == 206 and offset:
            content_range = resp.headers.get("Content-Range", "")
            match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", content_range)
            if not match or int(match[1]) != offset:
                self.part.unlink(missing_ok=True)
                raise _Interrupted(
                    f"asked for bytes={offset}-, got Content-Range {content_range!r}; starting over"
                )
            self.resumed = True
            return None if match[3] == "*" else int(match[3])
        if resp.status_code == 416 and offset:
            self.part.unlink(missing_ok=True)
            raise _Interrupted(f"HTTP 416 for bytes={offset}- (stale partial file); starting over")
        raise _StatusFailure(resp.status_code, resp.reason or "", resp.headers)

    def _write(self, resp: requests.Response, offset: int, total: int | None) -> None:
        """Stream the body into the part file (appending after ``offset``)."""
        length = _int_or_none(resp.headers.get("Content-Length"))
        show = self.policy.progress and (total or 0) > PROGRESS_MIN_BYTES
        received = 0
        with (
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
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            finally:
                out.flush()
                os.fsync(out.fileno())
        if length is not None and received != length:
            raise _Interrupted(f"connection closed after {received} of {length} bytes")
        size = self.part.stat().st_size
        if total is not None and size != total:
            self.part.unlink(missing_ok=True)
            raise _Interrupted(f"assembled {size} bytes, server says {total}; starting over")


def _body_chunks(resp: requests.Response) -> Iterator[bytes]:
    """The raw body bytes as served (no content decoding); a broken connection -> _Interrupted."""
    try:
        yield from resp.raw.stream(_CHUNK, decode_content=False)
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
# Content checks


def looks_like_html(head: bytes) -> bool:
    """Whether bytes start like an HTML document (after a UTF-8 BOM and whitespace)."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    return text.startswith((b"<!doctype html", b"<html"))


def check_content(path: Path, expect: Expect, url: str, content_type: str | None = None) -> None:
    """Raise ContentError unless ``path`` holds complete ``expect`` data (not an HTML page)."""
    with path.open("rb") as handle:
        head = handle.read(1024)
    if expect != "html" and looks_like_html(head):
        raise ContentError(
            f"{url}: server returned an HTML page (Content-Type {content_type or 'not given'}) "
            f"instead of {_EXPECT_NOUN[expect]}"
        )
    if expect in ("gzip", "bz2", "xz"):
        _check_compressed(path, expect, url)
    elif expect == "7z":
        _check_7z(path, url)
    elif expect == "json":
        try:
            json.loads(path.read_bytes())
        except ValueError as exc:
            raise ContentError(f"{url}: not valid JSON ({_one_line(exc)})") from exc
    elif expect == "text":
        with path.open("rb") as handle:
            if b"\x00" in handle.read(_CHECK_CHUNK):
                raise ContentError(f"{url}: expected text, found NUL bytes")


_OPENERS: dict[str, Callable[..., IO[bytes]]] = {
    "gzip": gzip.open,
    "bz2": bz2.open,
    "xz": lzma.open,
}


def _check_compressed(path: Path, expect: Expect, url: str) -> None:
    """Decompress the whole file in bounded chunks: all streams must end properly."""
    try:
        with _OPENERS[expect](path, "rb") as stream:
            while stream.read(_CHECK_CHUNK):
                pass
    except (EOFError, OSError, lzma.LZMAError, zlib.error) as exc:
        raise ContentError(
            f"{url}: incomplete or corrupt {_EXPECT_NOUN[expect]} ({_one_line(exc)})"
        ) from exc


def _check_7z(path: Path, url: str) -> None:
    """Signature, start-header CRC, and the size and CRC of the end header of a 7z archive."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(32)
        if len(head) < 32 or not head.startswith(SEVENZ_SIGNATURE):
            raise ContentError(f"{url}: not a 7z archive (starts with {head[:6]!r})")
        (start_crc,) = struct.unpack_from("<I", head, 8)
        next_offset, next_size, next_crc = struct.unpack_from("<QQI", head, 12)
        if zlib.crc32(head[12:32]) != start_crc:
            raise ContentError(f"{url}: corrupt 7z start header (CRC mismatch)")
        needed = 32 + next_offset + next_size
        if size < needed:
            raise ContentError(
                f"{url}: truncated 7z archive: its header needs {needed} bytes, got {size}"
            )
        handle.seek(32 + next_offset)
        crc, left = 0, next_size
        while left:
            block = handle.read(min(left, _CHECK_CHUNK))
            crc, left = zlib.crc32(block, crc), left - len(block)
        if crc != next_crc:
            raise ContentError(f"{url}: corrupt 7z archive (end header CRC mismatch)")


# --------------------------------------------------------------------------------------------
# SHA256SUMS


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _checksum_key(path: Path, checksums: Path) -> str:
    """The path as recorded in SHA256SUMS: relative to the SHA256SUMS directory."""
    base = checksums.resolve().parent
    try:
        return path.resolve().relative_to(base).as_posix()
    except ValueError:
        raise ValueError(f"{path} is not under {base}, the directory of {checksums}") from None


def _parse_sums(text: str) -> dict[str, str]:
    """``{path: sha256}`` from sha256sum-format text; the first entry for a path wins."""
    sums: dict[str, str] = {}
    for line in text.splitlines():
        match = re.fullmatch(r"([0-9a-fA-F]{64}) [ *](.+)", line.strip("\r"))
        if match:
            sums.setdefault(match[2], match[1].lower())
    return sums


@contextmanager
def _locked_sums(checksums: Path, *, exclusive: bool) -> Iterator[tuple[dict[str, str], IO[str]]]:
    """Open SHA256SUMS under an flock and yield its entries and the (append-mode) handle."""
    checksums.parent.mkdir(parents=True, exist_ok=True)
    with checksums.open("a+" if exclusive else "r", encoding="utf-8") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        handle.seek(0)
        yield _parse_sums(handle.read()), handle


def _mismatch(key: str, expected: str, found: str, checksums: Path) -> ChecksumMismatch:
    return ChecksumMismatch(
        f"{key}: sha256 {found} differs from {expected} recorded in {checksums}; raw files are "
        f"never replaced silently (remove the file and its line to accept the new version)"
    )


def _commit(part: Path, dest: Path, sha: str, checksums: Path | None) -> None:
    """Rename part -> dest, recording or checking its sha256 under the SHA256SUMS lock."""
    if checksums is None:
        os.replace(part, dest)
        return
    key = _checksum_key(dest, checksums)
    with _locked_sums(checksums, exclusive=True) as (sums, handle):
        recorded = sums.get(key)
        if recorded is not None and recorded != sha:
            raise _mismatch(key, recorded, sha, checksums)
        os.replace(part, dest)
        if recorded is None:
            handle.write(f"{sha}  {key}\n")
            handle.flush()
            os.fsync(handle.fileno())


def verify_raw(path: Path, checksums: Path) -> str:
    """Recompute ``path``'s sha256 and compare it with SHA256SUMS; return it.

    Raises UnrecordedFile when the file has no entry, ChecksumMismatch when it differs.
    """
    key = _checksum_key(path, checksums)
    if not checksums.exists():
        raise UnrecordedFile(f"{key}: no entry in {checksums} (the file does not exist)")
    with _locked_sums(checksums, exclusive=False) as (sums, _):
        recorded = sums.get(key)
    if recorded is None:
        raise UnrecordedFile(f"{key}: no entry in {checksums}")
    found = sha256_file(path)
    if found != recorded:
        raise _mismatch(key, recorded, found, checksums)
    return found


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
    #: up case-insensitively.
    headers: Mapping[str, str] = field(default_factory=dict)


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
    ContentError, ChecksumMismatch, ...); ``dest`` only ever appears complete and checked.

    ``require_header`` refuses (ContentError naming the URL, not retried) a body whose response
    lacks that header: a Wayback replay is a capture only with ``Memento-Datetime``.
    ``allow_redirects=False`` turns a redirect into HTTPStatusError (status 3xx, ``headers``
    holding its ``Location``) so the caller decides where to go. ``rate_key`` names the rate
    limit bucket (default: the host; see :func:`policy_for_url`).
    """
    dest = Path(dest)
    expect = expect or infer_expect(url)
    if expect not in get_args(Expect):
        raise ValueError(f"expect={expect!r}; allowed: {', '.join(get_args(Expect))}")
    if checksums is not None:
        _checksum_key(dest, checksums)  # fail before downloading when dest is misplaced
    host = urlsplit(url).hostname
    if not host:
        raise ValueError(f"not an absolute URL: {url!r}")
    limit = None
    if policy.requests_per_minute:
        directory = ratelimit_dir or (
            checksums.parent / ".ratelimit" if checksums else DEFAULT_RATELIMIT_DIR
        )
        limit = HostRateLimit(directory, rate_key or host, policy.min_interval_seconds)
    dest.parent.mkdir(parents=True, exist_ok=True)
    transfer = _Transfer(
        url=mirror_url(url, mirror),
        part=dest.with_name(dest.name + ".part"),
        policy=policy,
        mirror=mirror,
        gate=_Gate(limit),
        allow_redirects=allow_redirects,
    )
    _run_with_resume(transfer, url)
    try:
        if require_header is not None:
            _check_header(transfer, url, require_header)
        size = transfer.part.stat().st_size
        if size < policy.min_bytes:
            raise ContentError(
                f"{url}: got {size} bytes, fewer than the minimum {policy.min_bytes}"
            )
        check_content(transfer.part, expect, url, transfer.content_type)
        sha = sha256_file(transfer.part)
        _commit(transfer.part, dest, sha, checksums)
    except DownloadError:
        transfer.part.unlink(missing_ok=True)  # complete but refused: resuming cannot fix it
        raise
    return FetchResult(
        url=url,
        fetched_url=transfer.final_url or transfer.url,
        path=dest,
        bytes=size,
        sha256=sha,
        resumed=transfer.resumed,
        attempts=transfer.gate.attempts,
        headers=CaseInsensitiveDict(transfer.headers),
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
    """Run transfer attempts under tenacity until done or the retry budget is spent."""
    policy = transfer.policy
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(_Interrupted),
        stop=lambda _state: transfer.gate.attempts > policy.retries,
        wait=tenacity.wait_exponential(
            multiplier=policy.backoff_seconds, max=policy.backoff_max_seconds
        ),
        before_sleep=tenacity.before_sleep_log(log, logging.WARNING),
        reraise=True,
    )
    try:
        retrying(transfer.run)
    except _StatusFailure as exc:
        raise HTTPStatusError(_failure(url, transfer, str(exc)), exc.status, exc.headers) from exc
    except (_Interrupted, requests.RequestException) as exc:
        raise DownloadError(_failure(url, transfer, _one_line(exc))) from exc


def _failure(url: str, transfer: _Transfer, problem: str) -> str:
    """One line: the URL (and the URL fetched, when different), the problem, the attempts."""
    via = f" (fetched as {transfer.url})" if transfer.url != url else ""
    attempts = transfer.gate.attempts
    return f"{url}{via}: {problem} after {attempts} attempt{'s' if attempts != 1 else ''}"


# --------------------------------------------------------------------------------------------
# CLI


def main(argv: list[str] | None = None) -> int:
    """``python -m takedowns.download URL DEST [--mirror M] [--checksums F] ...``"""
    parser = argparse.ArgumentParser(
        prog="python -m takedowns.download",
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
    print(f"{result.sha256}  {result.path}  {result.bytes} bytes, {result.attempts} attempt(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
