"""Spam-trap archives: 7z streaming, the trap's Received grammar, bad input, QC."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import polars as pl
import py7zr
import pytest

from takedowns.qc import MalformedInput
from takedowns.sources.containers import SevenZipError, iter_member_heads, seven_zip_program
from takedowns.spamtrap.archive import (
    DEFAULT_EXCHANGER,
    MIN_JUDGED_MESSAGES,
    ExchangerMismatch,
    TrapGrammar,
    edge_by_host,
    header_block,
    member_problem,
    normalize_archive,
    parse_trap_received,
    topmost_by_host,
)

SAMPLES = "spam/untroubled_samples"
#: (file, relay, HELO, rDNS, exchanger date (UTC), arrival at the trap (UTC))
REAL = [
    (
        "2005-05-06_content_transfer_encoding_text-html.eml",
        "80.238.29.115",
        "lsne-catv-dhcp-29-115.urbanet.ch",
        dt.datetime(2005, 5, 6, 10, 58, 29, tzinfo=dt.UTC),
        dt.datetime(2005, 5, 6, 10, 58, 40, tzinfo=dt.UTC),
    ),
    (
        "2005-06-30_content_transfer_encoding_with_semi_colon.eml",
        "220.173.239.48",
        "mx-host.dot.tk",
        dt.datetime(2005, 6, 30, 3, 57, 8, tzinfo=dt.UTC),
        dt.datetime(2005, 6, 30, 3, 57, 11, tzinfo=dt.UTC),
    ),
    (
        "2010-01-16_partial_testlog.txt",
        "168.143.83.158",
        "localhost",
        dt.datetime(2010, 1, 16, 10, 31, 51, tzinfo=dt.UTC),
        dt.datetime(2010, 1, 16, 10, 31, 52, tzinfo=dt.UTC),
    ),
]


def message(
    relay: str = "203.0.113.9",
    *,
    helo: str = "pc1.example.net",
    rdns: str | None = "unknown",
    exchanger: str = "mx13.futurequest.net",
    date: str = "16 Jan 2008 10:31:51 -0000",
    eol: str = "\n",
    body: str = "hello",
) -> bytes:
    inner = f"{rdns} [{relay}]" if rdns else f"[{relay}]"
    lines = [
        "Delivered-To: bruce@untroubled.org",
        "Received: (qmail 4063 invoked from network); 16 Jan 2008 10:31:52 -0000",
        f"Received: from {helo} ({inner})",
        f"  by {exchanger} ([10.2.1.186])",
        f"  with ESMTP via TCP; {date}",
        "Subject: test",
        "",
        body,
    ]
    return eol.join(lines).encode() + eol.encode()


def epoch(when: dt.datetime) -> int:
    return int(when.timestamp())


def name_for(when: dt.datetime, n: int = 1, suffix: str = "lorien") -> str:
    return f"{when:%Y}/{when:%m}/{epoch(when)}.1234_{n:03d}.{suffix}"


def write_7z(path: Path, members: list[tuple[str, bytes]], **kwargs) -> Path:
    with py7zr.SevenZipFile(path, "w", **kwargs) as archive:
        for name, data in members:
            archive.writestr(data, name)
    return path


def patch_names(path: Path, renames: dict[str, str]) -> None:
    """Rename members in an archive with a plain header (py7zr refuses unsafe names)."""
    data = bytearray(path.read_bytes())
    for old, new in renames.items():
        assert len(old) == len(new)
        at = data.find(old.encode("utf-16-le"))
        assert at > 0
        data[at : at + 2 * len(old)] = new.encode("utf-16-le")
    offset, length = struct.unpack_from("<QQ", data, 12)
    header = bytes(data[32 + offset : 32 + offset + length])
    struct.pack_into("<I", data, 28, zlib.crc32(header))
    struct.pack_into("<I", data, 8, zlib.crc32(bytes(data[12:32])))
    path.write_bytes(bytes(data))


def read(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out)


# --------------------------------------------------------------------------------------------
# Real samples


@pytest.mark.realdata
def test_real_samples_parse_directly(realdata: Path) -> None:
    grammar = TrapGrammar.compile(DEFAULT_EXCHANGER)
    for name, relay, helo, received, _ in REAL:
        raw = (realdata / SAMPLES / name).read_bytes()
        block, cut = header_block(raw[:65536], len(raw))
        assert not cut
        fields = parse_trap_received(block, grammar)
        assert fields.status is None
        assert (fields.ip_text, fields.helo) == (relay, helo)
        assert fields.date_text == received.strftime("%d %b %Y %H:%M:%S -0000")
        assert fields.exchanger.endswith(".futurequest.net")
    assert b"\r\n" in (realdata / SAMPLES / REAL[0][0]).read_bytes()  # the 2005 files are CRLF


@pytest.mark.realdata
def test_real_samples_through_a_7z_archive(realdata: Path, tmp_path: Path) -> None:
    members = [
        (name_for(arrival, i), (realdata / SAMPLES / name).read_bytes())
        for i, (name, _, _, _, arrival) in enumerate(REAL)
    ]
    archive = write_7z(tmp_path / "samples.7z", members)
    qc = normalize_archive(archive, tmp_path / "out.parquet", source_file="samples.7z")
    table = read(tmp_path / "out.parquet").sort("arrival_time")
    assert qc.records_read == qc.records_kept == 3 and not qc.skipped
    assert table["relay_status"].to_list() == ["ok"] * 3
    for row, (name, relay, helo, received, arrival) in zip(
        table.iter_rows(named=True), REAL, strict=True
    ):
        assert row["relay_ip_text"] == relay
        assert row["relay_ip"] == int(ipaddress.IPv4Address(relay))
        assert row["helo"] == helo
        assert row["received_time"] == received
        assert row["arrival_time"] == arrival
        assert row["day"] == arrival.date()
        assert row["size_bytes"] == (realdata / SAMPLES / name).stat().st_size
        assert not row["time_disagrees"] and not row["header_cut"]
    assert table["rdns"].to_list() == [None, None, None]  # "unknown" or absent
    assert table["exchanger"].to_list() == [
        "zak.futurequest.net",
        "zak.futurequest.net",
        "mx13.futurequest.net",
    ]


# --------------------------------------------------------------------------------------------
# The grammar and the kept-with-a-reason messages


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_relay_reasons_are_kept_and_counted(tmp_path: Path, eol: str) -> None:
    t = dt.datetime(2008, 1, 16, 10, 32, tzinfo=dt.UTC)
    no_received = b"Subject: nothing here\n\nbody\n"
    malformed = message(eol=eol).replace(b"  with ESMTP via TCP;", b"  wiht ESMTP via TCP")
    other_host = message(exchanger="relay.example.org", eol=eol)
    cases = {
        "ok": message(rdns="host.example.net", eol=eol),
        "ok_2010": message(rdns=None, eol=eol),
        "no_received": no_received,
        "malformed_received": malformed,
        "no_trap_received": other_host,
        "ipv6_relay": message("IPv6:2001:db8::5", rdns=None, eol=eol),
        "private_or_loopback_relay": message("192.168.1.20", eol=eol),
        "loopback": message("127.0.0.1", eol=eol),
        "reserved_relay": message("239.1.2.3", eol=eol),
        "malformed_relay_ip": message("300.1.2.3", eol=eol),
        "no_relay_ip": message(eol=eol).replace(b"(unknown [203.0.113.9])", b"(rh.example)"),
        "mapped": message("::ffff:198.51.100.4", rdns=None, eol=eol),
    }
    members = [(name_for(t, i), data) for i, data in enumerate(cases.values())]
    write_7z(tmp_path / "a.7z", members)
    qc = normalize_archive(tmp_path / "a.7z", tmp_path / "a.parquet")
    got = dict(zip(cases, read(tmp_path / "a.parquet").sort("member")["relay_status"], strict=True))
    expected = {k: k for k in cases}
    expected |= {"ok_2010": "ok", "loopback": "private_or_loopback_relay", "mapped": "ok"}
    assert got == expected
    assert qc.records_kept == len(cases)
    note = json.loads(qc.note)
    assert note["relay_status"]["private_or_loopback_relay"] == 2
    table = read(tmp_path / "a.parquet").sort("member")
    rows = dict(zip(cases, table.iter_rows(named=True), strict=True))
    assert rows["ok"]["rdns"] == "host.example.net"
    assert rows["ok"]["relay_ip"] == int(ipaddress.IPv4Address("203.0.113.9"))
    assert rows["mapped"]["relay_ip"] == int(ipaddress.IPv4Address("198.51.100.4"))
    assert rows["no_received"]["relay_ip"] is None and rows["no_received"]["helo"] is None


def test_eight_bit_garbage_in_headers(tmp_path: Path) -> None:
    t = dt.datetime(2008, 3, 1, tzinfo=dt.UTC)
    raw = message(helo="pc\xe9.example").replace("pc\xe9".encode(), b"pc\xe9\xff")
    raw = raw.replace(b"Subject: test", b"Subject: \x80\x81\xfe caf\xc3\xa9")
    write_7z(tmp_path / "g.7z", [(name_for(t), raw)])
    normalize_archive(tmp_path / "g.7z", tmp_path / "g.parquet")
    row = read(tmp_path / "g.parquet").row(0, named=True)
    assert row["relay_status"] == "ok"
    assert row["helo"] == "pc\\xe9\\xff.example"


def test_endless_header_block_is_cut_and_counted(tmp_path: Path) -> None:
    t = dt.datetime(2008, 3, 1, tzinfo=dt.UTC)
    endless = message().split(b"Subject")[0] + b"X-Junk: " + b"a" * 300_000 + b"\n"
    late = b"X-Junk: " + b"b" * 100_000 + b"\n" + message()  # trap header past the cap
    write_7z(tmp_path / "e.7z", [(name_for(t, 1), endless), (name_for(t, 2), late)])
    qc = normalize_archive(tmp_path / "e.7z", tmp_path / "e.parquet", max_header_bytes=65536)
    table = read(tmp_path / "e.parquet").sort("member")
    assert table["header_cut"].to_list() == [True, True]
    assert table["header_bytes"].to_list() == [65536, 65536]
    assert table["size_bytes"].to_list() == [len(endless), len(late)]
    assert table["relay_status"].to_list() == ["ok", "no_received"]
    assert json.loads(qc.note)["header_cut"] == 2


def test_time_disagreement_is_flagged(tmp_path: Path) -> None:
    t = dt.datetime(2008, 1, 16, 10, 32, tzinfo=dt.UTC)
    far = message(date="16 Jan 2008 07:00:00 -0000")
    near = message(date="16 Jan 2008 10:31:00 -0000")
    write_7z(tmp_path / "t.7z", [(name_for(t, 1), far), (name_for(t, 2), near)])
    normalize_archive(tmp_path / "t.7z", tmp_path / "t.parquet", time_disagreement_minutes=60)
    assert read(tmp_path / "t.parquet").sort("member")["time_disagrees"].to_list() == [True, False]


# --------------------------------------------------------------------------------------------
# Member names


def test_member_names() -> None:
    assert member_problem("2008/05/1210000000.123_4.lorien") is None
    assert member_problem("2008/05/1210000000.123_4.txt") is None
    assert member_problem("../1210000000.1_1.txt") == "unsafe_path"
    assert member_problem("2008/../../1210000000.1_1.txt") == "unsafe_path"
    assert member_problem("/etc/1210000000.1_1.txt") == "unsafe_path"
    assert member_problem("C:/x/1210000000.1_1.txt") == "unsafe_path"
    assert member_problem("2008/05/README.txt") == "no_epoch_in_name"
    assert member_problem("2008/05/12345.1_1.txt") == "no_epoch_in_name"


def _archive_with_bad_names(tmp_path: Path) -> Path:
    t = dt.datetime(2008, 5, 1, tzinfo=dt.UTC)
    path = tmp_path / "bad.7z"
    members = [
        (name_for(t, 1), message()),
        ("aa/1210000000.1_1.txt", message()),
        ("aaaa/1210000000.1_2.txt", message()),
        ("2008/05/readme.txt", b"not a message\n"),
    ]
    with py7zr.SevenZipFile(path, "w") as archive:
        archive.set_encoded_header_mode(False)
        for name, data in members:
            archive.writestr(data, name)
    patch_names(path, {"aa/1210000000.1_1.txt": "../1210000000.1_1.txt"})
    patch_names(path, {"aaaa/1210000000.1_2.txt": "/tmp/1210000000.1_2.txt"})
    return path


def test_unsafe_and_epochless_members_are_skipped(tmp_path: Path) -> None:
    path = _archive_with_bad_names(tmp_path)
    names = [m.name for m in iter_member_heads(path, 10)]
    assert "../1210000000.1_1.txt" in names and "/tmp/1210000000.1_2.txt" in names
    qc = normalize_archive(path, tmp_path / "b.parquet", source_file="bad.7z", max_skipped=3)
    assert qc.skipped == {"unsafe_path": 2, "no_epoch_in_name": 1}
    assert (qc.records_read, qc.records_kept) == (4, 1)
    assert read(tmp_path / "b.parquet").height == 1


def test_too_many_skipped_members_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = _archive_with_bad_names(tmp_path)
    with pytest.raises(MalformedInput, match=r"bad\.7z.*unsafe_path=2"):
        normalize_archive(path, tmp_path / "b.parquet", source_file="bad.7z", max_skipped=0)
    assert not (tmp_path / "b.parquet").exists()
    assert not list(tmp_path.glob("*.tmp"))


# --------------------------------------------------------------------------------------------
# Archives: truncated, corrupt, empty; coders; bounded memory


def _valid_archive(tmp_path: Path, n: int = 50) -> Path:
    t = dt.datetime(2008, 5, 1, tzinfo=dt.UTC)
    members = [(name_for(t + dt.timedelta(minutes=i), i), message(body="x" * i)) for i in range(n)]
    return write_7z(tmp_path / "ok.7z", members)


@pytest.mark.parametrize("keep", [0.2, 0.6, 0.97])
def test_truncated_archive_is_an_error_naming_the_file(tmp_path: Path, keep: float) -> None:
    data = _valid_archive(tmp_path).read_bytes()
    cut = tmp_path / "cut.7z"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(MalformedInput, match=r"cut\.7z.*truncated"):
        normalize_archive(cut, tmp_path / "o.parquet")
    assert not (tmp_path / "o.parquet").exists()


def test_corrupt_archive_is_an_error_naming_the_file(tmp_path: Path) -> None:
    data = bytearray(_valid_archive(tmp_path).read_bytes())
    for at in (40, 60, 80):  # inside the packed stream
        data[at] ^= 0xFF
    bad = tmp_path / "corrupt.7z"
    bad.write_bytes(bytes(data))
    with pytest.raises(SevenZipError, match=r"corrupt\.7z.*(corrupt|CRC)"):
        normalize_archive(bad, tmp_path / "o.parquet")
    (tmp_path / "junk.7z").write_bytes(b"<html>not found</html>")
    with pytest.raises(SevenZipError, match=r"junk\.7z.*not a 7z archive"):
        normalize_archive(tmp_path / "junk.7z", tmp_path / "o.parquet")


#: The empty archive 7-Zip writes: the signature header alone, pointing at no end header.
EMPTY_7Z = b"7z\xbc\xaf\x27\x1c\x00\x04" + struct.pack("<I", zlib.crc32(bytes(20))) + bytes(20)


@pytest.mark.parametrize("writer", ["7-Zip", "py7zr"])
def test_empty_archive_gives_an_empty_table(tmp_path: Path, writer: str) -> None:
    if writer == "7-Zip":
        (tmp_path / "empty.7z").write_bytes(EMPTY_7Z)
    else:
        # py7zr encodes even an empty header, a form libarchive 3.6 calls malformed: the
        # 7-Zip program reads it (containers.iter_member_heads).
        if seven_zip_program() is None:
            pytest.skip("neither 7zz nor 7z is installed (Debian: apt-get install 7zip)")
        with py7zr.SevenZipFile(tmp_path / "empty.7z", "w"):
            pass
    qc = normalize_archive(tmp_path / "empty.7z", tmp_path / "e.parquet")
    table = read(tmp_path / "e.parquet")
    assert table.height == 0 and "relay_ip" in table.columns
    assert qc.records_read == 0 and qc.status == "ok"
    assert qc.note.startswith("empty archive")


@pytest.mark.parametrize(
    "filters",
    [
        None,
        [{"id": py7zr.FILTER_LZMA}],
        [{"id": py7zr.FILTER_PPMD}],
        [{"id": py7zr.FILTER_BZIP2}],
        [{"id": py7zr.FILTER_DEFLATE}],
        [{"id": py7zr.FILTER_COPY}],
        [{"id": py7zr.FILTER_X86}, {"id": py7zr.FILTER_LZMA2}],
        [{"id": py7zr.FILTER_DELTA}, {"id": py7zr.FILTER_LZMA}],
    ],
    ids=["lzma2", "lzma", "ppmd", "bzip2", "deflate", "copy", "bcj+lzma2", "delta+lzma"],
)
def test_stream_reader_matches_py7zr(tmp_path: Path, filters) -> None:
    import random

    rng = random.Random(7)
    members = {}
    for i in range(40):
        size = rng.choice([0, 1, 500, 70_000, 150_000])
        members[f"2008/05/{1210000000 + i}.1_{i}.txt"] = rng.randbytes(size // 3 + 1)[:size] * 3
    write_7z(tmp_path / "c.7z", list(members.items()), filters=filters)
    got = {m.name: m for m in iter_member_heads(tmp_path / "c.7z", 65536)}
    assert set(got) == set(members)
    for name, data in members.items():
        assert got[name].size == len(data)
        assert got[name].head == data[:65536]
    with py7zr.SevenZipFile(tmp_path / "c.7z") as ref:  # py7zr's own view of the same archive
        assert sorted(ref.getnames()) == sorted(members)


def test_directories_are_not_messages(tmp_path: Path) -> None:
    t = dt.datetime(2008, 5, 1, tzinfo=dt.UTC)
    (tmp_path / "d").mkdir()
    with py7zr.SevenZipFile(tmp_path / "dirs.7z", "w") as archive:
        archive.write(tmp_path / "d", "2008")
        archive.write(tmp_path / "d", "2008/05")
        archive.writestr(message(), name_for(t))
    heads = list(iter_member_heads(tmp_path / "dirs.7z", 100))
    assert [m.is_dir for m in heads] == [True, True, False]
    qc = normalize_archive(tmp_path / "dirs.7z", tmp_path / "d.parquet")
    assert (qc.records_read, qc.records_kept, json.loads(qc.note)["directories"]) == (1, 1, 2)


_STREAM_CHILD = """
import json, sys
from takedowns.sources.containers import iter_member_heads, load_libarchive
def kib(key):
    return int(next(l for l in open("/proc/self/status") if l.startswith(key)).split()[1])
