"""A loopback HTTP server that plays the archive hosts for tests and the demo.

It serves a tree laid out as ``<root>/<host>/<path>`` (the layout :func:`paths.raw_relpath`
produces): ``GET /<host>/<path>?<query>`` is answered from ``<root>/raw_relpath(url)``, with
byte ranges (a stale If-Range gets the whole file), HEAD, Last-Modified, ETag and
Content-Type, directory listings shaped like the real
servers' (Apache 2.4 FancyIndex table, or nginx autoindex ``<pre>`` for data.ris.ripe.net;
as the real servers write them), Apache-style 404 and 301 pages, and scripted faults for tests
(``MirrorServer.faults``, or a ``.mirror-faults.json`` file at the root of the tree, read at
start, so a generated tree can plant its own faults). It binds 127.0.0.1 only and never opens
a connection itself.

Paths ``/web.archive.org/web/<timestamp><modifier>/<url>`` get a Wayback Machine imitation
(as the real service answers ``id_`` replays): the capture stored at ``raw_relpath`` of
``https://web.archive.org/web/<ts>id_/<url>`` is served with ``Memento-Datetime`` and
``Link`` headers; an inexact timestamp gets a 302 to the nearest stored capture of the same
URL (compared the way the Wayback Machine canonicalizes URLs: case, scheme, ``www.`` and the
default port ignored) with ``X-Archive-Redirect-Reason: found capture at <ts>`` and no
``Memento-Datetime``; no capture gets the 404 ``text/html`` page with ``x-ts: 404``.
Imitation, not fact: the real service redirects to the nearest capture however far away it
is; this one only within :attr:`MirrorServer.wayback_window_seconds` (one day by default),
so a generated tree can plant a CDX row whose capture is missing.

Run it in the foreground with ``python -m takedowns.synthetic.server ROOT --port 8765``.
"""

from __future__ import annotations

import argparse
import calendar
import contextlib
import datetime as dt
import html
import json
import os
import re
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal, NamedTuple, Self
from urllib.parse import unquote, urlsplit

from takedowns.paths import QUERY_MARK, raw_relpath, url_for_relpath

