"""Blocklist parsers (DROP, ET rules, RBN IPs), bad input, the neighbour check, the SQL."""

from __future__ import annotations

import datetime as dt
import gzip
import ipaddress
from pathlib import Path

import duckdb
import polars as pl
import pytest

from takedowns.analysis.duckdb_runner import view_definition
from takedowns.blocklists.snapshots import (
    ENTRY_SCHEMA,
    PARSED_SCHEMA,
    SNAPSHOT_SCHEMA,
    check_list,
    flag_snapshots,
    parse_blocklist,
    process_snapshot,
    snapshot_table,
)
from takedowns.blocklists.wayback import merge_manifests
from takedowns.config import REPO_ROOT, load_config
from takedowns.paths import raw_relpath
from takedowns.qc import MalformedInput, read_qc
from takedowns.synthetic import serve
from takedowns.synthetic.gen_blocklists import wayback_digest

SRC = "web.archive.org/web/20080214120000id_/http:/%2Fwww.spamhaus.org/drop/drop.lasso"
DROP_HEAD = (
    "; Spamhaus DROP List 2008/02/14 - (c) 2008 The Spamhaus Project\n"
    "; http://www.spamhaus.org/drop/drop.lasso\n"
)
ANALYSIS = REPO_ROOT / "analysis"


def _net(prefix: str) -> tuple[int, int, int]:
    net = ipaddress.ip_network(prefix)
    return int(net.network_address), int(net.broadcast_address), net.prefixlen


def _check_rows(entries: pl.DataFrame, expected: list[str]) -> None:
    """Entries are exactly ``expected`` (prefix text and integers computed by ipaddress)."""
    assert entries.schema == pl.Schema(PARSED_SCHEMA)
    got = [
        (r["prefix"], r["start_ip"], r["end_ip"], r["length"])
        for r in entries.iter_rows(named=True)
    ]
    assert sorted(got) == sorted((p, *_net(p)) for p in expected)


# --- Spamhaus DROP --------------------------------------------------------------------------


def test_drop_lines_comments_and_sbl_ids() -> None:
    body = (DROP_HEAD + "69.50.160.0/19 ; SBL36633\n81.95.144.0/20 ; SBL57213\n").encode()
    result = parse_blocklist(body, "drop", SRC)
    _check_rows(result.entries, ["69.50.160.0/19", "81.95.144.0/20"])
    assert result.entries["reference"].to_list() == ["SBL36633", "SBL57213"]
    assert result.entries["line_no"].to_list() == [3, 4]
    assert result.qc.records_read == result.qc.records_kept == 2
    assert result.qc.skipped == {} and result.qc.status == "ok" and result.qc.note == ""


def test_drop_invalid_cidr_is_counted_and_over_the_limit_names_the_file() -> None:
    body = (
        DROP_HEAD + "69.50.160.0/19 ; SBL1\n69.50.300.0/24 ; SBL2\n10.0.0.0/33 ; SBL3\n"
        "spamhaus ; SBL4\n"
    ).encode()
    result = parse_blocklist(body, "drop", SRC, max_malformed=3)
    _check_rows(result.entries, ["69.50.160.0/19"])
    assert result.qc.skipped == {"invalid_cidr": 3}
    assert result.qc.records_read == 4 and result.qc.records_kept == 1
    assert "line 4 '69.50.300.0/24'" in result.qc.note
    with pytest.raises(MalformedInput) as info:
        parse_blocklist(body, "drop", SRC, max_malformed=2)
    assert str(info.value).startswith(SRC + ": 3 malformed records (invalid_cidr=3)")
    assert "line 4 '69.50.300.0/24'" in str(info.value)