load_libarchive()
base = kib("VmRSS:")
count = largest = 0
for m in iter_member_heads(sys.argv[1], 65536):
    count += 1
    largest = max(largest, len(m.head))
print(json.dumps({"count": count, "largest": largest, "added": kib("VmHWM:") - base}))
"""


def _added_rss_while_streaming(path: Path) -> tuple[int, int, int]:
    """Members, largest kept head, and peak RSS added by streaming (KiB), in a fresh process:
    libarchive's memory is not Python's, so tracemalloc would not see it."""
    done = subprocess.run(
        [sys.executable, "-c", _STREAM_CHILD, str(path)], capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout)
    return result["count"], result["largest"], result["added"] * 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_memory_stays_bounded_for_a_huge_member(tmp_path: Path) -> None:
    """Peak memory (decoder state included) does not grow with the members' size."""
    t = dt.datetime(2008, 5, 1, tzinfo=dt.UTC)
    added = []
    for mult in (1, 4):
        big = message(body="spam " * (2_000_000 * mult))  # 10 MB, then 40 MB
        members = [(name_for(t, 1), big)] + [(name_for(t, i), message()) for i in range(2, 300)]
        members.append((name_for(t, 999), big))
        path = write_7z(tmp_path / f"big{mult}.7z", members)
        del members, big
        count, largest, peak = _added_rss_while_streaming(path)
        assert count == 300 and largest == 65536
        added.append(peak)
    # The LZMA2 decoder's dictionary (8 MiB at py7zr's default preset) dominates the peak;
    # keeping a 40 MB member, or the archive, would add at least 40 MB.
    assert added[1] < 32 * 2**20, f"added {added[1] / 2**20:.1f} MiB"
    assert abs(added[1] - added[0]) < 4 * 2**20, [p / 2**20 for p in added]


