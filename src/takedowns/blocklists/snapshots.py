"""Blocklist snapshots to ``blocklist_entries``: parsers, one job per snapshot, QC by neighbours.

Three formats (all parsed with vectorized polars expressions over the lines of a snapshot):

* ``drop``: Spamhaus DROP, ``CIDR ; SBLnnnnn`` data lines and ``;`` comment lines; the
  reference is the SBL id.
* ``et_rules``: Emerging Threats Snort rules carrying address lists,
  ``alert ip [a.b.c.d/nn,...] any -> $HOME_NET any (msg:"ET RBN ..."; sid:NNN; ...)``; ``#``
  lines are comments (or disabled rules); the reference is ``sid:NNN``, the comment the msg.
* ``rbn_ips``: one address, CIDR or range ``a.b.c.d-e.f.g.h`` per line, ``#`` comments; a
  range is split into the CIDR blocks that cover it exactly.

Every snapshot's counts go into a :class:`~takedowns.qc.FileQC`: a record is one prefix (or
range block, or bad token) read; skipped by reason: ``invalid_cidr``, ``invalid_range``,
``unparsable_rule`` (malformed: more than ``max_malformed`` of them is an error naming the
file), ``ipv6``, ``negated_address``, ``duplicate_prefix`` (counted, never an error). A CIDR
with host bits set is normalized to its network and counted in the note and the stats, as
are Windows line endings. A snapshot that parses to nothing (empty body, an HTML page, only
comments) has status ``suspect``; :func:`flag_snapshots` then compares each snapshot's entry
count with the median of its neighbours in time and flags the ones far below it.

A snapshot is the capture its CDX row names, or nothing: when the archive answers with
another capture (a redirect to another timestamp: status ``redirected``) or with bytes whose
base32 SHA-1 differs from the CDX ``digest`` (status ``digest_mismatch``), the snapshot keeps
that status and its note in ``blocklist_snapshots`` but has no entries, like a ``missing``
one (:data:`NOT_THE_CAPTURE`); the analysis counts only ``ok`` snapshots.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from takedowns.blocklists.wayback import (
    CaptureResult,
    NoCapture,
    blocklist_config,
    fetch_capture,
)
from takedowns.ipv4 import host_bits_set, int_to_address, network_of, prefix_end
from takedowns.paths import raw_relpath
from takedowns.provenance import parquet_metadata
from takedowns.qc import FileQC, MalformedInput, enforce_malformed_limit, read_qc
from takedowns.sources.containers import looks_like_html
from takedowns.tables import write_parquet

log = logging.getLogger(__name__)

STAGE = "blocklists"
#: Snapshot statuses that mean the requested capture was not had: no entries, never counted.
NOT_THE_CAPTURE = frozenset({"missing", "redirected", "digest_mismatch"})
#: Skip reasons that mean the file is malformed (limited by ``max_malformed``).
MALFORMED_REASONS = frozenset({"invalid_cidr", "invalid_range", "unparsable_rule"})

#: What a parser returns per entry, before the snapshot's columns are added.
PARSED_SCHEMA = {
    "line_no": pl.UInt32,
    "prefix": pl.String,
    "start_ip": pl.UInt32,
    "end_ip": pl.UInt32,
    "length": pl.UInt8,
    "reference": pl.String,
    "comment": pl.String,
}
#: ``blocklist_entries``: one row per listed prefix per snapshot.
ENTRY_SCHEMA = {
    "list": pl.String,
    "snapshot_id": pl.String,
    "snapshot_time": pl.Datetime("us", "UTC"),
    **PARSED_SCHEMA,
    "source_url": pl.String,
    "replay_url": pl.String,
}
#: ``blocklist_snapshots``: one row per snapshot listed by the CDX API, with its final QC.
SNAPSHOT_SCHEMA = {
    "list": pl.String,
    "snapshot_id": pl.String,
    "cdx_timestamp": pl.String,
    "cdx_time": pl.Datetime("us", "UTC"),
    "snapshot_time": pl.Datetime("us", "UTC"),
    "original": pl.String,
    "replay_url": pl.String,
    "served_url": pl.String,
    "digest": pl.String,
    "status": pl.String,
    "note": pl.String,
    "entries": pl.Int64,
    "addresses": pl.Int64,
    "records_read": pl.Int64,
    "records_skipped": pl.Int64,
    "skipped": pl.String,
    "host_bits_normalized": pl.Int64,
    "neighbour_median": pl.Float64,
    "ratio_to_neighbours": pl.Float64,
    "source_file": pl.String,
}

_OCTETS = r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})"
#: ``a.b.c.d`` or ``a.b.c.d/nn``: groups 1-4 the octets, 5 the length.
_CIDR_RE = rf"^{_OCTETS}(?:/(\d{{1,2}}))?$"
#: ``a.b.c.d-e.f.g.h``: groups 1-4 and 5-8 the octets of the first and last address.
_RANGE_RE = rf"^{_OCTETS}-{_OCTETS}$"
_RULE_RE = (
    r"^\s*(?:alert|drop|reject|sdrop|pass|log)\s+\w+\s+(\[[^\]]*\]|\S+)\s+\S+\s+(?:->|<>)\s+"
    r"(\[[^\]]*\]|\S+)\s+\S+\s*\((.*)\)\s*$"
)


@dataclass
class ParseResult:
    """A parsed snapshot: entries (:data:`PARSED_SCHEMA`), its QC record and extra counts."""

    entries: pl.DataFrame
    qc: FileQC
    stats: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Lines and tokens


def _lines(text: str) -> tuple[pl.DataFrame, int]:
    """Numbered lines without line ends, and how many ended in CRLF."""
    crlf = text.count("\r\n")
    lines = text.replace("\r\n", "\n").split("\n")
    if text.endswith("\n"):
        lines.pop()
    frame = pl.DataFrame({"line": lines}).with_row_index("line_no", offset=1)
    return frame.with_columns(pl.col("line_no").cast(pl.UInt32)), crlf


def _split_ranges(ranges: pl.DataFrame) -> pl.DataFrame:
    """Split ``[lo, hi]`` ranges (UInt64 columns ``lo``, ``hi``; key ``rid``) into exact CIDRs.

    Each round takes, for every unfinished range at once, the largest aligned block starting
    at ``lo`` that fits; at most 64 rounds, never a loop per range.
    """
    pending = ranges.select("rid", "lo", "hi")
    blocks = []
    while pending.height:
        size = pl.col("hi") - pl.col("lo") + 1
        align = pl.min_horizontal(pl.col("lo").bitwise_trailing_zeros(), pl.lit(32))
        fits = pl.lit(63, dtype=pl.Int64) - size.bitwise_leading_zeros().cast(pl.Int64)
        step = pending.with_columns(
            bits=pl.min_horizontal(align.cast(pl.Int64), fits).cast(pl.Int64)
        )
        blocks.append(
            step.select("rid", pl.col("lo").alias("start"), (32 - pl.col("bits")).alias("length"))
        )
        pending = step.with_columns(
            lo=pl.col("lo") + pl.lit(2, dtype=pl.UInt64).pow(pl.col("bits"))
        ).filter(pl.col("lo") <= pl.col("hi"))
        pending = pending.drop("bits")
    if not blocks:
        return pl.DataFrame(schema={"rid": pl.UInt32, "start": pl.UInt64, "length": pl.Int64})
    return pl.concat(blocks)


def _address(groups: pl.Expr, first: int) -> pl.Expr:
    """``UInt32`` from four captured octets (fields ``first``..``first+3`` of an
    ``extract_groups`` struct); null unless all four are present and at most 255."""
    octets = [groups.struct.field(str(first + i)).cast(pl.UInt32, strict=False) for i in range(4)]
    value = octets[0] * (1 << 24) + octets[1] * (1 << 16) + octets[2] * (1 << 8) + octets[3]
    valid = pl.all_horizontal([o <= 255 for o in octets])
    return pl.when(valid).then(value.cast(pl.UInt32))


def _tokens_to_entries(
    tokens: pl.DataFrame, qc: FileQC, examples: dict[str, str], stats: dict[str, int]
) -> pl.DataFrame:
    """Validate address tokens (``line_no, token, reference, comment``) into entries.

    Skips are counted in ``qc`` (first example of each reason in ``examples``); host bits
    set are cleared and counted in ``stats``; ranges are split into CIDR blocks. Each token
    is matched by two regular expressions once; a snapshot is small, so the number of
    queries (not their size) is what costs.
    """
    cidr = pl.col("token").str.extract_groups(_CIDR_RE)
    rng = pl.col("token").str.extract_groups(_RANGE_RE)
    base = (
        tokens.with_columns(pl.col("token").str.strip_chars())
        .with_row_index("rid")
        .with_columns(c=cidr, r=rng)
        .with_columns(
            start=_address(pl.col("c"), 1),
            length=pl.col("c").struct.field("5").cast(pl.Int64, strict=False).fill_null(32),
            lo=_address(pl.col("r"), 1),
            hi=_address(pl.col("r"), 5),
            is_range=pl.col("r").struct.field("1").is_not_null(),
            ipv6=pl.col("token").str.contains(":", literal=True),
        )
    )
    reason = (
        pl.when(pl.col("ipv6"))
        .then(pl.lit("ipv6"))
        .when(pl.col("is_range") & (pl.col("lo").is_null() | pl.col("hi").is_null()))
        .then(pl.lit("invalid_range"))
        .when(pl.col("is_range") & (pl.col("lo") > pl.col("hi")))
        .then(pl.lit("invalid_range"))
        .when(~pl.col("is_range") & (pl.col("start").is_null() | (pl.col("length") > 32)))
        .then(pl.lit("invalid_cidr"))
    )
    base = base.with_columns(
        reason=reason,
        host=host_bits_set(pl.col("start"), pl.col("length")).fill_null(False),
    )
    meta = base.select("line_no", "reference", "comment", "token")  # row number = rid
    bad = base.filter(pl.col("reason").is_not_null())
    if bad.height:
        _apply(_summary(bad.lazy()).collect(), qc, examples)
        base = base.filter(pl.col("reason").is_null())
    fixed = base.filter(pl.col("host") & ~pl.col("is_range"))
    stats["host_bits_normalized"] = fixed.height
    if fixed.height:
        examples.setdefault("host_bits_normalized", _example(fixed.row(0, named=True)))
    blocks = base.filter(~pl.col("is_range")).select(
        "rid",
        network_of(pl.col("start"), pl.col("length")).cast(pl.UInt64).alias("start"),
        "length",
    )
    ranges = base.filter(pl.col("is_range"))
    stats["ranges"] = ranges.height
    stats["range_prefixes"] = 0
    if ranges.height:
        split = _split_ranges(
            ranges.select("rid", pl.col("lo").cast(pl.UInt64), pl.col("hi").cast(pl.UInt64))
        )
        stats["range_prefixes"] = split.height
        blocks = pl.concat([blocks, split.cast(blocks.schema)]).sort("rid", "start")
    entries = (
        blocks.with_columns(meta.gather(blocks["rid"]))
        .with_columns(pl.col("start").cast(pl.UInt32), pl.col("length").cast(pl.UInt8))
        .sort("line_no", "rid", "start")  # file order: the first listing of a prefix is kept
        .with_columns(duplicate=~pl.struct("start", "length").is_first_distinct())
    )
    dups = entries.filter("duplicate")
    if dups.height:
        _apply(
            _summary(dups.lazy().with_columns(reason=pl.lit("duplicate_prefix"))).collect(),
            qc,
            examples,
        )
        entries = entries.filter(~pl.col("duplicate"))
    entries = entries.select(
        "line_no",
        pl.concat_str(int_to_address(pl.col("start")), pl.lit("/"), pl.col("length")).alias(
            "prefix"
        ),
        pl.col("start").alias("start_ip"),
        prefix_end(pl.col("start"), pl.col("length")).alias("end_ip"),
        "length",
        "reference",
        "comment",
    )
    qc.records_read += entries.height + qc.records_skipped
    qc.records_kept = entries.height
    return entries.cast(PARSED_SCHEMA)


def _summary(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Per reason: how many, and the first line (number and token) as an example."""
    return (
        frame.sort("line_no")
        .group_by("reason", maintain_order=True)
        .agg(n=pl.len(), line_no=pl.first("line_no"), token=pl.first("token"))
    )