def test_drop_host_bits_are_cleared_and_counted() -> None:
    body = (DROP_HEAD + "69.50.161.7/19 ; SBL1\n81.95.144.0/20 ; SBL2\n").encode()
    result = parse_blocklist(body, "drop", SRC)
    _check_rows(result.entries, ["69.50.160.0/19", "81.95.144.0/20"])
    assert result.stats["host_bits_normalized"] == 1
    assert result.qc.skipped == {} and result.qc.records_kept == 2
    assert "host bits cleared on 1 prefixes (first: line 3 '69.50.161.7/19')" in result.qc.note


def test_drop_ipv6_lines_are_skipped_and_counted() -> None:
    body = (
        DROP_HEAD + "2001:db8::/32 ; SBL1\n69.50.160.0/19 ; SBL2\n2a00:1::/29 ; SBL3\n"
    ).encode()
    result = parse_blocklist(body, "drop", SRC)  # not malformed: no error at limit 0
    _check_rows(result.entries, ["69.50.160.0/19"])
    assert result.qc.skipped == {"ipv6": 2} and result.qc.records_read == 3


def test_drop_windows_line_endings() -> None:
    lf = (DROP_HEAD + "69.50.160.0/19 ; SBL1\n81.95.144.0/20 ; SBL2\n").encode()
    crlf = lf.replace(b"\n", b"\r\n")
    a, b = parse_blocklist(lf, "drop", SRC), parse_blocklist(crlf, "drop", SRC)
    assert a.entries.equals(b.entries)
    assert b.entries["reference"].to_list() == ["SBL1", "SBL2"]  # no "\r" left behind
    assert b.stats["crlf_lines"] == 4 and "4 lines ended in CRLF" in b.qc.note


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"", "empty body"),
        (b"  \n\n", "empty body"),
        (DROP_HEAD.encode(), "parsed to no entries"),
        (b"<!DOCTYPE html><html><body>Error</body></html>", "HTML page"),
    ],
)
def test_snapshot_with_nothing_is_suspect(body: bytes, why: str) -> None:
    result = parse_blocklist(body, "drop", SRC)
    assert result.entries.height == 0 and result.entries.schema == pl.Schema(PARSED_SCHEMA)
    assert result.qc.status == "suspect" and why in result.qc.note


def test_duplicate_prefixes_count_once() -> None:
    body = (DROP_HEAD + "69.50.160.0/19 ; SBL1\n69.50.161.0/19 ; SBL1\n").encode()
    result = parse_blocklist(body, "drop", SRC)
    _check_rows(result.entries, ["69.50.160.0/19"])
    assert result.qc.skipped == {"duplicate_prefix": 1}
    assert result.qc.records_read == result.qc.records_kept + result.qc.records_skipped


# --- Emerging Threats rules -----------------------------------------------------------------

ET = """# Emerging Threats RBN rules
#alert ip [6.6.6.0/24] any -> $HOME_NET any (msg:"disabled"; sid:1;)
alert ip [81.95.144.0/20,58.65.232.0/21, 77.247.160.5,!10.1.2.3] any -> $HOME_NET any \
(msg:"ET RBN Known Russian Business Network IP (1)"; reference:url,doc.emergingthreats.net; \
sid:2406000; rev:52;)
drop ip $HOME_NET any -> [81.95.144.0/20,91.193.40.0/22] any (msg:"ET RBN Known RBN IP \
BLOCKING (2)"; classtype:misc-attack; sid:2406501; rev:3;)
alert ip [$EXTERNAL_NET,69.50.160.0/19] any <> any any (msg:"x \\"quoted\\""; sid:9;)
this is not a rule
"""