# --------------------------------------------------------------------------------------------
# The exchanger self-check


def _month_members(when: dt.datetime, hosts: dict[str, int], first: int = 0) -> list:
    """Members arriving in ``when``'s month, ``hosts[h]`` of them received by host ``h``."""
    out, n = [], first
    for host, count in hosts.items():
        for _ in range(count):
            out.append((name_for(when + dt.timedelta(minutes=n), n), message(exchanger=host)))
            n += 1
    return out


def test_receiving_host_skips_qmail_lines_and_internal_hops() -> None:
    assert topmost_by_host(message(exchanger="MX13.FutureQuest.net")) == "mx13.futurequest.net"
    qmail = b"Received: (qmail 1 invoked by uid 0); 1 Jan 2008\nSubject: x\n"
    assert topmost_by_host(qmail) is None and edge_by_host(qmail) is None
    assert topmost_by_host(b"Subject: none\n") is None
    forwarded = (  # the 2005 form: the owner's own forwarding above the trap's header
        b"Received: from localhost (localhost [127.0.0.1])\r\n"
        b"  by home.example.org ([192.168.1.3]); 06 May 2005 10:58:40 -0000\r\n"
        b"Received: from zak.futurequest.net ([127.0.0.1])\r\n  by localhost ([127.0.0.1])\r\n"
        b"  with SMTP via TCP; 06 May 2005 10:58:40 -0000\r\n"
    ) + message(exchanger="zak.futurequest.net", eol="\r\n")
    assert topmost_by_host(forwarded) == "home.example.org"
    assert edge_by_host(forwarded) == "zak.futurequest.net"


