"""A loopback HTTP server that plays the archive hosts for tests and the demo.

It serves a tree laid out as ``<root>/<host>/<path>`` (the layout :func:`paths.raw_relpath`
produces): ``GET /<host>/<path>?<query>`` is answered from ``<root>/raw_relpath(url)``, with
byte ranges, HEAD, Last-Modified and Content-Type, directory listings shaped like the real
servers' (Apache 2.4 FancyIndex table, or nginx autoindex ``<pre>`` for data.ris.ripe.net;
SERVER_FORMATS.md section 2), Apache-style 404 and 301 pages, and scripted faults for tests
(``MirrorServer.faults``). It binds 127.0.0.1 only and never opens a connection itself.

Run it in the foreground with ``python -m takedowns.mirror.server ROOT --port 8765``.
"""

from __future__ import annotations

import argparse
import contextlib
import html
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

from takedowns.paths import QUERY_MARK, raw_relpath

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
    ".csv": "text/csv",
    ".html": "text/html",
    ".htm": "text/html",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_APACHE_NAME_WIDTH = 23  # mod_autoindex default NameWidth
_NGINX_NAME_WIDTH = 50  # NGX_HTTP_AUTOINDEX_NAME_LEN

#: A scripted answer, consumed one per request: ``("status", code, headers, body)``,
#: ``("reset_after", nbytes)``, ``("html_200",)`` or ``("ignore_range",)``.
Fault = tuple[Any, ...]

NOT_FOUND_PAGE = (
    '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n'
    "<title>404 Not Found</title>\n</head><body>\n<h1>Not Found</h1>\n"
    "<p>The requested URL was not found on this server.</p>\n</body></html>\n"
)
HTML_ERROR_PAGE = (
    '<!DOCTYPE html>\n<html lang="en">\n<head><title>Internet Archive: Error</title></head>\n'
    "<body><h1>Temporarily Offline</h1><p>Please try again later.</p></body>\n</html>\n"
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
            if fault is not None:
                self._fault(fault, resolved, send_body)
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
        elif kind == "ignore_range":
            self._serve(resolved, send_body, ignore_range=True)
        elif kind == "reset_after" and resolved.kind == "file" and resolved.path is not None:
            self._send_file(resolved.path, send_body, reset_after=int(fault[1]))
        elif kind == "reset_after":
            self._serve(resolved, send_body)
        else:
            self._send_page(500, f"unknown fault {fault!r}\n", send_body, content="text/plain")

    # -- responses ---------------------------------------------------------------------------

    def _send_file(
        self,
        path: Path,
        send_body: bool,
        *,
        ignore_range: bool = False,
        reset_after: int | None = None,
    ) -> None:
        stat = path.stat()
        size = stat.st_size
        last_modified = formatdate(stat.st_mtime, usegmt=True)
        first, last, status = 0, size - 1, 200
        header = None if ignore_range else self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if header and (if_range is None or if_range == last_modified):
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
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        self.end_headers()
        if not send_body:
            return
        to_send = length if reset_after is None else min(reset_after, length)
        with path.open("rb") as handle:
            handle.seek(first)
            while to_send > 0:
                block = handle.read(min(to_send, 1 << 16))
                if not block:
                    break
                self.wfile.write(block)
                to_send -= len(block)
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
    ) -> None:
        body = page.encode("utf-8")
        self.send_response(status)
        if location is not None:
            self.send_header("Location", location)
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


class MirrorServer:
    """The loopback mirror: ``url``, ``requests`` (the log), ``faults``, ``stop()``.

    ``faults`` maps a request path with its query (as sent, e.g. ``/host/x.gz``) to a list of
    :data:`Fault` consumed one per request; once the list is empty the path is served normally.
    """

    def __init__(self, root: Path | str, port: int = 0, *, verbose: bool = False) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise NotADirectoryError(f"mirror root {self.root} is not a directory")
        self.verbose = verbose
        self.faults: dict[str, list[Fault]] = {}
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


def serve(root: Path | str, port: int = 0, *, verbose: bool = False) -> MirrorServer:
    """Start a mirror of ``root`` on 127.0.0.1:``port`` (0 = any free port) in the background."""
    return MirrorServer(root, port, verbose=verbose).start()


def main(argv: list[str] | None = None) -> int:
    """``python -m takedowns.mirror.server ROOT --port N``: serve in the foreground."""
    parser = argparse.ArgumentParser(prog="python -m takedowns.mirror.server", description=__doc__)
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