def _apply(summary: pl.DataFrame, qc: FileQC, examples: dict[str, str]) -> None:
    for row in summary.iter_rows(named=True):
        qc.skip(str(row["reason"]), int(row["n"]))
        examples.setdefault(str(row["reason"]), _example(row))


def _example(row: Mapping[str, Any]) -> str:
    return f"line {row['line_no']} {row['token']!r}"


def _count(bad: pl.DataFrame, qc: FileQC, examples: dict[str, str]) -> None:
    """Count skipped tokens by reason; keep the first example of each."""
    _apply(_summary(bad.lazy()).collect(), qc, examples)


def _empty_tokens() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "line_no": pl.UInt32,
            "token": pl.String,
            "reference": pl.String,
            "comment": pl.String,
        }
    )


# --------------------------------------------------------------------------------------------
# The three formats: lines -> tokens


def drop_tokens(lines: pl.DataFrame) -> pl.DataFrame:
    """Spamhaus DROP: ``CIDR ; SBLnnnnn`` lines (``;`` lines are comments)."""
    data = lines.filter(
        (pl.col("line").str.strip_chars() != "")
        & ~pl.col("line").str.strip_chars().str.starts_with(";")
    )
    parts = pl.col("line").str.splitn(";", 2)
    rest = parts.struct.field("field_1").str.strip_chars()
    sbl = rest.str.extract(r"\b(SBL\d+)\b")
    return data.select(
        "line_no",
        parts.struct.field("field_0").alias("token"),
        sbl.alias("reference"),
        pl.when(sbl.is_null() & (rest != "")).then(rest).alias("comment"),
    )