def test_right_pattern_passes_and_records_the_share(tmp_path: Path) -> None:
    t = dt.datetime(2008, 5, 3, tzinfo=dt.UTC)
    members = _month_members(t, {"mx13.futurequest.net": 20, "zak.futurequest.net": 8})
    members += _month_members(t, {"relay.example.org": 2}, first=100)
    write_7z(tmp_path / "2008.7z", members)
    qc = normalize_archive(
        tmp_path / "2008.7z",
        tmp_path / "m.parquet",
        source_file="2008.7z",
        exchangers_out=tmp_path / "x.parquet",
    )
    note = json.loads(qc.note)
    assert note["exchanger_share"] == {"2008-05": pytest.approx(28 / 30, abs=1e-6)}
    assert note["exchanger_months_not_judged"] == [] and note["min_exchanger_share"] == 0.9
    tally = read(tmp_path / "x.parquet")
    assert tally.columns == ["archive", "month", "by_host", "matched", "messages"]
    assert tally.rows() == [
        ("2008.7z", dt.date(2008, 5, 1), "mx13.futurequest.net", True, 20),
        ("2008.7z", dt.date(2008, 5, 1), "zak.futurequest.net", True, 8),
        ("2008.7z", dt.date(2008, 5, 1), "relay.example.org", False, 2),
    ]
    assert read(tmp_path / "m.parquet").height == 30


