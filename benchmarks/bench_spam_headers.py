"""Header extraction throughput: takedowns.spamtrap.archive vs the standard library's email parser.

Both read the same fields from the same messages (trap's Received header: HELO, rDNS,
relay IP, exchanger, date parsed to UTC):

* ours: header block cut at the first empty line, compiled bytes regexes, then the per-batch
  vectorized finishing (IP to uint32, status, date parsing) that normalize_archive runs;
* stdlib: ``email.message_from_bytes`` (compat32 policy, the fastest), ``get_all("Received")``,
  the same field regexes on the header text, ``email.utils.parsedate_to_datetime``.

Run: ``.venv/bin/python -m benchmarks.bench_spam_headers [--messages 50000]`` (one core).
"""

from __future__ import annotations

import argparse
import email
import email.utils
import random
import re
import time

import polars as pl

from takedowns.sources.containers import MemberHead
from takedowns.spamtrap.archive import (
    TrapGrammar,
    finish_batch,
    header_block,
    parse_trap_received,
)
from takedowns.synthetic.gen_spam import _message

_STD_TRAP = re.compile(
    r"^from\s+(?:(?P<helo>.*)\s+)?\((?:(?P<rdns>[^\s\[\]()]+)\s+)?\[(?P<ip>[^\]]*)\]\)"
    r"\s+by\s+(?P<by>(?:zak|mx\d+)\.futurequest\.net)\b.*?;\s*(?P<date>.*)$",
    re.S | re.I,
)


def corpus(n: int, seed: int = 1) -> list[tuple[str, bytes]]:
    """Generated messages in the trap's grammar with 1-8 KB bodies, a fifth with CRLF."""
    rng = random.Random(seed)
    start = 1_200_000_000
    out = []
    for i in range(n):
        arrival = start + i * 17
        raw = _message(rng.getrandbits(32) | 1 << 24, arrival, rng, crlf=rng.random() < 0.2)
        raw += b"x" * rng.randrange(1000, 8000) + b"\n"
        out.append((f"2008/01/{arrival}.{i}_1.lorien", raw))
    return out


def ours(messages: list[tuple[str, bytes]], cap: int = 65536) -> pl.DataFrame:
    grammar = TrapGrammar.compile()
    cols: dict[str, list] = {k: [] for k in ("epoch", "status", "ip", "helo", "rdns", "date")}
    for name, raw in messages:
        head = MemberHead(name, len(raw), raw[:cap], False)
        block, _cut = header_block(head.head, head.size)
        f = parse_trap_received(block, grammar)
        cols["epoch"].append(int(name.rsplit("/", 1)[1].split(".", 1)[0]))
        cols["status"].append(f.status)
        cols["ip"].append(f.ip_text)
        cols["helo"].append(f.helo)
        cols["rdns"].append(f.rdns)
        cols["date"].append(f.date_text)
    n = len(messages)
    raw_frame = pl.DataFrame(
        {
            "member": [m for m, _ in messages],
            "epoch": cols["epoch"],
            "size_bytes": [len(r) for _, r in messages],
            "header_bytes": [0] * n,
            "header_cut": [False] * n,
            "status": cols["status"],
            "helo": cols["helo"],
            "rdns": cols["rdns"],
            "relay_ip_text": cols["ip"],
            "exchanger": [None] * n,
            "protocol": [None] * n,
            "date_text": cols["date"],
            "archive": ["bench"] * n,
        },
        schema_overrides={"status": pl.String, "exchanger": pl.String, "protocol": pl.String},
    )
    return finish_batch(raw_frame, 60)


def stdlib(messages: list[tuple[str, bytes]]) -> list[tuple]:
    out = []
    for _, raw in messages:
        msg = email.message_from_bytes(raw)
        found = None
        for value in msg.get_all("Received") or []:
            m = _STD_TRAP.match(str(value).strip())
            if m:
                found = m
                break
        if found is None:
            out.append((None, None, None, None))
            continue
        when = email.utils.parsedate_to_datetime(found["date"].strip())
        out.append((found["ip"], found["helo"], found["rdns"], when))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    args = parser.parse_args(argv)
    messages = corpus(args.messages)
    megabytes = sum(len(r) for _, r in messages) / 1e6
    t = time.perf_counter()
    table = ours(messages)
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    ref = stdlib(messages)
    t_std = time.perf_counter() - t
    agree = sum(
        1 for text, (ip, *_rest) in zip(table["relay_ip_text"], ref, strict=True) if text == ip
    )
    print(f"messages: {len(messages):,} ({megabytes:.1f} MB)")
    print(f"takedowns.spamtrap.archive : {t_ours:7.3f} s  {len(messages) / t_ours:12,.0f} msg/s")
    print(f"email (stdlib)     : {t_std:7.3f} s  {len(messages) / t_std:12,.0f} msg/s")
    print(f"ratio              : {t_std / t_ours:7.1f}x   (relay IPs agree: {agree:,})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
