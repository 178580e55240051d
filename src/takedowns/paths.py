"""Where a URL's bytes live on disk: ``data/raw/<host>/<path>``, and back again.

The same mapping lays out the loopback archive mirror used by the tests and the demo, so a
file generated at ``<mirror>/<relpath>`` is served at ``<mirror URL>/<host>/<path>?<query>``
and downloaded to ``data/raw/<relpath>``.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from urllib.parse import quote, unquote, urlsplit

#: Separates a path from its encoded query string in a file name (``cdx@url=...&from=2007``).
QUERY_MARK = "@"
#: File name given to a URL that names a directory (``.../2008.05/RIBS/``).
INDEX_NAME = "index.html"
_PATH_SAFE = "/:+,=~!$()*;"


def raw_relpath(url: str) -> PurePosixPath:
    """Return the stable, readable relative path that stores ``url``.

    ``http://archive.routeviews.org/bgpdata/2008.05/RIBS/rib.20080501.0644.bz2`` becomes
    ``archive.routeviews.org/bgpdata/2008.05/RIBS/rib.20080501.0644.bz2``; a query string is
    kept in the last path component after ``@`` with ``/`` and ``%`` percent-encoded
    (``web.archive.org/cdx/search/cdx@url=www.spamhaus.org%2Fdrop%2Fdrop.lasso&from=2007``);
    a directory URL ends in ``index.html``; characters outside a conservative set (and the
    second slash of ``//``) are percent-encoded, so the mapping is one-to-one.
    """
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"not an absolute URL: {url!r}")
    path = unquote(parts.path) or "/"
    if path.endswith("/"):
        path += INDEX_NAME
    if any(seg in (".", "..") for seg in path.split("/")):
        raise ValueError(f"URL path has a '.' or '..' segment: {url!r}")
    # An empty segment (``id_/http://www...`` in a Wayback replay URL) keeps its slash encoded.
    encoded = quote(path.lstrip("/"), safe=_PATH_SAFE)
    while "//" in encoded:
        encoded = encoded.replace("//", "/%2F")
    rel = PurePosixPath(parts.netloc.lower()) / encoded
    if parts.query:
        rel = rel.with_name(rel.name + QUERY_MARK + quote(parts.query, safe="=&,:+*"))
    return rel


def url_for_relpath(relpath: str | PurePosixPath, scheme: str = "https") -> str:
    """Invert :func:`raw_relpath`: ``host/path[@query]`` back to ``scheme://host/path[?query]``."""
    rel = PurePosixPath(relpath)
    host, *rest = rel.parts
    name = rest[-1] if rest else ""
    query = ""
    if QUERY_MARK in name:
        name, encoded = name.split(QUERY_MARK, 1)
        query = "?" + unquote(encoded)
        rest[-1] = name
    path = unquote("/".join(rest))
    if name == INDEX_NAME:
        path = path[: -len(INDEX_NAME)]
    return f"{scheme}://{host}/{quote(path, safe=_PATH_SAFE)}{query}"
