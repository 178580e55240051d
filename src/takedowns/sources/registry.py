"""The source registry: which archive each raw file comes from, and its URL.

Raw files live at ``data/raw/<host>/<path>``; the scheme of a host is taken from the
configured source URLs, so ``data/raw/X`` maps back to exactly one URL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from takedowns.asrel import file_name as asrel_file_name
from takedowns.paths import raw_relpath, url_for_relpath

RAW_DIR = PurePosixPath("data/raw")


def _urls(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        for value in node.values():
            yield from _urls(value)
    elif isinstance(node, list):
        for value in node:
            yield from _urls(value)
    elif isinstance(node, str) and node.startswith(("http://", "https://")):
        yield node


def host_schemes(config: Mapping[str, Any]) -> dict[str, str]:
    """Host -> scheme for every configured source URL."""
    return {urlsplit(u).netloc.lower(): urlsplit(u).scheme for u in _urls(config["sources"])}


def raw_path(url: str) -> str:
    """Where ``url`` is stored: ``data/raw/<host>/<path>``."""
    return str(RAW_DIR / raw_relpath(url))


def url_for_raw(relpath: str, config: Mapping[str, Any]) -> str:
    """The URL a ``data/raw``-relative path was (or will be) downloaded from."""
    host = PurePosixPath(relpath).parts[0]
    schemes = host_schemes(config)
    if host not in schemes:
        known = ", ".join(sorted(schemes))
        raise ValueError(f"data/raw/{relpath}: host {host!r} is not a configured source ({known})")
    return url_for_relpath(relpath, schemes[host])


def prefix2as_creation_log_url(config: Mapping[str, Any]) -> str:
    """URL of CAIDA's ``pfx2as-creation.log``."""
    src = config["sources"]["caida_prefix2as"]
    return f"{src['url'].rstrip('/')}/{src['creation_log']}"


def spam_archive_url(config: Mapping[str, Any], year: int) -> str:
    """URL of the spam trap's archive of ``year``."""
    return f"{config['sources']['untroubled']['url'].rstrip('/')}/{year}.7z"


def as_relationships_url(config: Mapping[str, Any], month: dt.date) -> str:
    """URL of the serial-1 AS relationships file of ``month``."""
    base = config["sources"]["caida_as_relationships"]["url"].rstrip("/")
    return f"{base}/{asrel_file_name(month)}"
