"""URL <-> raw path mapping: stable, readable and one-to-one."""

from __future__ import annotations

import pytest

from takedowns.paths import raw_relpath, url_for_relpath
from takedowns.sources.fetch import mirror_url

URLS = [
    "http://archive.routeviews.org/bgpdata/2008.05/RIBS/rib.20080501.0644.bz2",
    "https://publicdata.caida.org/datasets/routing/routeviews-prefix2as/pfx2as-creation.log",
    "http://archive.routeviews.org/bgpdata/2008.05/RIBS/",
    "http://web.archive.org/cdx/search/cdx?url=www.spamhaus.org/drop/drop.lasso&from=2007"
    "&to=2009&output=json&fl=timestamp,original,statuscode,digest,length"
    "&filter=statuscode:200&collapse=digest",
    "https://web.archive.org/web/20081115000000id_/http://www.spamhaus.org/drop/drop.lasso",
]


@pytest.mark.parametrize("url", URLS)
def test_round_trip(url: str) -> None:
    rel = raw_relpath(url)
    assert url_for_relpath(rel, url.split(":")[0]) == url
    assert ".." not in rel.parts and not rel.is_absolute()


def test_readable_names() -> None:
    assert str(raw_relpath(URLS[0])) == (
        "archive.routeviews.org/bgpdata/2008.05/RIBS/rib.20080501.0644.bz2"
    )
    assert str(raw_relpath(URLS[2])).endswith("RIBS/index.html")
    cdx = str(raw_relpath(URLS[3]))
    assert cdx.startswith("web.archive.org/cdx/search/cdx@url=www.spamhaus.org%2Fdrop%2F")


def test_rejects_escaping_paths() -> None:
    with pytest.raises(ValueError, match=r"'\.\.'"):
        raw_relpath("http://example.org/a/../../etc/passwd")
    with pytest.raises(ValueError, match="absolute URL"):
        raw_relpath("/local/file")


def test_mirror_rule() -> None:
    assert mirror_url(URLS[3], "http://127.0.0.1:8765") == (
        "http://127.0.0.1:8765/web.archive.org/cdx/search/cdx?" + URLS[3].split("?", 1)[1]
    )
    assert mirror_url(URLS[0], None) == URLS[0]