#: The only address the server ever binds.
LOOPBACK = "127.0.0.1"
#: Hosts whose listings use the nginx autoindex ``<pre>`` style; all others get Apache's table.
NGINX_LISTING_HOSTS = frozenset({"data.ris.ripe.net"})
CONTENT_TYPES = {
    ".gz": "application/x-gzip",
    ".tgz": "application/x-gzip",
    ".bz2": "application/x-bzip2",
    ".xz": "application/x-xz",
    ".7z": "application/x-7z-compressed",
    ".json": "application/json",
    ".txt": "text/plain",
    ".log": "text/plain",
    ".lasso": "text/plain",
    ".rules": "text/plain",
    ".csv": "text/csv",
    ".html": "text/html",
    ".htm": "text/html",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_APACHE_NAME_WIDTH = 23  # mod_autoindex default NameWidth
_NGINX_NAME_WIDTH = 50  # NGX_HTTP_AUTOINDEX_NAME_LEN

#: A scripted answer, consumed one per request: ``("status", code, headers, body)``,
#: ``("reset_after", nbytes)``, ``("html_200",)``, ``("ignore_range",)``, ``("drip", nbytes,
#: seconds)`` (the file in pieces of ``nbytes``, a pause after each: a slow server),
#: ``("flip_byte", offset)`` (the file with one byte inverted: a bad transfer), or the Internet
#: Archive's own: ``("wayback_429",)`` (429 without Retry-After), ``("wayback_blocked",)``
#: (200 HTML page without Memento-Datetime) and ``("cdx_blocked",)`` (403 Blocked Site Error).
Fault = tuple[Any, ...]
#: A JSON file at the root of a tree, ``{"<request path>": [["<kind>", ...], ...]}``, whose
#: faults are loaded when a server starts (``status`` bodies are given as text).
FAULTS_FILE = ".mirror-faults.json"

NOT_FOUND_PAGE = (
    '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n'
    "<title>404 Not Found</title>\n</head><body>\n<h1>Not Found</h1>\n"
    "<p>The requested URL was not found on this server.</p>\n</body></html>\n"
)
HTML_ERROR_PAGE = (
    '<!DOCTYPE html>\n<html lang="en">\n<head><title>Internet Archive: Error</title></head>\n'
    "<body><h1>Temporarily Offline</h1><p>Please try again later.</p></body>\n</html>\n"
)
WAYBACK_HOST = "web.archive.org"
#: ``/web.archive.org/web/<timestamp><modifier>/<url>`` (modifier such as ``id_``).
WAYBACK_PATH_RE = re.compile(r"^/web\.archive\.org/web/(\d{4,14})([a-z]{2}_)?/(.+)$", re.DOTALL)
WAYBACK_NOT_FOUND_PAGE = (
    '<!DOCTYPE html>\n<html lang="en">\n<head><title>Wayback Machine</title></head>\n<body>\n'
    "<h2>Hrm.</h2>\n<p>The Wayback Machine has not archived that URL.</p>\n</body>\n</html>\n"
)
WAYBACK_BLOCKED_PAGE = (
    '<!DOCTYPE html>\n<html lang="en">\n<head><title>Wayback Machine</title></head>\n<body>\n'
    "<h2>Sorry.</h2>\n<p>This URL has been excluded from the Wayback Machine.</p>\n"
    "</body>\n</html>\n"
)
WAYBACK_429_PAGE = (
    "<html><head><title>429 Too Many Requests</title></head>\n<body>\n"
    "<center><h1>429 Too Many Requests</h1></center>\n</body></html>\n"
)
CDX_BLOCKED_ERROR = (
    "org.archive.util.io.RuntimeIOException: org.archive.wayback.exception."
    "AdministrativeAccessControlException: Blocked Site Error"
)


class RequestRecord(NamedTuple):
    """One request as the server saw it; ``time`` is ``time.monotonic()`` at arrival."""

    time: float
    method: str
    path: str
    headers: dict[str, str]
    status: int


class RequestLog:
    """A thread-safe, append-only log of :class:`RequestRecord`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def snapshot(self) -> list[RequestRecord]:
        """A copy of the records, in arrival order."""
        with self._lock:
            return sorted(self._records, key=lambda r: r.time)

    def for_path(self, path: str) -> list[RequestRecord]:
        """The records whose request path (with query) is ``path``."""
        return [r for r in self.snapshot() if r.path == path]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self.snapshot())

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def __getitem__(self, index: int) -> RequestRecord:
        return self.snapshot()[index]


# --------------------------------------------------------------------------------------------
# Mapping a request to the tree


@dataclass(frozen=True)
class Resolved:
    """What a request path names in the tree."""

    kind: Literal["file", "listing", "redirect", "missing"]
    path: Path | None = None
    location: str | None = None


def resolve(root: Path, request_path: str) -> Resolved:
    """Map ``/<host>/<path>?<query>`` to a file, a directory listing, a 301 or nothing."""
    split = urlsplit(request_path)
    if split.path in ("", "/"):
        return Resolved("listing", root)
    query = f"?{split.query}" if split.query else ""
    try:
        rel = raw_relpath(f"http:/{split.path}{query}")
    except ValueError:
        return Resolved("missing")
    local = root / rel
    if not local.resolve().is_relative_to(root.resolve()):
        return Resolved("missing")
    if split.path.endswith("/"):
        if local.is_file():
            return Resolved("file", local)
        if local.parent.is_dir():
            return Resolved("listing", local.parent)
        return Resolved("missing")
    if local.is_file():
        return Resolved("file", local)
    if local.is_dir():
        return Resolved("redirect", location=f"{split.path}/{query}")
    return Resolved("missing")


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``(first, last)`` for a single ``bytes=`` range; None to ignore it (malformed, multi).

    Raises ValueError when the range cannot be satisfied (the caller answers 416).
    """
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if not match or not (match[1] or match[2]):
        return None
    if not match[1]:  # suffix range: the last N bytes
        suffix = int(match[2])
        if suffix == 0 or size == 0:
            raise ValueError("unsatisfiable")
        return max(0, size - suffix), size - 1
    first = int(match[1])
    last = int(match[2]) if match[2] else size - 1
    if match[2] and last < first:
        return None
    if first >= size:
        raise ValueError("unsatisfiable")
    return first, min(last, size - 1)


def file_etag(stat: os.stat_result) -> str:
    """A strong ETag from size and modification time (Apache's default shape)."""
    return f'"{stat.st_size:x}-{stat.st_mtime_ns // 1000:x}"'


def content_type(path: Path) -> str:
    """Content-Type by extension of the name (before any ``@query``)."""
    name = path.name.split(QUERY_MARK, 1)[0]
    return CONTENT_TYPES.get(Path(name).suffix.lower(), DEFAULT_CONTENT_TYPE)


# --------------------------------------------------------------------------------------------
# Directory listings


@dataclass(frozen=True)
class Entry:
    """One directory entry; ``name`` is the on-disk (URL-encoded) name."""

    name: str
    is_dir: bool
    size: int
    mtime: float

    @property
    def label(self) -> str:
        """The name as shown, with a trailing slash for directories."""
        return unquote(self.name) + ("/" if self.is_dir else "")

    @property
    def href(self) -> str:
        return self.name + ("/" if self.is_dir else "")


def list_entries(directory: Path) -> list[Entry]:
    """Visible entries of a directory: no dot files, no ``@query`` files."""
    entries = []
    for child in directory.iterdir():
        if child.name.startswith(".") or QUERY_MARK in child.name:
            continue
        stat = child.stat()
        entries.append(Entry(child.name, child.is_dir(), stat.st_size, stat.st_mtime))
    return entries


def apache_size(size: int) -> str:
    """Apache's ``apr_strfsize``: ``' 14 '``, ``'1.5G'``, ``' 12M'``, ``' 98K'``."""
    if size < 973:
        return f"{size:3d} "
    units = "KMGTPE"
    unit = 0
    while True:
        remain = size & 1023
        size >>= 10
        if size >= 973:
            unit += 1
            continue
        if size < 9 or (size == 9 and remain < 973):
            tenths = (remain * 5 + 256) // 512
            if tenths >= 10:
                size, tenths = size + 1, 0
            return f"{size}.{tenths}{units[unit]}"
        if remain >= 512:
            size += 1
        return f"{size:3d}{units[unit]}"


def nginx_size(size: int) -> str:
    """nginx autoindex (``autoindex_exact_size off``): ``'    12M'``, ``'    98K'``."""
    for scale, unit in ((1 << 30, "G"), (1 << 20, "M")):
        if size > scale - 1:
            return f"{size // scale + (size % scale > scale // 2 - 1):6d}{unit}"
    if size > 9999:
        return f"{size // 1024 + (size % 1024 > 511):6d}K"
    return f" {size:6d}"


def apache_listing(dir_path: str, entries: list[Entry]) -> str:
    """An Apache 2.4 FancyIndex (HTMLTable) page for ``dir_path`` (the server path, ``/``-ended)."""
    shown = html.escape(dir_path.rstrip("/") or "/")
    rows = []
    if dir_path != "/":
        parent = dir_path.rstrip("/").rsplit("/", 1)[0] + "/"
        rows.append(
            '<tr><td valign="top"><img src="/icons/back.gif" alt="[PARENTDIR]"></td>'
            f'<td><a href="{html.escape(parent)}">Parent Directory</a>'
            f"{' ' * (_APACHE_NAME_WIDTH - 16)}</td>"
            '<td>&nbsp;</td><td align="right">  - </td><td>&nbsp;</td></tr>'
        )
    for entry in sorted(entries, key=lambda e: e.name):
        label = entry.label
        if len(label) > _APACHE_NAME_WIDTH:
            label = label[: _APACHE_NAME_WIDTH - 3] + "..>"
        icon, alt = ("folder.gif", "[DIR]") if entry.is_dir else ("unknown.gif", "[   ]")
        stamp = time.strftime("%Y-%m-%d %H:%M", time.gmtime(entry.mtime))
        size = "  - " if entry.is_dir else apache_size(entry.size)
        rows.append(
            f'<tr><td valign="top"><img src="/icons/{icon}" alt="{alt}"></td>'
            f'<td><a href="{html.escape(entry.href)}">{html.escape(label)}</a>'
            f"{' ' * (_APACHE_NAME_WIDTH - len(label))}</td>"
            f'<td align="right">{stamp}  </td><td align="right">{size}</td>'
            "<td>&nbsp;</td></tr>"
        )
    rule = '   <tr><th colspan="5"><hr></th></tr>\n'
    return (
        '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n<html>\n <head>\n'
        f"  <title>Index of {shown}</title>\n </head>\n <body>\n<h1>Index of {shown}</h1>\n"
        "  <table>\n"
        '   <tr><th valign="top"><img src="/icons/blank.gif" alt="[ICO]"></th>'
        '<th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a></th>'
        '<th><a href="?C=S;O=A">Size</a></th><th><a href="?C=D;O=A">Description</a></th></tr>\n'
        f"{rule}{''.join(row + chr(10) for row in rows)}{rule}</table>\n</body></html>\n"
    )


def nginx_listing(dir_path: str, entries: list[Entry]) -> str:
    """An nginx autoindex page for ``dir_path``: a ``<pre>`` block, CRLF line ends, dirs first."""
    shown = html.escape(dir_path)
    lines = ['<hr><pre><a href="../">../</a>']
    for entry in sorted(entries, key=lambda e: (not e.is_dir, e.name)):
        label = entry.label
        if len(label) > _NGINX_NAME_WIDTH:
            label = label[: _NGINX_NAME_WIDTH - 3] + "..>"
        when = time.gmtime(entry.mtime)
        stamp = f"{when.tm_mday:02d}-{_MONTHS[when.tm_mon - 1]}-{when.tm_year} " + time.strftime(
            "%H:%M", when
        )
        size = "      -" if entry.is_dir else nginx_size(entry.size)
        lines.append(
            f'<a href="{html.escape(entry.href)}">{html.escape(label)}</a>'
            f"{' ' * (_NGINX_NAME_WIDTH - len(label))} {stamp} {size}"
        )
    body = "\r\n".join(lines)
    return (
        f"<html>\r\n<head><title>Index of {shown}</title></head>\r\n<body>\r\n"
        f"<h1>Index of {shown}</h1>{body}\r\n</pre><hr></body>\r\n</html>\r\n"
    )


def listing_page(host: str | None, dir_path: str, entries: list[Entry]) -> str:
    """The listing in the style of ``host``'s real server."""
    if host in NGINX_LISTING_HOSTS:
        return nginx_listing(dir_path, entries)
    return apache_listing(dir_path, entries)


# --------------------------------------------------------------------------------------------
# The server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "takedowns-mirror/0.1"
    sys_version = ""
    timeout = 30  # an idle keep-alive connection is dropped after this
    server: _Server

    def do_GET(self) -> None:
        self._handle(send_body=True)

    def do_HEAD(self) -> None:
        self._handle(send_body=False)

    def send_response(self, code: int, message: str | None = None) -> None:
        self._status = code
        super().send_response(code, message)

    def end_headers(self) -> None:
        # Log before the client can see the answer: a client that has a response always
        # finds its request in the log.
        self._log_request()
        super().end_headers()

    def _log_request(self) -> None:
        if getattr(self, "_started", None) is None or self._logged:
            return
        self._logged = True
        record = RequestRecord(
            self._started, self.command, self.path, dict(self.headers.items()), self._status
        )
        self.server.mirror.requests.append(record)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.mirror.verbose:
            super().log_message(format, *args)

    # -- dispatch ----------------------------------------------------------------------------

    def _handle(self, send_body: bool) -> None:
        self._started: float | None = time.monotonic()
        self._status, self._logged = 0, False
        mirror = self.server.mirror
        try:
            fault = mirror.take_fault(self.path)
            resolved = resolve(mirror.root, self.path)
            memento = WAYBACK_PATH_RE.match(urlsplit(self.path).path)
            if fault is not None:
                self._fault(fault, resolved, send_body)
            elif memento is not None:
                self._wayback(self.path, send_body)
            else:
                self._serve(resolved, send_body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            self._log_request()  # when no answer was sent

    def _serve(self, resolved: Resolved, send_body: bool, *, ignore_range: bool = False) -> None:
        if resolved.kind == "file" and resolved.path is not None:
            self._send_file(resolved.path, send_body, ignore_range=ignore_range)
        elif resolved.kind == "listing" and resolved.path is not None:
            self._send_listing(resolved.path, send_body)
        elif resolved.kind == "redirect" and resolved.location is not None:
            self._send_page(301, _moved_page(resolved.location), send_body, resolved.location)
        else:
            self._send_page(404, NOT_FOUND_PAGE, send_body)

    def _fault(self, fault: Fault, resolved: Resolved, send_body: bool) -> None:
        kind = fault[0]
        if kind == "status":
            _, code, headers, body = fault
            self.send_response(code)
            for name, value in headers.items():
                self.send_header(name, str(value))
            if "Content-Type" not in headers and body:
                self.send_header("Content-Type", "text/html; charset=iso-8859-1")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if send_body:
                self.wfile.write(body)
        elif kind == "html_200":
            self._send_page(200, HTML_ERROR_PAGE, send_body, content="text/html; charset=UTF-8")
        elif kind == "wayback_blocked":
            page = WAYBACK_BLOCKED_PAGE
            self._send_page(200, page, send_body, content="text/html; charset=utf-8")
        elif kind == "wayback_429":
            self._send_page(429, WAYBACK_429_PAGE, send_body, content="text/html")
        elif kind == "cdx_blocked":
            self._send_page(
                403,
                "",
                send_body,
                content="text/plain;charset=UTF-8",
                extra={"X-Archive-Wayback-Runtime-Error": CDX_BLOCKED_ERROR},
            )
        elif kind == "ignore_range":
            self._serve(resolved, send_body, ignore_range=True)
        elif kind == "reset_after" and resolved.kind == "file" and resolved.path is not None:
            self._send_file(resolved.path, send_body, reset_after=int(fault[1]))
        elif kind == "reset_after":
            self._serve(resolved, send_body)
        elif kind in ("drip", "flip_byte") and resolved.kind == "file" and resolved.path:
            if kind == "drip":
                drip = (int(fault[1]), float(fault[2]))
                self._send_file(resolved.path, send_body, drip=drip)
            else:
                self._send_file(resolved.path, send_body, flip_at=int(fault[1]))
        else:
            self._send_page(500, f"unknown fault {fault!r}\n", send_body, content="text/plain")

    # -- responses ---------------------------------------------------------------------------

    def _wayback(self, request_path: str, send_body: bool) -> None:
        """Answer a Wayback replay request: the capture, a 302 to the nearest one, or 404."""
        answer = wayback_answer(
            self.server.mirror.root, request_path, self.server.mirror.wayback_window_seconds
        )
        if answer.kind == "capture" and answer.path is not None:
            self._send_file(answer.path, send_body, extra_headers=answer.headers)
        elif answer.kind == "redirect":
            self._send_page(302, "", send_body, content="text/plain", extra=answer.headers)
        else:
            self._send_page(
                404,
                WAYBACK_NOT_FOUND_PAGE,
                send_body,
                content="text/html; charset=utf-8",
                extra=answer.headers,
            )

    def _send_file(
        self,
        path: Path,
        send_body: bool,
        *,
        ignore_range: bool = False,
        reset_after: int | None = None,
        extra_headers: dict[str, str] | None = None,
        drip: tuple[int, float] | None = None,
        flip_at: int | None = None,
    ) -> None:
        stat = path.stat()
        size = stat.st_size
        last_modified = formatdate(stat.st_mtime, usegmt=True)
        etag = file_etag(stat)
        first, last, status = 0, size - 1, 200
        header = None if ignore_range else self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        # If-Range: the range only while the validator still names this version, else all.
        if header and (if_range is None or if_range in (etag, last_modified)):
            try:
                wanted = parse_range(header, size)
            except ValueError:
                self._send_unsatisfiable(size)
                return
            if wanted is not None:
                (first, last), status = wanted, 206
        length = max(0, last - first + 1)
        self.send_response(status)
        self.send_header("Content-Type", content_type(path))
        self.send_header("Content-Length", str(length))
        self.send_header("Last-Modified", last_modified)
        self.send_header("ETag", etag)
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not send_body:
            return
        to_send = length if reset_after is None else min(reset_after, length)
        piece, pause = drip if drip is not None else (1 << 16, 0.0)
        with path.open("rb") as handle:
            handle.seek(first)
            while to_send > 0:
                at = handle.tell()
                block = handle.read(min(to_send, piece))
                if not block:
                    break
                if flip_at is not None and at <= flip_at < at + len(block):
                    i = flip_at - at
                    block = block[:i] + bytes([block[i] ^ 0xFF]) + block[i + 1 :]
                self.wfile.write(block)
                to_send -= len(block)
                if pause:
                    self.wfile.flush()
                    time.sleep(pause)
        if reset_after is not None:
            self._abort()

    def _send_unsatisfiable(self, size: int) -> None:
        self.send_response(416)
        self.send_header("Content-Range", f"bytes */{size}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send_listing(self, directory: Path, send_body: bool) -> None:
        root = self.server.mirror.root
        rel = directory.relative_to(root).parts
        host = rel[0] if rel else None
        dir_path = "/" + "".join(unquote(part) + "/" for part in rel[1:])
        page = listing_page(host, dir_path, list_entries(directory))
        style = "text/html" if host in NGINX_LISTING_HOSTS else "text/html;charset=UTF-8"
        self._send_page(200, page, send_body, content=style)

    def _send_page(
        self,
        status: int,
        page: str,
        send_body: bool,
        location: str | None = None,
        content: str = "text/html; charset=iso-8859-1",
        extra: dict[str, str] | None = None,
    ) -> None:
        body = page.encode("utf-8")
        self.send_response(status)
        if location is not None:
            self.send_header("Location", location)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", content)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _abort(self) -> None:
        """Cut the connection mid-body: the client sees fewer bytes than Content-Length."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def _moved_page(location: str) -> str:
    return (
        '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n'
        "<title>301 Moved Permanently</title>\n</head><body>\n<h1>Moved Permanently</h1>\n"
        f'<p>The document has moved <a href="{html.escape(location)}">here</a>.</p>\n'
        "</body></html>\n"
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, mirror: MirrorServer, port: int) -> None:
        self.mirror = mirror
        super().__init__((LOOPBACK, port), _Handler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's ``getfqdn`` lookup: no name service is ever asked."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (a pooled connection closed, a transfer cut on purpose) is
        no error of the mirror's: only other errors are printed, as socketserver does."""
        if isinstance(sys.exc_info()[1], ConnectionResetError | BrokenPipeError):
            return
        super().handle_error(request, client_address)


class MirrorServer:
    """The loopback mirror: ``url``, ``requests`` (the log), ``faults``, ``stop()``.

    ``faults`` maps a request path with its query (as sent, e.g. ``/host/x.gz``) to a list of
    :data:`Fault` consumed one per request; once the list is empty the path is served normally.
    Faults planted in ``<root>/.mirror-faults.json`` (:data:`FAULTS_FILE`) are loaded at start.
    """

    #: How far (seconds) the Wayback imitation looks for the nearest capture of a URL.
    wayback_window_seconds: float = 86400.0

    def __init__(self, root: Path | str, port: int = 0, *, verbose: bool = False) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise NotADirectoryError(f"mirror root {self.root} is not a directory")
        self.verbose = verbose
        self.faults: dict[str, list[Fault]] = load_faults(self.root)
        self.requests = RequestLog()
        self._faults_lock = threading.Lock()
        self._httpd = _Server(self, port)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: the value for the ``mirror`` setting."""
        return f"http://{LOOPBACK}:{self.port}"

    def take_fault(self, path: str) -> Fault | None:
        """Pop the next scripted fault for ``path`` (exact, or percent-decoded), if any."""
        with self._faults_lock:
            for key in (path, unquote(path)):
                queue = self.faults.get(key)
                if queue:
                    return queue.pop(0)
        return None

    def start(self) -> Self:
        """Serve in a background daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"mirror-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted."""
        try:
            self._httpd.serve_forever(poll_interval=0.2)
        finally:
            self._httpd.server_close()

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def load_faults(root: Path) -> dict[str, list[Fault]]:
    """The faults planted in ``<root>/.mirror-faults.json`` (none when the file is absent)."""
    path = Path(root) / FAULTS_FILE
    if not path.is_file():
        return {}
    try:
        planted = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    faults: dict[str, list[Fault]] = {}
    for request_path, items in planted.items():
        queue: list[Fault] = []
        for item in items:
            fault = tuple(item)
            if fault and fault[0] == "status":
                _, code, headers, body = fault
                body = body.encode("utf-8") if isinstance(body, str) else bytes(body)
                fault = ("status", int(code), dict(headers), body)
            queue.append(fault)
        faults[request_path] = queue
    return faults


# --------------------------------------------------------------------------------------------
# The Wayback Machine imitation


@dataclass(frozen=True)
class Capture:
    """One stored capture: its 14-digit timestamp, the URL as captured, the file."""

    timestamp: str
    original: str
    path: Path

    @property
    def when(self) -> dt.datetime:
        return wayback_time(self.timestamp)


@dataclass(frozen=True)
class WaybackAnswer:
    """What the imitation answers: a capture (200), a redirect (302) or nothing (404)."""

    kind: Literal["capture", "redirect", "missing"]
    headers: dict[str, str]
    path: Path | None = None


def wayback_time(timestamp: str) -> dt.datetime:
    """A 4-14 digit Wayback timestamp as UTC time (missing digits: the earliest moment)."""
    full = timestamp + "YYYY0101000000"[len(timestamp) :]
    return dt.datetime.strptime(full, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)


def canonical_url(url: str) -> str:
    """The URL as the Wayback Machine compares it: no scheme, no ``www.``, no default port,
    lower case (an imitation of its SURT canonicalization; ``/DROP/`` equals ``/drop/``)."""
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", url.strip().lower())
    host, _, rest = text.partition("/")
    host = re.sub(r"^www\d*\.", "", re.sub(r":(80|443)$", "", host))
    return f"{host}/{rest}".rstrip("?")


def _stamp_dirs(root: Path) -> list[tuple[str, Path]]:
    base = Path(root) / WAYBACK_HOST / "web"
    if not base.is_dir():
        return []
    out = []
    for stamp_dir in base.iterdir():
        match = re.fullmatch(r"(\d{14})(?:[a-z]{2}_)?", stamp_dir.name)
        if match and stamp_dir.is_dir():
            out.append((match[1], stamp_dir))
    return out


def same_url_captures(root: Path, original: str) -> list[Capture]:
    """The captures stored under exactly this spelling of ``original`` (one stat per
    timestamp directory: the fast path for the usual, exact request), by time."""
    rest = raw_relpath(f"https://{WAYBACK_HOST}/web/0id_/{original}").as_posix()
    rest = rest.split("/", 3)[3]
    out = [
        Capture(stamp, original, stamp_dir / rest)
        for stamp, stamp_dir in _stamp_dirs(root)
        if (stamp_dir / rest).is_file()
    ]
    return sorted(out, key=lambda c: c.timestamp)


def stored_captures(root: Path, original: str) -> list[Capture]:
    """Every capture of ``original`` (canonically equal URLs) stored in the tree, by time."""
    wanted = canonical_url(original)
    out = []
    for _, stamp_dir in _stamp_dirs(root):
        for dirpath, _, names in os.walk(stamp_dir):
            for name in names:
                path = Path(dirpath) / name
                rel = path.relative_to(root).as_posix()
                url = url_for_relpath(rel, "https")
                captured = url.split(f"/{stamp_dir.name}/", 1)[1]
                if canonical_url(captured) == wanted:
                    out.append(Capture(stamp_dir.name[:14], captured, path))
    return sorted(out, key=lambda c: c.timestamp)


def _link_header(original: str, captures: list[Capture], served: Capture) -> str:
    """The replay's ``Link`` header: original, timemap, timegate and the neighbouring mementos."""
    replay = f"https://{WAYBACK_HOST}/web"

    def memento(rel: str, capture: Capture) -> str:
        when = formatdate(calendar.timegm(capture.when.timetuple()), usegmt=True)
        return f'<{replay}/{capture.timestamp}/{original}>; rel="{rel}"; datetime="{when}"'

    links = [
        f'<{original}>; rel="original"',
        f'<{replay}/timemap/link/{original}>; rel="timemap"; type="application/link-format"',
        f'<{replay}/{original}>; rel="timegate"',
    ]
    index = captures.index(served)
    if index > 0:
        links.append(memento("first memento", captures[0]))
        links.append(memento("prev memento", captures[index - 1]))
    links.append(memento("memento", served))
    if index < len(captures) - 1:
        links.append(memento("next memento", captures[index + 1]))
        links.append(memento("last memento", captures[-1]))
    return ", ".join(links)


def wayback_answer(root: Path, request_path: str, window_seconds: float) -> WaybackAnswer:
    """How the imitation answers ``/web.archive.org/web/<ts><mod>/<url>`` from the tree."""
    split = urlsplit(request_path)
    match = WAYBACK_PATH_RE.match(split.path)
    if match is None:
        return WaybackAnswer("missing", {"x-ts": "404"})
    stamp, modifier = match[1], match[2] or ""
    original = unquote(match[3]) + (f"?{split.query}" if split.query else "")
    try:
        wanted = wayback_time(stamp)
    except ValueError:
        return WaybackAnswer("missing", {"x-ts": "404"})
    try:
        captures = same_url_captures(root, original)
    except ValueError:
        return WaybackAnswer("missing", {"x-ts": "404"})
    if not any(c.timestamp == stamp for c in captures):  # inexact, or another spelling
        captures = stored_captures(root, original)
    if not captures:
        return WaybackAnswer("missing", {"x-ts": "404"})
    nearest = min(captures, key=lambda c: (abs((c.when - wanted).total_seconds()), c.timestamp))
    distance = abs((nearest.when - wanted).total_seconds())
    if len(stamp) == 14 and nearest.timestamp == stamp:
        when = formatdate(calendar.timegm(nearest.when.timetuple()), usegmt=True)
        headers = {
            "Memento-Datetime": when,
            "Link": _link_header(nearest.original, captures, nearest),
            "X-Archive-Src": f"SYNTHETIC-{nearest.timestamp}-00000.warc.gz",
        }
        return WaybackAnswer("capture", headers, nearest.path)
    if distance > window_seconds:
        return WaybackAnswer("missing", {"x-ts": "404"})
    location = f"https://{WAYBACK_HOST}/web/{nearest.timestamp}{modifier}/{nearest.original}"
    headers = {
        "Location": location,
        "X-Archive-Redirect-Reason": f"found capture at {nearest.timestamp}",
    }
    return WaybackAnswer("redirect", headers)


def serve(root: Path | str, port: int = 0, *, verbose: bool = False) -> MirrorServer:
    """Start a mirror of ``root`` on 127.0.0.1:``port`` (0 = any free port) in the background."""
    return MirrorServer(root, port, verbose=verbose).start()


def main(argv: list[str] | None = None) -> int:
    """``python -m takedowns.synthetic.server ROOT --port N``: serve in the foreground."""
    parser = argparse.ArgumentParser(
        prog="python -m takedowns.synthetic.server", description=__doc__
    )
    parser.add_argument("root", type=Path, help="tree laid out as <root>/<host>/<path>")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    args = parser.parse_args(argv)
    server = MirrorServer(args.root, args.port, verbose=not args.quiet)
    print(f"serving {server.root} at {server.url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
