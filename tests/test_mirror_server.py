"""The loopback archive mirror: files, ranges, listings shaped like the real servers, faults."""

from __future__ import annotations

import calendar
import http.client
import json
import os
import re
from collections.abc import Iterator
from email.utils import formatdate
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests

from takedowns.paths import raw_relpath
from takedowns.synthetic import MirrorServer, serve
from takedowns.synthetic.server import apache_size, nginx_size, parse_range

RIB = "http://archive.routeviews.org/bgpdata/2008.05/RIBS/rib.20080501.0644.bz2"
RIB_BIG = "http://archive.routeviews.org/bgpdata/2008.05/RIBS/rib.20080501.0000.bz2"
UPDATES = "http://archive.routeviews.org/bgpdata/2008.05/UPDATES/updates.20080501.0000.bz2"
BVIEW = "http://data.ris.ripe.net/rrc00/2007.01/bview.20070101.0000.gz"
RIS_UPDATES = "http://data.ris.ripe.net/rrc00/2007.01/updates.20070101.0000.gz"
CDX = (
    "http://web.archive.org/cdx/search/cdx?url=www.spamhaus.org/drop/drop.lasso"
    "&from=2007&to=2009&output=json"
)
MTIME = calendar.timegm((2008, 5, 1, 6, 44, 0))
DATA = bytes(range(256)) * 20  # 5120 bytes


