"""CAIDA AS relationships: real serial-1 files and bad input."""

from __future__ import annotations

import bz2
from pathlib import Path

import pytest

from takedowns.asrel import providers_of, read_as_relationships
from takedowns.qc import MalformedInput


@pytest.mark.realdata
def test_real_2008_mccolo_providers(realdata: Path) -> None:
    path = realdata / "routing" / "20080101.as-rel.txt"
    table, qc = read_as_relationships(path, path.name)
    assert providers_of(table, 26780) == [1299, 3549, 6939]
    assert providers_of(table, 27595) == [4436, 19151, 27524]
    assert qc.records_read == qc.records_kept == 75094 == table.height
    counts = dict(table.group_by("kind").len().iter_rows())
    assert counts == {"p2c": 52311, "p2p": 22783}


@pytest.mark.realdata
def test_real_2007_rbn_family(realdata: Path) -> None:
    path = realdata / "routing" / "20070101.as-rel.txt"
    table, _ = read_as_relationships(path, path.name)
    assert providers_of(table, 40989) == [41173]
    assert {174, 3257, 25577} <= set(providers_of(table, 41173))


def test_bz2_and_malformed_lines(tmp_path: Path) -> None:
    path = tmp_path / "20081101.as-rel.txt.bz2"
    path.write_bytes(bz2.compress(b"# header\n1|2|-1\n3|4|0\n5|6|2\n"))
    with pytest.raises(MalformedInput, match=r"20081101.as-rel.txt.bz2.*line 4 '5\|6\|2'"):
        read_as_relationships(path, path.name)
    table, qc = read_as_relationships(path, path.name, max_malformed=1)
    assert table["month"][0].isoformat() == "2008-11-01"
    assert table.height == 2 and qc.skipped == {"malformed_line": 1}


def test_truncated_bz2(tmp_path: Path) -> None:
    data = bz2.compress(b"".join(b"%d|%d|-1\n" % (i, i + 1) for i in range(20000)))
    path = tmp_path / "20081101.as-rel.txt.bz2"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MalformedInput, match="truncated or corrupt"):
        read_as_relationships(path, path.name)