def test_et_rules_address_lists() -> None:
    result = parse_blocklist(ET.encode(), "et_rules", "et.rules", max_malformed=1)
    expected = [
        "81.95.144.0/20",
        "58.65.232.0/21",
        "77.247.160.5/32",
        "91.193.40.0/22",
        "69.50.160.0/19",
    ]
    _check_rows(result.entries, expected)
    refs = dict(zip(result.entries["prefix"], result.entries["reference"], strict=True))
    assert refs["81.95.144.0/20"] == "sid:2406000" and refs["91.193.40.0/22"] == "sid:2406501"
    msgs = dict(zip(result.entries["prefix"], result.entries["comment"], strict=True))
    assert msgs["58.65.232.0/21"] == "ET RBN Known Russian Business Network IP (1)"
    assert msgs["69.50.160.0/19"] == 'x \\"quoted\\"'
    # 8 address tokens: 5 kept, a negated one, a repeat (inbound and outbound), a bad line
    assert result.qc.skipped == {
        "negated_address": 1,
        "duplicate_prefix": 1,
        "unparsable_rule": 1,
    }
    assert result.qc.records_read == 8 and result.qc.records_kept == 5
    with pytest.raises(MalformedInput, match=r"^et\.rules: 1 malformed records"):
        parse_blocklist(ET.encode(), "et_rules", "et.rules", max_malformed=0)


# --- RBN IPs file ---------------------------------------------------------------------------


def test_rbn_ips_addresses_cidrs_and_ranges() -> None:
    body = (
        b"# RBN IPs\n81.95.144.0/20\n77.247.160.5\n"
        b"85.255.112.0 - 85.255.127.255 # whole /20\n"
        b"203.0.113.133-203.0.113.150\n"
        b"10.0.0.9-10.0.0.1\n"
    )
    result = parse_blocklist(body, "rbn_ips", "ips.txt", max_malformed=1)
    split = [
        str(n)
        for n in ipaddress.summarize_address_range(
            ipaddress.ip_address("203.0.113.133"), ipaddress.ip_address("203.0.113.150")
        )
    ]
    assert len(split) == 6
    _check_rows(result.entries, ["81.95.144.0/20", "77.247.160.5/32", "85.255.112.0/20", *split])
    assert result.qc.skipped == {"invalid_range": 1}
    assert result.stats["ranges"] == 2 and result.stats["range_prefixes"] == 7
    whole = result.entries.filter(pl.col("prefix") == "85.255.112.0/20")
    assert whole["comment"].to_list() == ["whole /20"]


def test_range_split_matches_ipaddress_on_many_ranges() -> None:
    import random

    rng = random.Random(5)
    lines, expected = [], []
    for _ in range(300):
        lo = rng.getrandbits(32)
        hi = min(2**32 - 1, lo + rng.choice([0, 1, 7, 255, 1000, 70000, 2**24]))
        a, b = ipaddress.ip_address(lo), ipaddress.ip_address(hi)
        lines.append(f"{a}-{b}")
        expected += [str(n) for n in ipaddress.summarize_address_range(a, b)]
    result = parse_blocklist("\n".join(lines).encode(), "rbn_ips", "r.txt")
    assert sorted(result.entries["prefix"]) == sorted(set(expected))


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown blocklist format"):
        parse_blocklist(b"1.2.3.0/24\n", "csv", "x")


# --- the neighbour check --------------------------------------------------------------------


def _counts(entries: list[int], statuses: list[str] | None = None, name: str = "drop"):
    n = len(entries)
    return pl.DataFrame(
        {
            "list": [name] * n,
            "snapshot_id": [f"s{i:02d}" for i in range(n)],
            "cdx_time": [dt.datetime(2008, 1, 1 + i, tzinfo=dt.UTC) for i in range(n)],
            "entries": entries,
            "status": statuses or ["ok"] * n,
            "note": [""] * n,
        }
    )


def test_neighbour_check_flags_a_dip() -> None:
    out = flag_snapshots(_counts([100, 104, 98, 20, 101, 99, 102]), min_ratio=0.5, neighbours=2)
    assert out["status"].to_list() == ["ok"] * 3 + ["suspect"] + ["ok"] * 3
    row = out.row(3, named=True)
    assert row["neighbour_median"] == 100.0  # median of 104, 98, 101, 99
    assert row["note"] == "20 entries, fewer than 0.5 x the median 100.0 of its neighbours"
    assert out["neighbour_median"][0] == 101.0  # median of 104, 98 (nothing before)