def _place(root: Path, url: str, data: bytes | None = None, size: int | None = None) -> Path:
    """Write a file where the mirror serves ``url`` (sparse when only ``size`` is given)."""
    path = root / raw_relpath(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    if data is not None:
        path.write_bytes(data)
    else:
        with path.open("wb") as handle:
            handle.truncate(size or 0)
    os.utime(path, (MTIME, MTIME))
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "mirror"
    _place(root, RIB, DATA)
    _place(root, RIB_BIG, size=12 * 1024 * 1024)
    _place(root, UPDATES, size=14)
    _place(root, BVIEW, size=12 * 1024 * 1024)
    _place(root, RIS_UPDATES, size=100_000)
    _place(root, CDX, b'[["urlkey","timestamp"],\n["org,spamhaus)/drop/drop.lasso","20070105"]]\n')
    return root


@pytest.fixture
def server(root: Path) -> Iterator[MirrorServer]:
    with serve(root) as srv:
        yield srv


@pytest.fixture
def client() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # no proxy: straight to 127.0.0.1
        yield session


def _get(
    client: requests.Session, server: MirrorServer, path: str, **kw: object
) -> requests.Response:
    return client.get(server.url + path, allow_redirects=False, **kw)  # type: ignore[arg-type]


def test_binds_loopback_only(server: MirrorServer) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
    assert server.port > 0


def test_file_served_byte_exact(server: MirrorServer, client: requests.Session, root: Path) -> None:
    resp = _get(
        client, server, "/archive.routeviews.org/bgpdata/2008.05/RIBS/rib.20080501.0644.bz2"
    )
    assert resp.status_code == 200
    assert resp.content == DATA
    assert resp.headers["Content-Length"] == str(len(DATA))
    assert resp.headers["Content-Type"] == "application/x-bzip2"
    assert resp.headers["Last-Modified"] == formatdate(MTIME, usegmt=True)
    assert resp.headers["Accept-Ranges"] == "bytes"
    bview = _get(
        client, server, "/data.ris.ripe.net/rrc00/2007.01/bview.20070101.0000.gz", stream=True
    )
    assert bview.headers["Content-Type"] == "application/x-gzip"
    bview.close()


def test_range_requests(server: MirrorServer, client: requests.Session) -> None:
    path = "/archive.routeviews.org/bgpdata/2008.05/RIBS/rib.20080501.0644.bz2"
    open_ended = _get(client, server, path, headers={"Range": "bytes=1000-"})
    assert open_ended.status_code == 206
    assert open_ended.content == DATA[1000:]
    assert open_ended.headers["Content-Range"] == f"bytes 1000-{len(DATA) - 1}/{len(DATA)}"
    assert open_ended.headers["Content-Length"] == str(len(DATA) - 1000)
    closed = _get(client, server, path, headers={"Range": "bytes=10-19"})
    assert (closed.status_code, closed.content) == (206, DATA[10:20])
    assert closed.headers["Content-Range"] == f"bytes 10-19/{len(DATA)}"
    beyond = _get(client, server, path, headers={"Range": f"bytes={len(DATA)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["Content-Range"] == f"bytes */{len(DATA)}"
    stale = _get(client, server, path, headers={"Range": "bytes=10-", "If-Range": "old"})
    assert (stale.status_code, stale.content) == (200, DATA)


def test_parse_range() -> None:
    assert parse_range("bytes=5-", 10) == (5, 9)
    assert parse_range("bytes=2-4", 10) == (2, 4)
    assert parse_range("bytes=2-40", 10) == (2, 9)
    assert parse_range("bytes=-3", 10) == (7, 9)
    assert parse_range("bytes=1-2,5-6", 10) is None  # multi-range: ignored, full body
    assert parse_range("items=1-2", 10) is None
    with pytest.raises(ValueError):
        parse_range("bytes=10-", 10)


def test_head(server: MirrorServer, client: requests.Session) -> None:
    resp = client.head(
        server.url + "/archive.routeviews.org/bgpdata/2008.05/RIBS/rib.20080501.0644.bz2"
    )
    assert resp.status_code == 200
    assert resp.headers["Content-Length"] == str(len(DATA))
    assert resp.content == b""
    assert server.requests[-1].method == "HEAD"


class _Rows(HTMLParser):
    """Text nodes per ``<tr>`` and the ``href`` of each row's first link."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[list[str], str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append(([], None))
        elif tag == "a" and self.rows and self.rows[-1][1] is None:
            self.rows[-1] = (self.rows[-1][0], dict(attrs).get("href"))

    def handle_data(self, data: str) -> None:
        if self.rows:
            self.rows[-1][0].append(data)


def _table_sizes(page: str) -> dict[str, str]:
    """bgpkit-broker's table rule for listing pages: skip Name/Parent rows, size = 3rd
    non-blank ASCII text node matched by ``" *([\\d.]+)([MKGmkg]*)"``."""
    parser = _Rows()
    parser.feed(page)
    sizes = {}
    for texts, href in parser.rows:
        text = "".join(texts)
        if "Name" in text or "Parent" in text or href is None:
            continue
        nodes = [t for t in texts if t.strip() and t.isascii()]
        match = re.match(r" *([\d.]+)([MKGmkg]*)", nodes[2])
        assert match, nodes
        sizes[href] = match[1] + match[2]
    return sizes


def test_apache_listing(server: MirrorServer, client: requests.Session) -> None:
    resp = _get(client, server, "/archive.routeviews.org/bgpdata/2008.05/RIBS/")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/html")
    page = resp.text
    assert "<title>Index of /bgpdata/2008.05/RIBS</title>" in page
    assert '<a href="/bgpdata/2008.05/">Parent Directory</a>' in page
    assert (
        '<tr><td valign="top"><img src="/icons/unknown.gif" alt="[   ]"></td>'
        '<td><a href="rib.20080501.0644.bz2">rib.20080501.0644.bz2</a>  </td>'
        '<td align="right">2008-05-01 06:44  </td><td align="right">5.0K</td><td>&nbsp;</td></tr>'
    ) in page
    assert _table_sizes(page) == {"rib.20080501.0000.bz2": "12M", "rib.20080501.0644.bz2": "5.0K"}
    # pyasn_util_download.py: the size cell starts 80-150 characters after the file name.
    ix = page.find("rib.20080501.06")
    assert page[ix : ix + 21] == "rib.20080501.0644.bz2"
    window = page[ix + 80 : ix + 150]
    cell = window[window.find('"right"') + 8 :]
    assert cell[: cell.find("</td>")] == "5.0K"


def test_apache_month_listing(server: MirrorServer, client: requests.Session) -> None:
    month_root = _get(client, server, "/archive.routeviews.org/bgpdata/").text
    assert re.findall(r'<a href="(....\...)/">.*', month_root) == ["2008.05"]
    month = _get(client, server, "/archive.routeviews.org/bgpdata/2008.05/").text
    assert '<img src="/icons/folder.gif" alt="[DIR]"></td><td><a href="RIBS/">RIBS/</a>' in month
    assert _table_sizes(
        _get(client, server, "/archive.routeviews.org/bgpdata/2008.05/UPDATES/").text
    ) == {"updates.20080501.0000.bz2": "14"}
    # Names longer than Apache's NameWidth (23) are cut like the real server's.
    assert (
        "updates.20080501.000..&gt;</a>"
        in _get(client, server, "/archive.routeviews.org/bgpdata/2008.05/UPDATES/").text
    )


def test_nginx_listing(server: MirrorServer, client: requests.Session) -> None:
    resp = _get(client, server, "/data.ris.ripe.net/rrc00/2007.01/")
    assert resp.status_code == 200
    page = resp.text
    assert "<head><title>Index of /rrc00/2007.01/</title></head>" in page
    assert '<h1>Index of /rrc00/2007.01/</h1><hr><pre><a href="../">../</a>' in page
    found = {}
    for line in page.splitlines():
        link = re.search(r'<a href="([^"]+)">', line)
        size = re.search(r" +([\d.]+)([MKGmkg]*)$", line)
        if link and size:
            found[link[1]] = size[1] + size[2]
    assert found == {"bview.20070101.0000.gz": "12M", "updates.20070101.0000.gz": "98K"}
    assert (
        '<a href="bview.20070101.0000.gz">bview.20070101.0000.gz</a>'
        + " " * 29
        + "01-May-2008 06:44     12M"
    ) in page
    collector = _get(client, server, "/data.ris.ripe.net/rrc00/").text
    assert '<a href="2007.01/">2007.01/</a>' in collector


def test_size_formats() -> None:
    assert [apache_size(n) for n in (14, 1536 * 2**20, 12 * 2**20, 100_000)] == [
        " 14 ",
        "1.5G",
        " 12M",
        " 98K",
    ]
    assert [nginx_size(n) for n in (12 * 2**20, 100_000, 500)] == ["    12M", "    98K", "    500"]


def test_index_html_served_instead_of_listing(
    server: MirrorServer, client: requests.Session, root: Path
) -> None:
    _place(root, "http://untroubled.org/spam/", b"<html>real index</html>")
    resp = _get(client, server, "/untroubled.org/spam/")
    assert (resp.status_code, resp.content) == (200, b"<html>real index</html>")
    assert resp.headers["Content-Type"] == "text/html"


def test_query_string_file(server: MirrorServer, client: requests.Session, root: Path) -> None:
    path = CDX.removeprefix("http:/")
    resp = _get(client, server, path)
    assert resp.status_code == 200
    assert resp.content == (root / raw_relpath(CDX)).read_bytes()
    assert server.requests[-1].path == path
    assert _get(client, server, path.replace("2009", "2010")).status_code == 404


def test_404_page(server: MirrorServer, client: requests.Session) -> None:
    resp = _get(
        client, server, "/archive.routeviews.org/bgpdata/2008.05/RIBS/rib.19990101.0000.bz2"
    )
    assert resp.status_code == 404
    assert resp.headers["Content-Type"].startswith("text/html")
    assert "<title>404 Not Found</title>" in resp.text
    assert server.requests[-1].status == 404


def test_directory_without_slash_redirects(server: MirrorServer, client: requests.Session) -> None:
    resp = _get(client, server, "/archive.routeviews.org/bgpdata/2008.05")
    assert resp.status_code == 301
    assert resp.headers["Location"] == "/archive.routeviews.org/bgpdata/2008.05/"
    assert client.get(server.url + "/archive.routeviews.org/bgpdata/2008.05").status_code == 200


def test_no_escape_from_root(server: MirrorServer, root: Path) -> None:
    (root.parent / "secret.txt").write_text("outside")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    for path in ("/archive.routeviews.org/../../secret.txt", "/archive.routeviews.org/%2e%2e/x"):
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 404
    conn.close()


def test_status_faults_then_normal(server: MirrorServer, client: requests.Session) -> None:
    path = "/archive.routeviews.org/bgpdata/2008.05/RIBS/rib.20080501.0644.bz2"
    server.faults[path] = [
        ("status", 429, {"Retry-After": "1"}, b"slow down"),
        ("status", 500, {}, b""),
        ("html_200",),
    ]
    first = _get(client, server, path)
    assert (first.status_code, first.headers["Retry-After"], first.content) == (
        429,
        "1",
        b"slow down",
    )
    assert _get(client, server, path).status_code == 500
    html_page = _get(client, server, path)
    assert html_page.status_code == 200
    assert html_page.headers["Content-Type"].startswith("text/html")
    assert html_page.text.startswith("<!DOCTYPE html>")
    assert _get(client, server, path).content == DATA
    assert [r.status for r in server.requests.for_path(path)] == [429, 500, 200, 200]
    assert server.faults[path] == []


def test_ignore_range_fault(server: MirrorServer, client: requests.Session) -> None:
    path = "/archive.routeviews.org/bgpdata/2008.05/RIBS/rib.20080501.0644.bz2"
    server.faults[path] = [("ignore_range",)]
    resp = _get(client, server, path, headers={"Range": "bytes=100-"})
    assert (resp.status_code, resp.content) == (200, DATA)
    assert server.requests[-1].headers["Range"] == "bytes=100-"


def test_reset_after_fault(server: MirrorServer) -> None:
    path = "/archive.routeviews.org/bgpdata/2008.05/RIBS/rib.20080501.0644.bz2"
    server.faults[path] = [("reset_after", 700)]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", path)
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("Content-Length") == str(len(DATA))
    with pytest.raises(http.client.IncompleteRead) as info:
        resp.read()
    assert info.value.partial == DATA[:700]
    conn.close()
    # The next request is served in full.
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", path)
    assert conn.getresponse().read() == DATA
    conn.close()


def test_request_log_records(server: MirrorServer, client: requests.Session) -> None:
    _get(client, server, "/untroubled.org/nothing", headers={"X-Probe": "1"})
    record = server.requests[-1]
    assert (record.method, record.path, record.status) == ("GET", "/untroubled.org/nothing", 404)
    assert record.headers["X-Probe"] == "1"
    assert record.time > 0


# --- the Wayback Machine imitation ----------------------------------------------------------

DROP_URL = "http://www.spamhaus.org/drop/drop.lasso"
DROP_BODY = b"; Spamhaus DROP List 2008/02/14\n69.50.160.0/19 ; SBL36633\n"


def _capture(root: Path, stamp: str, body: bytes = DROP_BODY, url: str = DROP_URL) -> str:
    """Store a capture; return its request path on the mirror."""
    _place(root, f"https://web.archive.org/web/{stamp}id_/{url}", body)
    return f"/web.archive.org/web/{stamp}id_/{url}"


def test_wayback_capture_has_memento_headers(
    server: MirrorServer, client: requests.Session, root: Path
) -> None:
    first = _capture(root, "20080101120000")
    path = _capture(root, "20080214120000")
    last = _capture(root, "20080301000000")
    resp = _get(client, server, path)
    assert (resp.status_code, resp.content) == (200, DROP_BODY)
    assert resp.headers["Memento-Datetime"] == "Thu, 14 Feb 2008 12:00:00 GMT"
    assert resp.headers["Content-Type"] == "text/plain"
    link = resp.headers["Link"]
    assert f'<{DROP_URL}>; rel="original"' in link
    assert 'rel="timemap"' in link and 'rel="timegate"' in link
    assert f'/web/20080101120000/{DROP_URL}>; rel="prev memento"' in link
    assert f'/web/20080301000000/{DROP_URL}>; rel="next memento"' in link
    assert 'datetime="Thu, 14 Feb 2008 12:00:00 GMT"' in link
    assert _get(client, server, first).headers["Memento-Datetime"].startswith("Tue, 01 Jan")
    assert "Memento-Datetime" in _get(client, server, last).headers


def test_wayback_inexact_timestamp_redirects_to_the_nearest_capture(
    server: MirrorServer, client: requests.Session, root: Path
) -> None:
    _capture(root, "20080214120047")
    _capture(root, "20080216000000")
    resp = _get(client, server, f"/web.archive.org/web/20080214120000id_/{DROP_URL}")
    assert resp.status_code == 302 and resp.content == b""
    assert resp.headers["Location"] == (f"https://web.archive.org/web/20080214120047id_/{DROP_URL}")
    assert resp.headers["X-Archive-Redirect-Reason"] == "found capture at 20080214120047"
    assert "Memento-Datetime" not in resp.headers
    # a short timestamp is the earliest moment it names; the other spelling is the same URL
    upper = DROP_URL.replace("/drop/", "/DROP/")
    resp = _get(client, server, f"/web.archive.org/web/20080216id_/{upper}")
    assert resp.headers["X-Archive-Redirect-Reason"] == "found capture at 20080216000000"


def test_wayback_without_capture_is_404_with_x_ts(
    server: MirrorServer, client: requests.Session, root: Path
) -> None:
    _capture(root, "20080214120000")
    for path in (
        f"/web.archive.org/web/20080401000000id_/{DROP_URL}",  # none within a day
        "/web.archive.org/web/20080214120000id_/http://example.com/none",
        f"/web.archive.org/web/20081399000000id_/{DROP_URL}",  # not a time
    ):
        resp = _get(client, server, path)
        assert resp.status_code == 404, path
        assert resp.headers["x-ts"] == "404"
        assert resp.headers["Content-Type"].startswith("text/html")
        assert "Memento-Datetime" not in resp.headers


def test_wayback_window_is_a_setting(
    server: MirrorServer, client: requests.Session, root: Path
) -> None:
    _capture(root, "20080214120000")
    path = f"/web.archive.org/web/20080401000000id_/{DROP_URL}"
    server.wayback_window_seconds = 365 * 86400
    assert _get(client, server, path).status_code == 302


def test_wayback_faults(server: MirrorServer, client: requests.Session, root: Path) -> None:
    path = _capture(root, "20080214120000")
    server.faults[path] = [("wayback_429",), ("wayback_blocked",)]
    slow = _get(client, server, path)
    assert slow.status_code == 429
    assert "Retry-After" not in slow.headers and "Memento-Datetime" not in slow.headers
    blocked = _get(client, server, path)
    assert blocked.status_code == 200 and "Memento-Datetime" not in blocked.headers
    assert blocked.headers["Content-Type"].startswith("text/html")
    assert blocked.text.startswith("<!DOCTYPE html>")
    assert _get(client, server, path).headers["Memento-Datetime"]
    query = CDX.removeprefix("http:/")
    server.faults[query] = [("cdx_blocked",)]
    denied = _get(client, server, query)
    assert denied.status_code == 403
    assert (
        "AdministrativeAccessControlException" in denied.headers["X-Archive-Wayback-Runtime-Error"]
    )
    assert _get(client, server, query).status_code == 200


def test_faults_file_is_loaded_at_start(root: Path, client: requests.Session) -> None:
    path = "/archive.routeviews.org/bgpdata/2008.05/RIBS/rib.20080501.0644.bz2"
    planted = {path: [["status", 503, {"X-Test": "1"}, "busy"], ["wayback_429"]]}
    (root / ".mirror-faults.json").write_text(json.dumps(planted))
    with serve(root) as srv:
        first = _get(client, srv, path)
        assert (first.status_code, first.headers["X-Test"], first.text) == (503, "1", "busy")
        assert _get(client, srv, path).status_code == 429
        assert _get(client, srv, path).content == DATA
        listing = _get(client, srv, "/archive.routeviews.org/bgpdata/2008.05/RIBS/")
    assert ".mirror-faults" not in listing.text
    (root / ".mirror-faults.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"\.mirror-faults\.json: not valid JSON"):
        MirrorServer(root)


def test_a_client_hanging_up_prints_no_traceback(tmp_path: Path, capfd) -> None:
    import socket
    import struct
    import time

    from takedowns.synthetic.server import serve

    (tmp_path / "h.example").mkdir()
    with serve(tmp_path) as server:
        host, port = server.url.removeprefix("http://").split(":")
        for _ in range(3):  # a half-sent request, then a reset (SO_LINGER 0)
            sock = socket.create_connection((host, int(port)))
            sock.sendall(b"GET /h.example/x HTTP/1.1\r\nHost: h")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        time.sleep(0.3)
    assert "Traceback" not in capfd.readouterr().err
