"""Bruce Guenter's spam-trap archive: one yearly 7z archive to the ``spam_messages`` table.

The archive ``http://untroubled.org/spam/YYYY.7z`` holds one raw message per member named
``YYYY/MM/<epoch>.<pid>_<n>.<suffix>`` (suffix ``txt`` or ``lorien``, ignored); the epoch is
the arrival time at the trap. The relay that handed the message to the trap is in the
Received header written by the trap's mail exchanger (mailfront's ``plugin-add-received``):

    Received: from <HELO> (<rDNS or unknown> [<IP>])        (2005)
    Received: from <HELO> ([<IP>])                          (2010: no rDNS)
      by zak.futurequest.net ([69.5.6.152])                  (or mxNN.futurequest.net)
      with SMTP via TCP; 06 May 2005 10:58:29 -0000

How it is read (:func:`normalize_archive`):

* members stream one at a time from the solid archive
  (:func:`takedowns.sources.containers.iter_member_heads`: libarchive, every member's CRC checked);
  nothing is extracted to disk, the archive is never held in memory, and only the first
  ``max_header_bytes`` of each message are kept: memory is bounded whatever the archive size
  (apart from libarchive's index of the archive's members);
* the header block (up to the first empty line; CRLF or LF) is searched with compiled bytes
  regexes (no ``email`` parsing): the topmost Received header whose ``by`` host matches the
  exchanger pattern gives HELO, rDNS, relay IP, protocol and the exchanger's date;
* per batch of messages, the relay address is converted and classified, and the dates are
  parsed, with vectorized polars expressions; batches stream into Parquet.

The self-check (:func:`check_exchanger_share`): per arrival month, each message's receiving
``by`` host is tallied (:class:`ExchangerTally`, from the header blocks already read; the
trap header's host, else :func:`edge_by_host`) with whether the exchanger pattern found the
trap's header. A judged
month (at least :data:`MIN_JUDGED_MESSAGES` messages) in which fewer than
``min_exchanger_share`` of the messages have it is an error naming the archive, the month,
the share, the commonest ``by`` hosts and ``spamtrap.exchanger_pattern``: a wrong pattern
stops the run instead of leaving an empty spam series.

Every message with a usable name is kept. One with no usable relay keeps a reason in
``relay_status`` (``no_received``, ``no_trap_received``, ``malformed_received``,
``no_relay_ip``, ``ipv6_relay``, ``malformed_relay_ip``, ``private_or_loopback_relay``,
``reserved_relay``); a header block that does not end within ``max_header_bytes`` is cut
and flagged. Members with unsafe paths or without an epoch are skipped and counted by reason
in the file's QC record; a truncated or corrupt archive is an error naming the file.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from takedowns.config import schema_defaults
from takedowns.ipv4 import address_to_int
from takedowns.qc import FileQC, enforce_malformed_limit
from takedowns.sources.containers import MemberHead, iter_member_heads
from takedowns.tables import write_parquet

STAGE = "spamtrap"
#: Keyword defaults for direct calls, read from the config schema (the one place defaults
#: live): the trap's mail exchangers zak.futurequest.net (2005) and mxNN.futurequest.net (2010).
_SCHEMA_DEFAULTS = schema_defaults()["spamtrap"]
DEFAULT_EXCHANGER: str = _SCHEMA_DEFAULTS["exchanger_pattern"]
DEFAULT_MAX_HEADER_BYTES: int = _SCHEMA_DEFAULTS["max_header_bytes"]
DEFAULT_TIME_DISAGREEMENT_MINUTES: float = _SCHEMA_DEFAULTS["time_disagreement_minutes"]
DEFAULT_MIN_EXCHANGER_SHARE: float = _SCHEMA_DEFAULTS["min_exchanger_share"]
#: A month with fewer messages than this is not judged by the exchanger self-check (a few
#: messages cannot tell a wrong pattern from a handful of odd ones); its share is still kept.
MIN_JUDGED_MESSAGES = 20
#: ``by`` hosts named in the self-check's error.
TOP_HOSTS = 5
BATCH_ROWS = 50_000

SPAM_SCHEMA: dict[str, pl.DataType] = {
    "archive": pl.String(),
    "member": pl.String(),
    "arrival_time": pl.Datetime("us", "UTC"),
    "day": pl.Date(),
    "received_time": pl.Datetime("us", "UTC"),
    "time_disagrees": pl.Boolean(),
    "relay_ip": pl.UInt32(),
    "relay_ip_text": pl.String(),
    "helo": pl.String(),
    "rdns": pl.String(),
    "exchanger": pl.String(),
    "protocol": pl.String(),
    "size_bytes": pl.UInt64(),
    "header_bytes": pl.UInt32(),
    "header_cut": pl.Boolean(),
    "relay_status": pl.String(),
}

#: Reasons a kept message has no usable relay (``relay_status`` values besides ``ok``).
RELAY_REASONS = (
    "no_received",
    "no_trap_received",
    "malformed_received",
    "no_relay_ip",
    "ipv6_relay",
    "malformed_relay_ip",
    "private_or_loopback_relay",
    "reserved_relay",
)

_NAME_EPOCH = re.compile(r"(?:^|/)(\d{9,10})\.[^/]*$")
_DRIVE = re.compile(r"^[A-Za-z]:")
_BLANK_LINE = re.compile(rb"\n\r?\n")
_ANY_RECEIVED = re.compile(rb"^received:", re.M | re.I)
_FROM_PART = re.compile(rb"^(?:(?P<helo>.*)[ \t]+)?\((?P<inner>[^()]*)\)$", re.S)
_INNER = re.compile(rb"^(?:(?P<rdns>[^\s\[\]]+)[ \t]+)?\[(?P<ip>[^\[\]\s]*)\]$")
_MAPPED_V4 = re.compile(r"^(?:ipv6:)?::ffff:(\d{1,3}(?:\.\d{1,3}){3})$", re.I)
#: The ``by`` host (a dotted name or address, so qmail's "invoked by uid 0" is passed over)
#: of the topmost Received header that has one, continuation lines included.
_TOP_BY = re.compile(
    rb"^Received:(?:[^\r\n]|\r?\n[ \t])*?(?<=[ \t(])by[ \t]+(?P<by>[\w-]+(?:\.[\w-]+)+)",
    re.M | re.I,
)
#: A Received header in the trap's form, ``from ... [IPv4]`` then a ``by`` line.
_FROM_IP_BY = re.compile(
    rb"^Received:[ \t]*from[^\r\n]*\[(?P<ip>\d{1,3}(?:\.\d{1,3}){3})\][^\r\n]*\r?\n"
    rb"[ \t]+by[ \t]+(?P<by>[\w-]+(?:\.[\w-]+)+)",
    re.M | re.I,
)
#: Site-internal IPv4 networks (as in :func:`_relay_status`): a hop from one is not the edge.
_INTERNAL = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
    )
)
#: ``relay_status`` values that mean the exchanger pattern found no trap header.
_NOT_FOUND = ("no_received", "no_trap_received")


class ExchangerMismatch(ValueError):
    """The exchanger pattern finds the trap's Received header in too few of a month's messages."""


@dataclass(frozen=True)
class TrapGrammar:
    """Compiled regexes for one exchanger pattern (a regex matching the ``by`` host).

    ``by_line`` finds the exchanger's ``by`` continuation line (a fast scan from a literal
    newline); ``fast`` and ``trap`` then match the whole header from its ``Received:``:
    ``fast`` splits the common form in one step, ``trap`` accepts any ``from`` text, which
    :func:`parse_trap_received` then takes apart; ``loose`` tells a malformed header by the
    exchanger from the absence of one.
    """

    exchanger: str
    by_line: re.Pattern[bytes]
    fast: re.Pattern[bytes]
    trap: re.Pattern[bytes]
    loose: re.Pattern[bytes]

    @classmethod
    def compile(cls, exchanger: str = DEFAULT_EXCHANGER) -> TrapGrammar:
        exch = rb"(?i:" + exchanger.encode() + rb")"
        by = rb"[ \t]+by[ \t]+(?P<by>" + exch + rb")(?![\w.-])[^\r\n]*\r?\n"
        tail = rb"[ \t]+with[ \t]+(?P<with>[^\r\n;]*);[ \t]*(?P<date>[^\r\n]*)"
        fast = re.compile(
            rb"Received:[ \t]*from[ \t]+(?:(?P<helo>[^\r\n]*?)[ \t]+)?"
            rb"\((?:(?P<rdns>[^\s\[\]()]+)[ \t]+)?\[(?P<ip>[^\[\]\s]*)\]\)[ \t]*\r?\n" + by + tail
        )
        trap = re.compile(rb"Received:[ \t]*from[ \t]+(?P<from>[^\r\n]*?)[ \t]*\r?\n" + by + tail)
        loose = re.compile(
            rb"^Received:(?:[^\r\n]|\r?\n[ \t])*?[ \t]by[ \t]+" + exch + rb"(?![\w.-])",
            re.M | re.I,
        )
        by_line = re.compile(rb"\n" + by[: by.index(b"(?![")] + rb"(?![\w.-])")
        return cls(exchanger, by_line, fast, trap, loose)


@dataclass(frozen=True, slots=True)
class TrapFields:
    """What the header block says about the relay (texts as in the message)."""

    status: str | None  # a reason from RELAY_REASONS, or None when an address was found
    helo: str | None = None
    rdns: str | None = None
    ip_text: str | None = None
    exchanger: str | None = None
    protocol: str | None = None
    date_text: str | None = None


def _text(raw: bytes | None) -> str | None:
    """Bytes to text: valid UTF-8 is kept, other bytes become ``\\xNN`` escapes."""
    return None if raw is None else raw.decode("utf-8", "backslashreplace")


def header_block(head: bytes, size: int) -> tuple[bytes, bool]:
    """The header block at the start of ``head`` and whether it was cut.

    The block ends at the first empty line (LF or CRLF). When ``head`` holds no empty line
    but the message is longer than ``head`` (the read was capped), the block is cut.
    """
    m = _BLANK_LINE.search(head)
    if m:
        return head[: m.start() + 1], False
    return head, size > len(head)


def _header_start(block: bytes, pos: int) -> int:
    """Start of the ``Received:`` header whose continuation line begins at ``pos``."""
    at = block.rfind(b"\nReceived:", 0, pos)
    if at >= 0:
        return at + 1
    return 0 if block.startswith(b"Received:") else -1


def parse_trap_received(block: bytes, grammar: TrapGrammar) -> TrapFields:
    """Find the trap exchanger's Received header in ``block`` and split it into fields.

    The topmost header with a ``by <exchanger>`` continuation line is the one; when it does
    not follow the grammar, the message gets ``malformed_received``.
    """
    by = grammar.by_line.search(block)
    start = _header_start(block, by.start()) if by else -1
    if start < 0:
        if grammar.loose.search(block):
            return TrapFields("malformed_received")
        if _ANY_RECEIVED.search(block):
            return TrapFields("no_trap_received")
        return TrapFields("no_received")
    m = grammar.fast.match(block, start)
    if m is not None and m.start("by") == by.start("by"):
        helo, rdns, ip, host, proto, date = m.group("helo", "rdns", "ip", "by", "with", "date")
        if rdns is not None and rdns.lower() == b"unknown":
            rdns = None
        return TrapFields(
            None,
            None if helo is None else helo.decode("utf-8", "backslashreplace"),
            None if rdns is None else rdns.decode("utf-8", "backslashreplace"),
            ip.decode("utf-8", "backslashreplace"),
            host.decode("utf-8", "backslashreplace"),
            proto.strip().decode("utf-8", "backslashreplace"),
            date.strip().decode("utf-8", "backslashreplace"),
        )
    m = grammar.trap.match(block, start)
    if m is None or m.start("by") != by.start("by"):
        return TrapFields("malformed_received")
    exchanger, protocol = _text(m["by"]), _text(m["with"].strip())
    date = _text(m["date"].strip())
    part = _FROM_PART.match(m["from"])
    if part is None:
        return TrapFields("malformed_received", exchanger=exchanger, date_text=date)
    helo = _text(part["helo"])
    inner = _INNER.match(part["inner"])
    if inner is None:
        status = "no_relay_ip" if b"[" not in part["inner"] else "malformed_received"
        return TrapFields(status, helo, None, None, exchanger, protocol, date)
    rdns = inner["rdns"]
    rdns_text = None if rdns is None or rdns.lower() == b"unknown" else _text(rdns)
    return TrapFields(None, helo, rdns_text, _text(inner["ip"]), exchanger, protocol, date)


def topmost_by_host(block: bytes) -> str | None:
    """The ``by`` host of the topmost Received header in ``block`` that names one (lower case).

    Headers without a dotted ``by`` host (qmail's ``(qmail 4063 invoked from network)``) are
    passed over; None when no Received header names one.
    """
    m = _TOP_BY.search(block)
    return None if m is None else m["by"].decode("ascii", "backslashreplace").lower()


def edge_by_host(block: bytes) -> str | None:
    """The host that took the message from the Internet, as a guess at the trap's exchanger.

    The ``by`` host (lower case) of the topmost Received header of the form ``from ...
    [a.b.c.d]`` + ``by <host>`` whose address is not site-internal: in the 2005 messages the topmost
    headers are the owner's own forwarding (``by bruce-guenter.dyndns.org`` from 127.0.0.1),
    and the trap's exchanger comes below them. Falls back to :func:`topmost_by_host`.
    """
    for m in _FROM_IP_BY.finditer(block):
        try:
            ip = ipaddress.IPv4Address(m["ip"].decode("ascii"))
        except ValueError:
            continue
        if not any(ip in net for net in _INTERNAL):
            return m["by"].decode("ascii", "backslashreplace").lower()
    return topmost_by_host(block)


def member_problem(name: str) -> str | None:
    """``unsafe_path`` or ``no_epoch_in_name`` for a member that cannot be used, else None."""
    parts = re.split(r"[\\/]", name)
    if (
        name.startswith(("/", "\\"))
        or _DRIVE.match(name)
        or "\x00" in name
        or any(p == ".." for p in parts)
    ):
        return "unsafe_path"
    if _NAME_EPOCH.search(name.replace("\\", "/")) is None:
        return "no_epoch_in_name"
    return None


def member_epoch(name: str) -> int:
    """The arrival epoch in a member name (``2008/05/1210000000.1234_5.lorien``)."""
    m = _NAME_EPOCH.search(name.replace("\\", "/"))
    if m is None:
        raise ValueError(f"no epoch in member name {name!r}")
    return int(m[1])


# --------------------------------------------------------------------------------------------
# Vectorized per-batch finishing


def _relay_status(ip: pl.Expr, text: pl.Expr, status: pl.Expr) -> pl.Expr:
    """The final relay status from the regex status, the address text and its value."""
    v = ip.cast(pl.UInt64)

    def within(first: int, length: int) -> pl.Expr:
        size = 1 << (32 - length)
        return (v >= first) & (v < first + size)

    private = (
        within(0x0A000000, 8)  # 10/8
        | within(0x7F000000, 8)  # 127/8 loopback
        | within(0xAC100000, 12)  # 172.16/12
        | within(0xC0A80000, 16)  # 192.168/16
        | within(0xA9FE0000, 16)  # 169.254/16 link-local
        | within(0x00000000, 8)  # 0/8 "this network"
    )
    return (
        pl.when(status.is_not_null())
        .then(status)
        .when(text.str.contains(":") & ip.is_null())  # IPv4-mapped IPv6 counts as IPv4
        .then(pl.lit("ipv6_relay"))
        .when(ip.is_null())
        .then(pl.lit("malformed_relay_ip"))
        .when(private)
        .then(pl.lit("private_or_loopback_relay"))
        .when(v >= 0xE0000000)  # multicast, class E, broadcast
        .then(pl.lit("reserved_relay"))
        .otherwise(pl.lit("ok"))
    )


def finish_batch(raw: pl.DataFrame, tolerance_minutes: float) -> pl.DataFrame:
    """Typed ``spam_messages`` rows from the per-message strings and numbers of a batch."""
    mapped = pl.col("relay_ip_text").str.extract(_MAPPED_V4.pattern, 1)
    v4_text = pl.coalesce(mapped, pl.col("relay_ip_text"))
    arrival = pl.from_epoch("epoch", time_unit="s").dt.replace_time_zone("UTC")
    received = (
        pl.col("date_text")
        .str.to_datetime("%d %b %Y %H:%M:%S %z", strict=False, time_unit="us")
        .dt.convert_time_zone("UTC")
    )
    out = raw.with_columns(
        relay_ip=pl.when(pl.col("status").is_null()).then(address_to_int(v4_text)),
        arrival_time=arrival.dt.cast_time_unit("us"),
        received_time=received,
    ).with_columns(
        relay_status=_relay_status(pl.col("relay_ip"), pl.col("relay_ip_text"), pl.col("status")),
        day=pl.col("arrival_time").dt.date(),
        time_disagrees=(pl.col("received_time") - pl.col("arrival_time")).abs()
        > pl.duration(seconds=int(tolerance_minutes * 60)),
    )
    return out.select([pl.col(name).cast(dtype) for name, dtype in SPAM_SCHEMA.items()])


# --------------------------------------------------------------------------------------------
# The archive


@dataclass
class _Batch:
    """Column lists of the messages read since the last write."""

    archive: str

    def __post_init__(self) -> None:
        self.cols: dict[str, list] = {k: [] for k in _RAW_COLUMNS}

    def __len__(self) -> int:
        return len(self.cols["member"])

    def add(self, m: MemberHead, epoch: int, block: bytes, cut: bool, f: TrapFields) -> None:
        c = self.cols
        c["member"].append(m.name)
        c["epoch"].append(epoch)
        c["size_bytes"].append(m.size)
        c["header_bytes"].append(len(block))
        c["header_cut"].append(cut)
        c["status"].append(f.status)
        c["helo"].append(f.helo)
        c["rdns"].append(f.rdns)
        c["relay_ip_text"].append(f.ip_text)
        c["exchanger"].append(f.exchanger)
        c["protocol"].append(f.protocol)
        c["date_text"].append(f.date_text)
        c["by_host"].append(f.exchanger.lower() if f.exchanger else edge_by_host(block))

    def frame(self) -> pl.DataFrame:
        frame = pl.DataFrame(self.cols, schema=_RAW_COLUMNS)
        self.cols = {k: [] for k in _RAW_COLUMNS}
        return frame.with_columns(archive=pl.lit(self.archive))


_RAW_COLUMNS: dict[str, pl.DataType] = {
    "member": pl.String(),
    "epoch": pl.Int64(),
    "size_bytes": pl.UInt64(),
    "header_bytes": pl.UInt32(),
    "header_cut": pl.Boolean(),
    "status": pl.String(),
    "helo": pl.String(),
    "rdns": pl.String(),
    "relay_ip_text": pl.String(),
    "exchanger": pl.String(),
    "protocol": pl.String(),
    "date_text": pl.String(),
    "by_host": pl.String(),
}

#: Columns of the ``spam_exchangers`` table (:meth:`ExchangerTally.table`).
EXCHANGERS_SCHEMA: dict[str, pl.DataType] = {
    "archive": pl.String(),
    "month": pl.Date(),
    "by_host": pl.String(),
    "matched": pl.Boolean(),
    "messages": pl.Int64(),
}


@dataclass
class ExchangerTally:
    """Messages per (arrival month, ``by`` host, trap header found), over batches.

    ``by_host`` is the trap header's exchanger when the pattern found it, else
    :func:`edge_by_host` (what the pattern should have matched).

    Fed one raw batch at a time (:meth:`add`, a vectorized group-by), so the archive is
    read once; ``matched`` is whether the exchanger pattern found the trap's Received header
    (``relay_status`` not ``no_received`` or ``no_trap_received``).
    """

    counts: Counter[tuple[dt.date, str | None, bool]] = field(default_factory=Counter)

    def add(self, raw: pl.DataFrame) -> None:
        """Count a raw batch (columns epoch, by_host, status)."""
        counts = raw.group_by(
            month=pl.from_epoch("epoch", time_unit="s").dt.truncate("1mo").dt.date(),
            by_host=pl.col("by_host"),
            matched=~pl.col("status").is_in(_NOT_FOUND).fill_null(False),
        ).len()
        for month, host, matched, n in counts.iter_rows():
            self.counts[(month, host, matched)] += n

    def table(self, archive: str) -> pl.DataFrame:
        """The tally as ``spam_exchangers`` rows, by month, then most messages first."""
        rows = [(archive, *key, n) for key, n in self.counts.items()]
        frame = pl.DataFrame(rows, schema=EXCHANGERS_SCHEMA, orient="row")
        return frame.sort(
            ["month", "messages", "by_host"], descending=[False, True, False], nulls_last=True
        )


def monthly_exchanger_share(
    exchangers: pl.DataFrame | pl.LazyFrame, *, min_messages: int = MIN_JUDGED_MESSAGES
) -> pl.DataFrame:
    """Per archive and month: messages, matched, share (matched / messages) and judged.

    ``exchangers``: ``spam_exchangers`` rows. A month is judged when it has at least
    ``min_messages`` messages. Sorted by archive and month.
    """
    return (
        exchangers.lazy()
        .group_by("archive", "month")
        .agg(
            messages=pl.col("messages").sum(),
            matched=pl.col("messages").filter(pl.col("matched")).sum(),
        )
        .with_columns(
            share=pl.col("matched") / pl.col("messages"),
            judged=pl.col("messages") >= min_messages,
        )
        .sort("archive", "month")
        .collect()
    )


def _top_hosts(exchangers: pl.DataFrame, archive: str, month: dt.date) -> str:
    """The month's commonest ``by`` hosts with their counts, as text."""
    hosts = (
        exchangers.filter((pl.col("archive") == archive) & (pl.col("month") == month))
        .group_by("by_host")
        .agg(pl.col("messages").sum())
        .sort(["messages", "by_host"], descending=[True, False], nulls_last=True)
        .head(TOP_HOSTS)
    )
    return ", ".join(f"{h or '(no by host)'} {n}" for h, n in hosts.iter_rows())


def check_exchanger_share(
    exchangers: pl.DataFrame,
    *,
    pattern: str,
    min_share: float,
    min_messages: int = MIN_JUDGED_MESSAGES,
) -> pl.DataFrame:
    """The per-month shares (:func:`monthly_exchanger_share`), or an error for a bad month.

    Raises :class:`ExchangerMismatch` when a judged month's share is below ``min_share``,
    naming the archive, the (first such) month, its share, its :data:`TOP_HOSTS` commonest
    ``by`` hosts with their counts, and ``spamtrap.exchanger_pattern``.
    """
    shares = monthly_exchanger_share(exchangers, min_messages=min_messages)
    low = shares.filter(pl.col("judged") & (pl.col("share") < min_share))
    if low.is_empty():
        return shares
    r = low.row(0, named=True)
    more = low["month"][1:].to_list()
    also = f" ({len(more)} more months below it: {', '.join(f'{m:%Y-%m}' for m in more)})"
    hosts = _top_hosts(exchangers, r["archive"], r["month"])
    raise ExchangerMismatch(
        f"{r['archive']}: in {r['month']:%Y-%m} the trap's Received header was found in "
        f"{r['matched']} of {r['messages']} messages ({r['share']:.1%}), less than "
        f"spamtrap.min_exchanger_share={min_share}; the commonest receiving `by` hosts "
        f"(the first Received from outside the site): {hosts}. Set "
        f"spamtrap.exchanger_pattern (now {pattern!r}) to match the trap's mail exchanger"
        + (also if more else "")
        + "."
    )


def iter_message_batches(
    members: Iterable[MemberHead],
    archive: str,
    qc: FileQC,
    *,
    exchanger_pattern: str = DEFAULT_EXCHANGER,
    tolerance_minutes: float = DEFAULT_TIME_DISAGREEMENT_MINUTES,
    batch_rows: int = BATCH_ROWS,
    examples: dict[str, str] | None = None,
    exchangers: ExchangerTally | None = None,
) -> Iterator[pl.DataFrame]:
    """Typed ``spam_messages`` batches from streamed members, counting into ``qc``.

    ``members`` must hold at least each message's header block (or its first bytes).
    Directory entries are not messages and are not counted as records. Each batch is also
    tallied into ``exchangers`` when given.
    """

    def finish(raw: pl.DataFrame) -> pl.DataFrame:
        if exchangers is not None:
            exchangers.add(raw)
        return finish_batch(raw, tolerance_minutes)

    grammar = TrapGrammar.compile(exchanger_pattern)
    batch = _Batch(archive)
    for m in members:
        if m.is_dir:
            continue
        qc.records_read += 1
        problem = member_problem(m.name)
        if problem:
            qc.skip(problem)
            if examples is not None:
                examples.setdefault(problem, repr(m.name))
            continue
        block, cut = header_block(m.head, m.size)
        batch.add(m, member_epoch(m.name), block, cut, parse_trap_received(block, grammar))
        if len(batch) >= batch_rows:
            yield finish(batch.frame())
    if len(batch):
        yield finish(batch.frame())


def _arrow_schema(metadata: dict[str, str] | None) -> pa.Schema:
    schema = pl.DataFrame(schema=SPAM_SCHEMA).to_arrow().schema
    return schema.with_metadata(metadata) if metadata else schema


def normalize_archive(
    path: Path,
    out: Path,
    *,
    source_file: str | None = None,
    exchanger_pattern: str = DEFAULT_EXCHANGER,
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
    time_disagreement_minutes: float = DEFAULT_TIME_DISAGREEMENT_MINUTES,
    min_exchanger_share: float = DEFAULT_MIN_EXCHANGER_SHARE,
    max_skipped: int = 0,
    batch_rows: int = BATCH_ROWS,
    metadata: dict[str, str] | None = None,
    exchangers_out: Path | None = None,
) -> FileQC:
    """Stream one yearly archive into ``out`` (Parquet, zstd, atomic) and return its QC.

    More than ``max_skipped`` skipped members (unsafe paths, names without an epoch) is an
    error naming the file and the first name of each kind; nothing is written then. A
    truncated or corrupt archive raises :class:`takedowns.sources.containers.SevenZipError` (a
    :class:`takedowns.qc.MalformedInput`) naming the file; an encrypted one, or one whose
    coder nothing installed decodes, :class:`takedowns.sources.containers.SevenZipRefused`. A
    judged month where the exchanger pattern finds the trap's header in less than
    ``min_exchanger_share`` of the messages raises :class:`ExchangerMismatch`
    (:func:`check_exchanger_share`); nothing is written then either. The per-month shares
    go into the QC note, and the tally (``spam_exchangers``) into ``exchangers_out`` when
    given.
    """
    path, out = Path(path), Path(out)
    source = source_file or str(path)
    qc = FileQC(stage=STAGE, source_file=source)
    examples: dict[str, str] = {}
    status: Counter[str] = Counter()
    flags: Counter[str] = Counter()
    tally = ExchangerTally()
    directories = 0

    def members() -> Iterator[MemberHead]:
        nonlocal directories
        for m in iter_member_heads(path, max_header_bytes):
            directories += m.is_dir
            yield m

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    try:
        with pq.ParquetWriter(tmp, _arrow_schema(metadata), compression="zstd") as writer:
            for frame in iter_message_batches(
                members(),
                source,
                qc,
                exchanger_pattern=exchanger_pattern,
                tolerance_minutes=time_disagreement_minutes,
                batch_rows=batch_rows,
                examples=examples,
                exchangers=tally,
            ):
                writer.write_table(frame.to_arrow().cast(_arrow_schema(metadata)))
                qc.records_kept += frame.height
                status.update(dict(frame["relay_status"].value_counts().iter_rows()))
                flags["header_cut"] += int(frame["header_cut"].sum())
                flags["time_disagrees"] += int(frame["time_disagrees"].sum() or 0)
                flags["no_received_time"] += int(
                    (frame["received_time"].is_null() & frame["exchanger"].is_not_null()).sum()
                )
        enforce_malformed_limit(qc, max_skipped, examples)
        exchangers = tally.table(source)
        shares = check_exchanger_share(
            exchangers, pattern=exchanger_pattern, min_share=min_exchanger_share
        )
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if exchangers_out is not None:
        write_parquet(exchangers, Path(exchangers_out), metadata=metadata)
    tmp.replace(out)
    qc.note = json.dumps(
        {
            "empty_archive": qc.records_read == 0,
            "directories": directories,
            "relay_status": dict(sorted(status.items())),
            "header_cut_at_bytes": max_header_bytes,
            **{k: flags[k] for k in ("header_cut", "time_disagrees", "no_received_time")},
            "time_disagreement_minutes": time_disagreement_minutes,
            "exchanger_pattern": exchanger_pattern,
            "min_exchanger_share": min_exchanger_share,
            "exchanger_share": {
                f"{r['month']:%Y-%m}": round(r["share"], 6) for r in shares.iter_rows(named=True)
            },
            "exchanger_months_not_judged": [
                f"{m:%Y-%m}" for m in shares.filter(~pl.col("judged"))["month"]
            ],
        },
        sort_keys=True,
    )
    if qc.records_read == 0:
        qc.note = "empty archive: no messages; " + qc.note
    return qc


def attribute_messages(
    messages: pl.DataFrame,
    episodes: pl.DataFrame,
    ip_country: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``spam_messages`` rows plus the relay's origin(s) and country on its arrival day.

    Only relays with ``relay_status == 'ok'`` are looked up (a private address may well be
    in a routing table, as 10.x /32s are in route-views2's); the others get no origin.
    Adds ``matched_prefix``, ``origins`` (List(UInt32)), ``country`` and ``registry``.
    """
    from takedowns.prefix2as.attribution import attribute_addresses, attribute_country

    keyed = messages.with_columns(
        _ip=pl.when(pl.col("relay_status") == "ok").then(pl.col("relay_ip"))
    )
    out = attribute_addresses(keyed, episodes, ip="_ip", day="day")
    if ip_country is not None:
        out = attribute_country(out, ip_country, ip="_ip", day="day")
    else:
        out = out.with_columns(
            country=pl.lit(None, dtype=pl.String), registry=pl.lit(None, dtype=pl.String)
        )
    return out.drop("_ip")