def test_neighbour_check_ratio_is_configurable() -> None:
    counts = _counts([100, 100, 60, 100, 100])
    assert flag_snapshots(counts, min_ratio=0.5, neighbours=2)["status"].to_list() == ["ok"] * 5
    assert flag_snapshots(counts, min_ratio=0.7, neighbours=2)["status"][2] == "suspect"
    assert flag_snapshots(counts, min_ratio=0.7, neighbours=1)["status"][2] == "suspect"


def test_neighbour_check_empty_missing_and_other_lists() -> None:
    counts = pl.concat(
        [
            _counts([50, 0, 52, 0, 51], ["ok", "ok", "ok", "missing", "ok"]),
            _counts([5, 5, 5], name="et"),  # a small list is not compared with DROP
        ]
    )
    out = flag_snapshots(counts, min_ratio=0.5, neighbours=2).sort("list", "snapshot_id")
    drop = out.filter(pl.col("list") == "drop")
    assert drop["status"].to_list() == ["ok", "suspect", "ok", "missing", "ok"]
    assert drop["note"][1] == "parsed to no entries"
    # the empty and missing snapshots are not neighbours: 52's are 50 and 51
    assert drop["neighbour_median"][2] == 50.5
    assert out.filter(pl.col("list") == "et")["status"].to_list() == ["ok"] * 3


def test_neighbour_check_keeps_an_earlier_note_once() -> None:
    counts = _counts([0, 10, 10], ["suspect", "ok", "ok"]).with_columns(
        note=pl.Series(["empty body: no entries", "", ""])
    )
    out = flag_snapshots(counts, min_ratio=0.5, neighbours=2)
    assert out["note"][0] == "parsed to no entries; empty body: no entries"
    again = flag_snapshots(out, min_ratio=0.5, neighbours=2)
    assert again["note"].to_list() == out["note"].to_list()


# --- the snapshot job and the list check, through the mirror ---------------------------------