def et_rule_tokens(lines: pl.DataFrame, qc: FileQC, examples: dict[str, str]) -> pl.DataFrame:
    """Emerging Threats rules: the literal addresses of each active rule's address lists.

    A non-comment line that is not a rule is ``unparsable_rule``; a negated address is
    ``negated_address``; variables (``$HOME_NET``) and ``any`` are not addresses.
    """
    active = lines.filter(
        (pl.col("line").str.strip_chars() != "")
        & ~pl.col("line").str.strip_chars().str.starts_with("#")
    )
    rule = pl.col("line").str.extract_groups(_RULE_RE)
    parsed = active.with_columns(
        src=rule.struct.field("1"), dst=rule.struct.field("2"), options=rule.struct.field("3")
    )
    bad = parsed.filter(pl.col("options").is_null()).select(
        "line_no", pl.col("line").alias("token"), reason=pl.lit("unparsable_rule")
    )
    _count(bad, qc, examples)
    rules = parsed.filter(pl.col("options").is_not_null()).with_columns(
        reference=pl.lit("sid:") + pl.col("options").str.extract(r"\bsid\s*:\s*(\d+)"),
        comment=pl.col("options").str.extract(r'\bmsg\s*:\s*"((?:[^"\\]|\\.)*)"'),
    )
    sides = pl.concat(
        [
            rules.select("line_no", "reference", "comment", pl.col(c).alias("side"))
            for c in ("src", "dst")
        ]
    )
    items = (
        sides.with_columns(pl.col("side").str.strip_chars("[]").str.split(","))
        .explode("side")
        .with_columns(pl.col("side").str.strip_chars().alias("token"))
        .filter(
            ~pl.col("token").str.starts_with("$") & (pl.col("token").str.to_lowercase() != "any")
        )
    )
    negated = items.filter(pl.col("token").str.starts_with("!")).with_columns(
        reason=pl.lit("negated_address")
    )
    _count(negated, qc, examples)
    return items.filter(~pl.col("token").str.starts_with("!")).select(
        "line_no", "token", "reference", "comment"
    )


