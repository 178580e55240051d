"""How hard and how politely to download from one host: :class:`DownloadPolicy`.

The ``download`` config block gives the defaults; ``download.hosts.<host>`` (or
``<host>/<path prefix>``) overrides them for one host or one part of it
(:func:`policy_for_url`). :class:`HostRateLimit` spaces request starts to a host across
processes (an flock'ed time stamp file per host).

Guarantees: every setting is range-checked when the policy is built (a bad one is a
ValueError naming it); ``deadline_seconds`` bounds one file's download across all its retries;
``max_retry_after_seconds`` caps any server-requested wait.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


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
    #: One file's download, every retry and wait included, must end within this.
    deadline_seconds: float = 3600
    #: A longer Retry-After is cut to this (and logged).
    max_retry_after_seconds: float = 300

    def __post_init__(self) -> None:
        checks = {
            "retries": self.retries >= 0,
            "backoff_seconds": self.backoff_seconds >= 0,
            "backoff_max_seconds": self.backoff_max_seconds >= 0,
            "timeout_seconds": self.timeout_seconds > 0,
            "default_retry_after_seconds": self.default_retry_after_seconds >= 0,
            "requests_per_minute": self.requests_per_minute is None or self.requests_per_minute > 0,
            "min_bytes": self.min_bytes >= 0,
            "deadline_seconds": self.deadline_seconds > 0,
            "max_retry_after_seconds": self.max_retry_after_seconds >= 0,
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
