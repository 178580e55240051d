"""What the download tests share: archive URLs as served in 2007-2009, fast retry timings and
deterministic payloads (imported by test_download.py and test_fetch_guarantees.py)."""

from __future__ import annotations

import hashlib

from takedowns.sources.fetch_policy import DownloadPolicy

PFX2AS = (
    "http://publicdata.caida.org/datasets/routing/routeviews-prefix2as/2008/05/"
    "routeviews-rv2-20080501-1200.pfx2as.gz"
)
RIB = "http://archive.routeviews.org/bgpdata/2008.05/RIBS/rib.20080501.0644.bz2"
SPAM = "http://untroubled.org/spam/2008.7z"


def fast_policy(retries: int) -> DownloadPolicy:
    """Retry timings of milliseconds, no progress output; tests override fields with
    ``dataclasses.replace``."""
    return DownloadPolicy(
        retries=retries,
        backoff_seconds=0.01,
        backoff_max_seconds=0.05,
        timeout_seconds=5,
        default_retry_after_seconds=0.2,
        progress=False,
    )


def payload(n: int, seed: int = 0) -> bytes:
    """``n`` deterministic, incompressible bytes."""
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}-{counter}".encode()).digest()
        counter += 1
    return bytes(out[:n])