def rbn_ip_tokens(lines: pl.DataFrame) -> pl.DataFrame:
    """RBN IPs file: an address, CIDR or ``a.b.c.d-e.f.g.h`` range per line; ``#`` comments."""
    text = pl.col("line").str.strip_chars()
    data = lines.filter((text != "") & ~text.str.starts_with("#") & ~text.str.starts_with(";"))
    norm = text.str.replace_all(r"\s*-\s*", "-")
    rest = norm.str.extract(r"^\S+\s+(.*)$").str.strip_chars().str.strip_chars_start("#;")
    return data.select(
        "line_no",
        norm.str.extract(r"^(\S+)").alias("token"),
        pl.lit(None, dtype=pl.String).alias("reference"),
        pl.when(rest.str.strip_chars() != "").then(rest.str.strip_chars()).alias("comment"),
    )


def parse_blocklist(
    data: bytes, fmt: str, source_file: str, *, max_malformed: int = 0
) -> ParseResult:
    """Parse one snapshot's bytes in format ``fmt`` (``drop``, ``et_rules``, ``rbn_ips``).

    Raises MalformedInput naming ``source_file`` when more than ``max_malformed`` records
    are malformed. An empty body, an HTML page, or a list without entries parses to no
    entries with QC status ``suspect`` and a note saying why.
    """
    qc = FileQC(stage=STAGE, source_file=source_file)
    stats: dict[str, int] = {"crlf_lines": 0, "host_bits_normalized": 0}
    examples: dict[str, str] = {}
    empty = pl.DataFrame(schema=PARSED_SCHEMA)
    if not data.strip():
        qc.status, qc.note = "suspect", "empty body: no entries"
        return ParseResult(empty, qc, stats)
    if looks_like_html(data[:1024]):
        qc.status, qc.note = "suspect", "the capture is an HTML page, not a list: no entries"
        return ParseResult(empty, qc, stats)
    lines, stats["crlf_lines"] = _lines(data.decode("utf-8", errors="replace"))
    if fmt == "drop":
        tokens = drop_tokens(lines)
    elif fmt == "et_rules":
        tokens = et_rule_tokens(lines, qc, examples)
    elif fmt == "rbn_ips":
        tokens = rbn_ip_tokens(lines)
    else:
        raise ValueError(f"unknown blocklist format {fmt!r}")
    entries = _tokens_to_entries(tokens if tokens.height else _empty_tokens(), qc, examples, stats)
    malformed = FileQC(STAGE, source_file)
    for reason in MALFORMED_REASONS & set(qc.skipped):
        malformed.skip(reason, qc.skipped[reason])
    enforce_malformed_limit(
        malformed, max_malformed, {k: v for k, v in examples.items() if k in MALFORMED_REASONS}
    )
    qc.note = _note(stats, examples)
    if not entries.height:
        qc.status = "suspect"
        qc.note = "; ".join(filter(None, ["parsed to no entries", qc.note]))
    return ParseResult(entries, qc, stats)