def test_snapshot_jobs_and_list_check(tmp_path: Path) -> None:
    config = load_config(REPO_ROOT / "config" / "demo.yaml")
    root = tmp_path / "mirror"
    stamps = ["20080210120000", "20080212120000", "20080214120000", "20080216120000"]
    bodies = [
        DROP_HEAD + "".join(f"10.{i}.0.0/16 ; SBL{i}\n" for i in range(8)),
        DROP_HEAD + "".join(f"10.{i}.0.0/16 ; SBL{i}\n" for i in range(9)) + "10.0.0.0/8 ; SBL9\n",
        DROP_HEAD + "10.0.0.0/16 ; SBL0\n",  # a truncated capture
        DROP_HEAD + "".join(f"10.{i}.0.1/16 ; SBL{i}\n" for i in range(9)),  # host bits
    ]
    url = "http://www.spamhaus.org/drop/drop.lasso"
    for stamp, body in zip(stamps[:3] + stamps[3:], bodies, strict=True):
        path = root / raw_relpath(f"https://web.archive.org/web/{stamp}id_/{url}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    digests = [wayback_digest(b.encode()) for b in bodies] + ["AAAAAAA4"]
    manifest = _manifest(url, [*stamps, "20080218120000"], digests)  # the last: not archived
    raw, out = tmp_path / "raw", tmp_path / "out"
    entries, qcs = [], []
    with serve(root) as server:
        config = {**config, "mirror": server.url}
        for sid in manifest["snapshot_id"]:
            e, q = out / "entries" / f"{sid}.parquet", out / "qc" / f"{sid}.json"
            process_snapshot(
                manifest, sid, e, q, config, raw_root=raw, checksums=raw / "SHA256SUMS"
            )
            entries.append(e)
            qcs.append(q)
    first = pl.read_parquet(entries[0])
    assert first.schema == pl.Schema(ENTRY_SCHEMA) and first.height == 8
    assert set(first["snapshot_time"]) == {dt.datetime(2008, 2, 10, 12, tzinfo=dt.UTC)}
    assert set(first["source_url"]) == {url}
    missing = read_qc(qcs[-1])
    assert missing.status == "missing" and "HTTP 404" in missing.note
    assert pl.read_parquet(entries[-1]).height == 0
    table = snapshot_table(manifest, entries, qcs)
    assert table.schema == pl.Schema(SNAPSHOT_SCHEMA)
    assert table["addresses"].to_list() == [8 * 65536, 2**24, 65536, 9 * 65536, 0]
    assert table["host_bits_normalized"].to_list() == [0, 0, 0, 9, 0]
    list_qc = check_list(
        "spamhaus_drop",
        manifest,
        entries,
        qcs,
        out / "snap.parquet",
        out / "list.json",
        config,
        entries_out=out / "entries.parquet",
    )
    combined = pl.read_parquet(out / "entries.parquet")
    assert combined.schema == pl.Schema(ENTRY_SCHEMA) and combined.height == 8 + 10 + 1 + 9
    empty = check_list(
        "x",
        manifest.clear(),
        [],
        [],
        out / "s0.parquet",
        out / "q0.json",
        config,
        entries_out=out / "e0.parquet",
    )
    assert pl.read_parquet(out / "e0.parquet").schema == pl.Schema(ENTRY_SCHEMA)
    assert empty.records_read == 0 and empty.status == "empty"
    final = pl.read_parquet(out / "snap.parquet")
    assert final["status"].to_list() == ["ok", "ok", "suspect", "ok", "missing"]
    assert list_qc.skipped == {"suspect": 1, "missing": 1} and list_qc.records_kept == 3
    assert list_qc.status == "suspect" and stamps[2] in list_qc.note
    assert read_qc(out / "list.json") == list_qc


def _manifest(url: str, stamps: list[str], digests: list[str]) -> pl.DataFrame:
    """A merged DROP manifest whose CDX rows have these timestamps and digests."""
    rows = [
        {
            "list": "spamhaus_drop",
            "format": "drop",
            "url_index": 0,
            "query_url": "q",
            "snapshot_id": f"{s}-{d[:8].lower()}",
            "cdx_timestamp": s,
            "cdx_time": dt.datetime.strptime(s, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC),
            "original": url,
            "digest": d,
            "length": 1,
            "replay_url": f"https://web.archive.org/web/{s}id_/{url}",
        }
        for s, d in zip(stamps, digests, strict=True)
    ]
    return merge_manifests([pl.DataFrame(rows).cast({"cdx_time": pl.Datetime("us", "UTC")})])


def test_redirected_and_mismatched_captures_are_kept_apart(tmp_path: Path) -> None:
    """A 302 to another capture, and bytes that are not the CDX digest's, are not the
    snapshot: their own status in QC and in the snapshots table, no entries, not counted."""
    config = load_config(REPO_ROOT / "config" / "demo.yaml")
    url = "http://www.spamhaus.org/drop/drop.lasso"
    root = tmp_path / "mirror"
    good = {s: DROP_HEAD + "".join(f"10.{i}.0.0/16 ; SBL{i}\n" for i in range(8)) for s in (
        "20080210120000", "20080214120000", "20080216120000")}  # fmt: skip
    # 2008-02-12 is listed by the CDX API, but the archive holds a capture 5 hours later,
    # with other bytes, and redirects to it; 2008-02-14 is served with bytes that changed.
    later = DROP_HEAD + "192.0.2.0/24 ; SBL99\n"
    stored = {**good, "20080212170000": later}
    for stamp, body in stored.items():
        path = root / raw_relpath(f"https://web.archive.org/web/{stamp}id_/{url}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    stamps = ["20080210120000", "20080212120000", "20080214120000", "20080216120000"]
    listed = DROP_HEAD + "10.0.0.0/16 ; SBL0\n"  # what 2008-02-12 and -14 held when captured
    digests = [
        wayback_digest(good[stamps[0]].encode()),
        wayback_digest(listed.encode()),
        wayback_digest(listed.encode()),
        wayback_digest(good[stamps[3]].encode()),
    ]
    manifest = _manifest(url, stamps, digests)
    raw, out = tmp_path / "raw", tmp_path / "out"
    entries, qcs = [], []
    with serve(root) as server:
        config = {**config, "mirror": server.url}
        for sid in manifest["snapshot_id"]:
            e, q = out / "entries" / f"{sid}.parquet", out / "qc" / f"{sid}.json"
            process_snapshot(
                manifest, sid, e, q, config, raw_root=raw, checksums=raw / "SHA256SUMS"
            )
            entries.append(e)
            qcs.append(q)
        replays = [r.path for r in server.requests.snapshot()]
    statuses = [read_qc(q).status for q in qcs]
    assert statuses == ["ok", "redirected", "digest_mismatch", "ok"]
    redirected, mismatched = read_qc(qcs[1]), read_qc(qcs[2])
    assert "redirected to 20080212170000" in redirected.note
    assert wayback_digest(later.encode()) in redirected.note and digests[1] in redirected.note
    assert f"CDX digest {digests[2]}" in mismatched.note
    assert wayback_digest(good[stamps[2]].encode()) in mismatched.note
    assert [pl.read_parquet(e).height for e in entries] == [8, 0, 0, 8]
    assert any("20080212120000id_" in p for p in replays)  # the 302 was asked and followed
    assert (raw / raw_relpath(f"https://web.archive.org/web/20080212170000id_/{url}")).is_file()
    check_list(
        "spamhaus_drop", manifest, entries, qcs, out / "snap.parquet", out / "list.json", config,
        entries_out=out / "entries.parquet",
    )  # fmt: skip
    table = pl.read_parquet(out / "snap.parquet")
    assert table["status"].to_list() == statuses  # the neighbour check leaves them alone
    row = table.row(1, named=True)
    assert row["served_url"].endswith("20080212170000id_/" + url)
    assert row["snapshot_time"] == dt.datetime(2008, 2, 12, 17, tzinfo=dt.UTC)
    combined = pl.read_parquet(out / "entries.parquet")
    assert set(combined["snapshot_id"]) == {manifest["snapshot_id"][0], manifest["snapshot_id"][3]}
    list_qc = read_qc(out / "list.json")
    assert list_qc.skipped == {"redirected": 1, "digest_mismatch": 1}
    assert list_qc.records_kept == 2 and list_qc.status == "suspect"


# --- the SQL, on the real DROP snapshot -----------------------------------------------------


def _real_drop(realdata: Path) -> bytes:
    """The 133 real CIDRs written into DROP format (header comments, invented SBL ids)."""
    folder = realdata / "blocklists" / "spamhaus_drop_2008-02-14_typo3_comments_ipbl"
    cidrs = (folder / "drop_cidrs_derived.txt").read_text().split()
    lines = [f"{c} ; SBL{60000 + i}" for i, c in enumerate(cidrs)]
    return (
        DROP_HEAD + "; Expires: Fri, 15 Feb 2008 12:00:00 GMT\n" + "\n".join(lines) + "\n"
    ).encode()


def _ipasn(realdata: Path) -> dict[tuple[int, int], int]:
    """The real 2008-05-01 prefix table as {(network as int, length): origin}."""
    with gzip.open(realdata / "routing" / "ipasn_20080501_v12.dat.gz", "rt") as fh:
        lines = [line.split() for line in fh if line.strip() and not line.startswith(";")]
    table = {}
    for prefix, asn in lines:
        addr, length = prefix.split("/")
        a, b, c, d = (int(x) for x in addr.split("."))
        table[((a << 24) | (b << 16) | (c << 8) | d, int(length))] = int(asn)
    return table


def _covering_origin(net: ipaddress.IPv4Network, table: dict) -> int | None:
    """The origin of the most specific table prefix covering all of ``net``."""
    start = int(net.network_address)
    for length in range(net.prefixlen, -1, -1):
        hit = table.get((start >> (32 - length) << (32 - length), length))
        if hit is not None:
            return hit
    return None


@pytest.mark.realdata
def test_real_drop_snapshot_parses_and_attributes(realdata: Path, tmp_path: Path) -> None:
    result = parse_blocklist(_real_drop(realdata), "drop", SRC)
    assert result.entries.height == 133 and result.qc.records_read == 133
    assert result.qc.skipped == {} and result.qc.status == "ok"
    assert "69.50.160.0/19" in result.entries["prefix"].to_list()
    assert "81.95.144.0/20" in result.entries["prefix"].to_list()
    table = _ipasn(realdata)
    atrivo = ipaddress.ip_network("69.50.160.0/19")
    rbn = ipaddress.ip_network("81.95.144.0/20")
    assert _covering_origin(atrivo, table) == 27595
    assert _covering_origin(rbn, table) is None
    lo, hi = int(rbn.network_address), int(rbn.broadcast_address)
    inside = [k for k in table if lo <= k[0] <= hi]
    assert not inside  # not even a more specific: RBN was gone by then

    # The SQL over the real entries with a stand-in attribution (covering prefix of 2008-05-01).
    when = dt.datetime(2008, 2, 14, 12, tzinfo=dt.UTC)
    origins = [_covering_origin(ipaddress.ip_network(p), table) for p in result.entries["prefix"]]
    attribution = result.entries.select(
        pl.lit("spamhaus_drop").alias("list"),
        pl.lit("s1").alias("snapshot_id"),
        pl.lit(when).alias("snapshot_time"),
        "prefix",
        "start_ip",
        "end_ip",
        pl.Series("origin_asn", origins, dtype=pl.UInt32),
        (pl.col("end_ip").cast(pl.UInt64) - pl.col("start_ip") + 1).alias("addresses"),
    )
    listed = sum(
        n.num_addresses
        for n in ipaddress.collapse_addresses(
            ipaddress.ip_network(p) for p in result.entries["prefix"]
        )
    )
    snapshots = pl.DataFrame(
        {
            "list": ["spamhaus_drop"],
            "snapshot_id": ["s1"],
            "snapshot_time": [when],
            "addresses": [listed],
            "status": ["ok"],
        }
    )
    space, share = _run_sql(attribution, snapshots, {"intercage": [27595], "rbn": [40989]})
    # Expected with ipaddress: entries inside other entries (7 such pairs in the real list)
    # are counted through the outer entry, which the stand-in gives to its covering origin.
    nets = [ipaddress.ip_network(p) for p in result.entries["prefix"]]
    outer = [
        (n, o)
        for n, o in zip(nets, origins, strict=True)
        if not any(n != m and n.subnet_of(m) for m in nets)
    ]
    assert len(outer) == 133 - 7
    expected: dict[int | None, int] = {}
    for net, origin in outer:
        expected[origin] = expected.get(origin, 0) + net.num_addresses
    got = dict(zip(space["origin_asn"], space["addresses"], strict=True))
    assert got == expected
    assert sum(expected.values()) == listed  # outer entries are disjoint: a partition
    row = space.filter(pl.col("origin_asn") == 27595).row(0, named=True)
    assert row["watched_event_id"] == "intercage"
    assert row["share"] == pytest.approx(expected[27595] / listed)
    by_event = {r["event_id"]: r for r in share.iter_rows(named=True)}
    assert by_event["intercage"]["watched_addresses"] == expected[27595] >= atrivo.num_addresses
    assert by_event["rbn"]["watched_addresses"] == 0
    assert by_event["rbn"]["unrouted_addresses"] == expected[None] >= rbn.num_addresses
    assert by_event["rbn"]["distinct_origins"] == len(expected) - 1


def _run_sql(
    attribution: pl.DataFrame, snapshots: pl.DataFrame, watched: dict[str, list[int]]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Run blocklist_space.sql and blocklist_watched_share.sql over in-memory views."""
    watched_rows = pl.DataFrame(
        [
            {
                "event_id": e,
                "event_name": e,
                "asn": a,
                "nominal_cutoff": dt.datetime(2008, 9, 21, 5, tzinfo=dt.UTC),
            }
            for e, asns in watched.items()
            for a in asns
        ],
        schema={
            "event_id": pl.String,
            "event_name": pl.String,
            "asn": pl.UInt32,
            "nominal_cutoff": pl.Datetime("us", "UTC"),
        },
    )
    con = duckdb.connect(":memory:")
    try:
        for name, frame in (
            ("blocklist_attribution", attribution),
            ("blocklist_snapshots", snapshots),
            ("watched_asns", watched_rows),
        ):
            con.register(f"{name}_frame", frame.to_arrow())
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM {name}_frame")
        con.execute(view_definition(ANALYSIS / "views.sql", "blocklist_attribution_counted"))
        space = con.sql((ANALYSIS / "blocklist_space.sql").read_text()).pl()
        share = con.sql((ANALYSIS / "blocklist_watched_share.sql").read_text()).pl()
    finally:
        con.close()
    return space, share


def test_sql_counts_nested_entries_once_and_skips_flagged_snapshots() -> None:
    when = dt.datetime(2008, 11, 10, 12, tzinfo=dt.UTC)
    rows = [  # (snapshot, prefix, origin, addresses): the /24 lies inside the /21
        ("a", "208.72.168.0/21", 26780, 1792),
        ("a", "208.72.168.0/21", 64502, 256),  # a more specific announced by another AS
        ("a", "208.72.173.0/24", 64502, 256),
        ("a", "198.51.100.0/24", None, 256),
        ("a", "12.1.0.0/16", 7018, 65536),
        ("b", "12.1.0.0/16", 7018, 65536),  # snapshot b is suspect: left out
    ]
    attribution = pl.DataFrame(
        [
            {
                "list": "drop",
                "snapshot_id": s,
                "snapshot_time": when,
                "prefix": p,
                "start_ip": _net(p)[0],
                "end_ip": _net(p)[1],
                "origin_asn": o,
                "addresses": a,
            }
            for s, p, o, a in rows
        ],
        schema_overrides={
            "origin_asn": pl.UInt32,
            "start_ip": pl.UInt32,
            "end_ip": pl.UInt32,
            "addresses": pl.UInt64,
        },
    )
    listed = 2048 + 256 + 65536
    snapshots = pl.DataFrame(
        {
            "list": ["drop", "drop"],
            "snapshot_id": ["a", "b"],
            "snapshot_time": [when, when],
            "addresses": [listed, 65536],
            "status": ["ok", "suspect"],
        }
    )
    space, share = _run_sql(attribution, snapshots, {"mccolo": [26780], "other": [64502]})
    assert set(space["snapshot_id"]) == {"a"}
    got = {r["origin_asn"]: (r["addresses"], r["entries"]) for r in space.iter_rows(named=True)}
    assert got == {7018: (65536, 1), 26780: (1792, 1), 64502: (256, 1), None: (256, 1)}
    assert space["share"].sum() == pytest.approx(1.0)
    assert space["rank_in_snapshot"].to_list() == [1, 2, 3, 4]  # ties ordered by ASN
    by_event = {r["event_id"]: r for r in share.iter_rows(named=True)}
    row = by_event["mccolo"]
    assert (row["watched_addresses"], row["unrouted_addresses"]) == (1792, 256)
    assert row["watched_share"] == pytest.approx(1792 / listed)
    assert row["distinct_origins"] == 3 and row["days_from_nominal_cutoff"] == 50
    assert by_event["other"]["watched_addresses"] == 256