def test_wrong_pattern_fails_naming_the_top_hosts_and_the_key(tmp_path: Path) -> None:
    t = dt.datetime(2008, 5, 3, tzinfo=dt.UTC)
    hosts = {f"mx{i}.futurequest.net": 10 - i for i in range(1, 8)}  # 9, 8, ..., 3
    write_7z(tmp_path / "2008.7z", _month_members(t, hosts))
    with pytest.raises(ExchangerMismatch) as err:
        normalize_archive(
            tmp_path / "2008.7z",
            tmp_path / "m.parquet",
            source_file="2008.7z",
            exchanger_pattern=r"zak\.futurequest\.net",
            exchangers_out=tmp_path / "x.parquet",
        )
    text = str(err.value)
    assert text.startswith("2008.7z: in 2008-05 ") and "found in 0 of 42 messages (0.0%)" in text
    top = "mx1.futurequest.net 9, mx2.futurequest.net 8, mx3.futurequest.net 7, "
    assert top + "mx4.futurequest.net 6, mx5.futurequest.net 5." in text
    assert "mx6.futurequest.net" not in text
    assert "spamtrap.exchanger_pattern" in text and "spamtrap.min_exchanger_share" in text
    assert not (tmp_path / "m.parquet").exists() and not (tmp_path / "x.parquet").exists()
    assert not list(tmp_path.glob("*.tmp"))
    qc = normalize_archive(  # the check can be turned off
        tmp_path / "2008.7z",
        tmp_path / "m.parquet",
        exchanger_pattern=r"zak\.futurequest\.net",
        min_exchanger_share=0,
    )
    assert json.loads(qc.note)["relay_status"] == {"no_trap_received": 42}


def test_thin_month_is_not_judged(tmp_path: Path) -> None:
    may, june = dt.datetime(2008, 5, 3, tzinfo=dt.UTC), dt.datetime(2008, 6, 3, tzinfo=dt.UTC)
    thin = MIN_JUDGED_MESSAGES - 1
    members = _month_members(may, {"mx13.futurequest.net": 25})
    members += _month_members(june, {"relay.example.org": thin}, first=100)
    write_7z(tmp_path / "2008.7z", members)
    qc = normalize_archive(tmp_path / "2008.7z", tmp_path / "m.parquet")
    note = json.loads(qc.note)
    assert note["exchanger_share"] == {"2008-05": 1.0, "2008-06": 0.0}
    assert note["exchanger_months_not_judged"] == ["2008-06"]
    assert qc.records_kept == 25 + thin