def _note(stats: Mapping[str, int], examples: Mapping[str, str]) -> str:
    parts = []
    if stats.get("host_bits_normalized"):
        parts.append(
            f"host bits cleared on {stats['host_bits_normalized']} prefixes "
            f"(first: {examples['host_bits_normalized']})"
        )
    if stats.get("ranges"):
        parts.append(f"{stats['ranges']} ranges split into {stats['range_prefixes']} prefixes")
    if stats.get("crlf_lines"):
        parts.append(f"{stats['crlf_lines']} lines ended in CRLF")
    skipped = [f"{k}: {v}" for k, v in sorted(examples.items()) if k != "host_bits_normalized"]
    if skipped:
        parts.append("first skipped: " + "; ".join(skipped))
    return "; ".join(parts)


# --------------------------------------------------------------------------------------------
# One job per snapshot: download the capture, parse it, write entries and QC


def _max_malformed(config: Mapping[str, Any]) -> int:
    """Malformed lines allowed per snapshot (``blocklists.max_malformed_lines``)."""
    return int(blocklist_config(config)["max_malformed_lines"])


def process_snapshot(
    manifest: pl.DataFrame,
    snapshot_id: str,
    entries_out: Path,
    qc_out: Path,
    config: Mapping[str, Any],
    *,
    raw_root: Path,
    checksums: Path | None,
    ratelimit_dir: Path | None = None,
) -> FileQC:
    """Download one snapshot of the (merged) manifest, parse it, write entries and QC.

    A capture the Wayback Machine does not have (404) is not an error of the run: its
    entries table is empty and its QC status ``missing``, so the neighbour check and the
    analysis see the gap. A redirect to another timestamp (``redirected``) or bytes that do
    not hash to the CDX digest (``digest_mismatch``) are not the capture asked for: the
    bytes stay in the raw tree, the entries table is empty and the note says what was
    served. Anything else that goes wrong raises, naming the URL or file.
    """
    rows = manifest.filter(pl.col("snapshot_id") == snapshot_id)
    if rows.height != 1:
        raise KeyError(f"snapshot {snapshot_id!r} is not (once) in the manifest")
    row = rows.row(0, named=True)
    meta = {"requested_url": row["replay_url"], "cdx_timestamp": row["cdx_timestamp"]}
    try:
        capture = fetch_capture(
            row["replay_url"],
            raw_root=raw_root,
            config=config,
            checksums=checksums,
            ratelimit_dir=ratelimit_dir,
        )
    except NoCapture as exc:
        qc = FileQC(STAGE, str(raw_relpath(row["replay_url"])), status="missing", note=str(exc))
        _write(pl.DataFrame(schema=ENTRY_SCHEMA), entries_out, qc, qc_out, config, meta)
        log.warning("%s", exc)
        return qc
    meta.update(served_url=capture.served_url, capture_time=capture.capture_time.isoformat())
    refused = capture_mismatch(capture, row["cdx_timestamp"], row["digest"])
    if refused is not None:
        qc = FileQC(STAGE, str(raw_relpath(capture.served_url)), status=refused[0])
        qc.sha256, qc.note = capture.sha256, refused[1]
        _write(pl.DataFrame(schema=ENTRY_SCHEMA), entries_out, qc, qc_out, config, meta)
        log.warning("%s: %s", row["replay_url"], qc.note)
        return qc
    max_malformed = _max_malformed(config)
    source = str(raw_relpath(capture.served_url))
    parsed = parse_blocklist(
        capture.path.read_bytes(), row["format"], source, max_malformed=max_malformed
    )
    parsed.qc.sha256 = capture.sha256
    if capture.false_captures:
        refused = f"{capture.false_captures} answers without Memento-Datetime refused first"
        parsed.qc.note = "; ".join(filter(None, [parsed.qc.note, refused]))
    entries = parsed.entries.select(
        pl.lit(row["list"]).alias("list"),
        pl.lit(snapshot_id).alias("snapshot_id"),
        pl.lit(capture.capture_time).dt.cast_time_unit("us").alias("snapshot_time"),
        pl.all(),
        pl.lit(row["original"]).alias("source_url"),
        pl.lit(capture.served_url).alias("replay_url"),
    ).cast(ENTRY_SCHEMA)
    meta.update(parse_stats=json.dumps(parsed.stats, sort_keys=True))
    _write(entries, entries_out, parsed.qc, qc_out, config, meta)
    log.info(
        "%s: %d entries (read %d, skipped %s) %s",
        source,
        entries.height,
        parsed.qc.records_read,
        parsed.qc.skipped or "none",
        parsed.qc.note,
    )
    return parsed.qc


def capture_mismatch(
    capture: CaptureResult, cdx_timestamp: str, cdx_digest: str
) -> tuple[str, str] | None:
    """``(status, note)`` when ``capture`` is not the one the CDX row names, else None.

    ``redirected``: the archive served another timestamp; ``digest_mismatch``: the bytes'
    base32 SHA-1 differs from the CDX digest (compared without regard to case).
    """
    served = capture.served_timestamp
    digests = f"CDX digest {cdx_digest}, served bytes {capture.digest}"
    if served != cdx_timestamp:
        same = "same" if capture.digest == cdx_digest.upper() else "other"
        return (
            "redirected",
            f"asked for the capture at {cdx_timestamp}, the archive redirected to {served} "
            f"({capture.served_url}; {same} bytes: {digests}); not counted as the snapshot",
        )
    if capture.digest != cdx_digest.upper():
        return (
            "digest_mismatch",
            f"the bytes served for {cdx_timestamp} do not match the CDX digest ({digests}); "
            "not counted as the snapshot",
        )
    return None


def _write(
    entries: pl.DataFrame,
    entries_out: Path,
    qc: FileQC,
    qc_out: Path,
    config: Mapping[str, Any],
    meta: Mapping[str, str],
) -> None:
    extra = {**meta, "source": qc.source_file, "status": qc.status}
    write_parquet(entries, Path(entries_out), metadata=parquet_metadata(config, **extra))
    qc.write(Path(qc_out))


# --------------------------------------------------------------------------------------------
# Per list: the snapshot table and the neighbour check


def flag_snapshots(counts: pl.DataFrame, *, min_ratio: float, neighbours: int) -> pl.DataFrame:
    """Flag snapshots that parsed to nothing or to far fewer entries than their neighbours.

    ``counts`` has ``list, snapshot_id, cdx_time, entries, status, note``. For each snapshot
    with entries, the neighbours are the ``neighbours`` nearest snapshots with entries before
    it and after it in the same list (empty ones and those of :data:`NOT_THE_CAPTURE` are
    left out); a snapshot with fewer than ``min_ratio`` times their median entries gets
    status ``suspect`` and a note.
    Adds ``neighbour_median`` and ``ratio_to_neighbours``; other rows pass unchanged.
    """
    base = counts.sort("list", "cdx_time", "snapshot_id")
    had = ~pl.col("status").is_in(sorted(NOT_THE_CAPTURE))
    usable = base.filter(had & (pl.col("entries") > 0))
    shifted = [pl.col("entries").shift(k).over("list") for k in range(1, neighbours + 1)]
    shifted += [pl.col("entries").shift(-k).over("list") for k in range(1, neighbours + 1)]
    medians = usable.select(
        "list",
        "snapshot_id",
        pl.concat_list(shifted).list.drop_nulls().list.median().alias("neighbour_median")
        if shifted
        else pl.lit(None, dtype=pl.Float64).alias("neighbour_median"),
    )
    out = base.drop("neighbour_median", "ratio_to_neighbours", strict=False).join(
        medians, on=["list", "snapshot_id"], how="left", maintain_order="left"
    )
    ratio = pl.col("entries") / pl.col("neighbour_median")
    few = had & (ratio < min_ratio)
    empty = had & (pl.col("entries") == 0)
    flag = (
        pl.when(empty)
        .then(pl.lit("parsed to no entries"))
        .when(few)
        .then(
            pl.format(
                "{} entries, fewer than {} x the median {} of its neighbours",
                pl.col("entries"),
                pl.lit(min_ratio),
                pl.col("neighbour_median"),
            )
        )
    )
    note = (
        pl.when(flag.is_null() | pl.col("note").fill_null("").str.contains(flag, literal=True))
        .then(pl.col("note"))
        .when(pl.col("note").fill_null("") == "")
        .then(flag)
        .otherwise(pl.concat_str(flag, pl.lit("; "), pl.col("note")))
    )
    return out.with_columns(
        ratio.alias("ratio_to_neighbours"),
        pl.when(flag.is_not_null())
        .then(pl.lit("suspect"))
        .otherwise(pl.col("status"))
        .alias("status"),
        note.alias("note"),
    )


def _distinct_addresses(entries: pl.DataFrame) -> int:
    """Addresses listed, nested prefixes counted once (CIDRs are nested or disjoint)."""
    if not entries.height:
        return 0
    ordered = entries.select(
        pl.col("start_ip").cast(pl.Int64), pl.col("end_ip").cast(pl.Int64)
    ).sort("start_ip", pl.col("end_ip"), descending=[False, True])
    reach = pl.col("end_ip").cum_max().shift(1)
    outer = ordered.filter(reach.is_null() | (pl.col("start_ip") > reach))
    return int((outer["end_ip"] - outer["start_ip"] + 1).sum())


def snapshot_table(
    manifest: pl.DataFrame, entries_paths: Sequence[Path], qc_paths: Sequence[Path]
) -> pl.DataFrame:
    """One row per manifest snapshot: counts from its entries and QC (by file stem)."""
    entries_by_id = {Path(p).stem: Path(p) for p in entries_paths}
    qc_by_id = {Path(p).stem: Path(p) for p in qc_paths}
    rows = []
    for snap in manifest.iter_rows(named=True):
        sid = snap["snapshot_id"]
        if sid not in entries_by_id or sid not in qc_by_id:
            raise FileNotFoundError(f"snapshot {sid} of {snap['list']} has no entries or QC file")
        qc = read_qc(qc_by_id[sid])
        path = entries_by_id[sid]
        meta = {k.decode(): v.decode() for k, v in (pq.read_schema(path).metadata or {}).items()}
        entries = pl.read_parquet(path, columns=["start_ip", "end_ip"])
        stats = json.loads(meta.get("takedowns.parse_stats", "{}"))
        captured = meta.get("takedowns.capture_time")
        rows.append(
            {
                "list": snap["list"],
                "snapshot_id": sid,
                "cdx_timestamp": snap["cdx_timestamp"],
                "cdx_time": snap["cdx_time"],
                "snapshot_time": dt.datetime.fromisoformat(captured) if captured else None,
                "original": snap["original"],
                "replay_url": snap["replay_url"],
                "served_url": meta.get("takedowns.served_url"),
                "digest": snap["digest"],
                "status": qc.status,
                "note": qc.note,
                "entries": entries.height,
                "addresses": _distinct_addresses(entries),
                "records_read": qc.records_read,
                "records_skipped": qc.records_skipped,
                "skipped": json.dumps(qc.skipped, sort_keys=True),
                "host_bits_normalized": int(stats.get("host_bits_normalized", 0)),
                "neighbour_median": None,
                "ratio_to_neighbours": None,
                "source_file": qc.source_file,
            }
        )
    return pl.DataFrame(rows, schema=SNAPSHOT_SCHEMA)


def check_list(
    list_name: str,
    manifest: pl.DataFrame,
    entries_paths: Sequence[Path],
    qc_paths: Sequence[Path],
    snapshots_out: Path,
    qc_out: Path,
    config: Mapping[str, Any],
    entries_out: Path | None = None,
) -> FileQC:
    """Write the list's ``blocklist_snapshots`` table (with the neighbour check) and its QC.

    The list's QC record counts snapshots: read (listed), kept (``ok``), skipped by status
    (``suspect``, ``missing``, ``redirected``, ``digest_mismatch``), with status ``suspect``
    and a note naming the flagged ones; a list without any snapshot has status ``empty``.
    ``entries_out`` (optional) receives all of the list's entries in one table (empty, with
    its schema, when the list has none), so a glob over the lists always finds a file.
    """
    section = blocklist_config(config)
    min_ratio = float(section["min_ratio_to_neighbours"])
    neighbours = int(section["neighbours"])
    table = flag_snapshots(
        snapshot_table(manifest, entries_paths, qc_paths),
        min_ratio=min_ratio,
        neighbours=neighbours,
    ).select(list(SNAPSHOT_SCHEMA))
    meta = parquet_metadata(config, source=list_name)
    write_parquet(table, Path(snapshots_out), metadata=meta)
    if entries_out is not None:
        frames = [pl.read_parquet(p) for p in entries_paths]
        combined = pl.concat(frames) if frames else pl.DataFrame(schema=ENTRY_SCHEMA)
        write_parquet(
            combined.sort("snapshot_time", "start_ip", "length"), Path(entries_out), metadata=meta
        )
    qc = FileQC(stage="blocklist_snapshots", source_file=f"blocklists/{list_name}")
    qc.records_read = table.height
    qc.records_kept = int((table["status"] == "ok").sum())
    flagged = table.filter(pl.col("status") != "ok")
    for status, group in flagged.group_by("status", maintain_order=True):
        qc.skip(str(status[0]), group.height)
    if not table.height:
        qc.status, qc.note = "empty", "no snapshot listed by the CDX API"
    elif flagged.height:
        qc.status = "suspect"
        qc.note = "; ".join(
            f"{r['snapshot_id']} {r['status']}: {r['note']}" for r in flagged.iter_rows(named=True)
        )
    qc.write(Path(qc_out))
    return qc


__all__ = [
    "ENTRY_SCHEMA",
    "SNAPSHOT_SCHEMA",
    "MalformedInput",
    "ParseResult",
    "check_list",
    "flag_snapshots",
    "parse_blocklist",
    "process_snapshot",
    "snapshot_table",
]
