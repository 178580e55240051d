"""Blocklist benchmarks.

1. Discovery and download of a year of Wayback snapshots (a generated SYNTHETIC mirror of
   2008: Spamhaus DROP every 3 days, the three Emerging Threats RBN lists weekly) through
   the loopback Wayback imitation, under the Internet Archive's limits as configured (80 %
   of 30 CDX queries and 600 replays a minute): the wall time against the least the limits
   allow, and the requests/minute achieved per limit. The workflow's jobs run side by side
   (``--threads`` like ``snakemake --cores``); the peer is the edgi ``wayback`` client
   (``pip install wayback``; skipped when absent) fetching the same captures sequentially
   with the same limits.
2. Parsing every snapshot of that year: entries/s, against a plain Python loop with
   ``ipaddress`` on the DROP snapshots (the obvious implementation).
3. Attribution of all entries with the shared ``takedowns.prefix2as.attribution.attribute_ranges``
   against the real 2008-05-01 prefix table (skipped when either is absent): entries/s.

Usage: python -m benchmarks.bench_blocklists [--threads 4] [--scale 1.0] [--no-peer]
``--scale`` multiplies both limits (e.g. 10 for a quick run); the ratios are what count.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import gzip
import ipaddress
import random
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl
import requests
from requests.adapters import HTTPAdapter

from benchmarks._common import REALDATA, best_of, report
from takedowns.blocklists.snapshots import parse_blocklist, process_snapshot
from takedowns.blocklists.wayback import (
    blocklist_sources,
    cdx_query_url,
    discover,
    merge_manifests,
    replay_url,
)
from takedowns.config import REPO_ROOT, load_config
from takedowns.paths import raw_relpath
from takedowns.sources.fetch import mirror_url
from takedowns.synthetic.gen_blocklists import (
    cdx_answer,
    drop_body,
    et_body,
    rbn_ips_body,
    wayback_digest,
)
from takedowns.synthetic.server import serve

CDX_PER_MINUTE = 24.0  # 80 % of the Internet Archive's 30/min
REPLAYS_PER_MINUTE = 480.0  # 80 % of its 600/min


def _prefixes(rng: random.Random, n: int) -> list[str]:
    out = set()
    while len(out) < n:
        length = rng.choice([16, 18, 19, 20, 21, 22, 22, 23, 24, 24])
        base = rng.getrandbits(32) >> (32 - length) << (32 - length)
        if 1 <= base >> 24 <= 223:
            out.add(str(ipaddress.ip_network((base, length))))
    return sorted(out, key=lambda p: ipaddress.ip_network(p))


def build_year(root: Path, config: dict[str, Any], seed: int = 2008) -> list[dict[str, Any]]:
    """Write a year of captures and CDX answers; return one record per capture."""
    rng = random.Random(seed)
    pool = _prefixes(rng, 600)
    start = dt.datetime(2008, 1, 1, tzinfo=dt.UTC)
    captures = []
    for source in blocklist_sources(config):
        every = 3 if source.format == "drop" else 7
        rows = []
        for k, day in enumerate(range(0, 366, every)):
            when = start + dt.timedelta(days=day, seconds=rng.randrange(3600, 80000))
            size = 140 + day // 6 if source.format == "drop" else 80 + day // 12
            listed = sorted(rng.sample(pool, size), key=lambda p: ipaddress.ip_network(p))
            url = source.urls[k % len(source.urls)]
            if source.format == "drop":
                body = drop_body(when, [f"{p} ; SBL{10000 + i}" for i, p in enumerate(listed)], url)
            elif source.format == "et_rules":
                body = et_body(when, listed, url.rsplit("/", 1)[-1], "BLOCK" in url)
            else:
                body = rbn_ips_body(listed)
            stamp = when.strftime("%Y%m%d%H%M%S")
            path = root / raw_relpath(replay_url(config, stamp, url))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
            digest = wayback_digest(body)
            rows.append([stamp, url, "200", digest, str(len(body) // 3)])
            captures.append(
                {
                    "list": source.name,
                    "format": source.format,
                    "url": url,
                    "stamp": stamp,
                    "digest": digest,
                    "body": body,
                }
            )
        for url in source.urls:
            path = root / raw_relpath(cdx_query_url(config, url))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(cdx_answer(rows))
    return captures


def _rates(times: Sequence[float]) -> float:
    """Requests a minute between the first and the last of ``times``."""
    return 60.0 * (len(times) - 1) / (max(times) - min(times)) if len(times) > 1 else 0.0


def run_ours(root: Path, config: dict[str, Any], threads: int, work: Path) -> dict[str, Any]:
    """Discovery then one job per snapshot, ``threads`` jobs at a time, as the workflow does."""
    with serve(root) as server:
        config = {**config, "mirror": server.url}
        raw, sums = work / "raw", work / "raw" / "SHA256SUMS"
        sources = blocklist_sources(config)

        def one_list(source: Any) -> int:
            frames = [
                discover(source.name, i, config, raw_root=raw, checksums=sums)[0]
                for i in range(len(source.urls))
            ]
            manifest = merge_manifests(frames)
            with ThreadPoolExecutor(max(1, threads // len(sources))) as pool:
                list(
                    pool.map(
                        lambda sid: process_snapshot(
                            manifest,
                            sid,
                            work / "out" / source.name / f"{sid}.parquet",
                            work / "qc" / source.name / f"{sid}.json",
                            config,
                            raw_root=raw,
                            checksums=sums,
                        ),
                        manifest["snapshot_id"],
                    )
                )
            return manifest.height

        began = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            snapshots = sum(pool.map(one_list, sources))
        wall = time.perf_counter() - began
        log = server.requests.snapshot()
    cdx = [r.time for r in log if "/cdx/" in r.path]
    web = [r.time for r in log if "/web/" in r.path]
    return {
        "wall": wall,
        "snapshots": snapshots,
        "cdx": cdx,
        "web": web,
        "statuses": sorted({r.status for r in log}),
    }


class _MirrorAdapter(HTTPAdapter):
    """Send the peer's archive requests to the mirror; give it back the archive URL."""

    def __init__(self, mirror: str, root: Path, answers: dict[str, bytes]) -> None:
        super().__init__()
        self.mirror, self.root, self.answers = mirror, root, answers

    def send(self, request: requests.PreparedRequest, **kw: Any) -> requests.Response:
        original = request.url or ""
        request.url = mirror_url(original, self.mirror)
        response = super().send(request, **kw)
        response.url = original
        return response


def _text_cdx(rows: list[dict[str, Any]]) -> bytes:
    """The CDX default text output the peer asks for (7 space-separated fields a line)."""
    lines = []
    for c in rows:
        key = "org,spamhaus)/drop/drop.lasso" if c["format"] == "drop" else c["url"]
        lines.append(f"{key} {c['stamp']} {c['url']} text/plain 200 {c['digest']} 1000")
    return ("\n".join(lines) + "\n").encode()


def run_peer(
    root: Path, captures: list[dict[str, Any]], config: dict[str, Any], scale: float
) -> dict[str, Any] | None:
    """The edgi ``wayback`` client: search each list URL, then get every memento in turn."""
    try:
        import wayback
    except ImportError:
        return None
    by_url: dict[str, list[dict[str, Any]]] = {}
    for c in captures:
        by_url.setdefault(c["url"], []).append(c)
    with serve(root) as server:
        # Where the peer's CDX queries land: record its query URLs once, without limits.
        probe = wayback.WaybackSession(search_calls_per_second=0, memento_calls_per_second=0)
        seen: list[str] = []

        class _Probe(HTTPAdapter):
            def send(self, request: requests.PreparedRequest, **kw: Any) -> requests.Response:
                seen.append(request.url or "")
                response = requests.Response()
                response.status_code, response._content = 200, b""
                response.url, response.request = request.url, request
                return response

        probe.mount("https://", _Probe())
        client = wayback.WaybackClient(probe)
        for url in by_url:
            list(
                client.search(
                    url.removeprefix("http://"),
                    from_date=dt.date(2007, 1, 1),
                    to_date=dt.date(2009, 12, 31),
                    filter_field="statuscode:200",
                    collapse="digest",
                )
            )
        for url, query in zip(by_url, seen, strict=True):
            path = root / raw_relpath(query)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_text_cdx(by_url[url]))
        session = wayback.WaybackSession(
            search_calls_per_second=CDX_PER_MINUTE * scale / 60,
            memento_calls_per_second=REPLAYS_PER_MINUTE * scale / 60,
        )
        session.trust_env = False
        adapter = _MirrorAdapter(server.url, root, {})
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        client = wayback.WaybackClient(session)
        server.requests.clear()
        began = time.perf_counter()
        fetched = 0
        for url in by_url:
            records = list(
                client.search(
                    url.removeprefix("http://"),
                    from_date=dt.date(2007, 1, 1),
                    to_date=dt.date(2009, 12, 31),
                    filter_field="statuscode:200",
                    collapse="digest",
                )
            )
            for record in records:
                with client.get_memento(record) as memento:
                    fetched += len(memento.content) > 0
        wall = time.perf_counter() - began
        log = server.requests.snapshot()
    return {
        "wall": wall,
        "snapshots": fetched,
        "cdx": [r.time for r in log if "/cdx/" in r.path],
        "web": [r.time for r in log if "/web/" in r.path],
    }


def python_loop_drop(bodies: Sequence[bytes]) -> int:
    """The obvious DROP parser: one Python iteration and ipaddress object per line."""
    kept = 0
    for body in bodies:
        rows = []
        for line in body.decode().splitlines():
            line = line.strip()
            if not line or line.startswith(";"):
                continue
            prefix, _, ref = line.partition(";")
            net = ipaddress.ip_network(prefix.strip(), strict=False)
            rows.append(
                (
                    str(net),
                    int(net.network_address),
                    int(net.broadcast_address),
                    net.prefixlen,
                    ref.strip() or None,
                )
            )
        kept += len(rows)
    return kept


def parse_all(captures: Sequence[dict[str, Any]]) -> int:
    return sum(parse_blocklist(c["body"], c["format"], c["stamp"]).entries.height for c in captures)


def attribution_rate(captures: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Entries/s of the shared attribution over every parsed entry (real 2008 table)."""
    try:
        from takedowns.prefix2as.attribution import attribute_ranges
    except ImportError:
        return {"attribution": "skipped (takedowns.prefix2as.attribution absent)"}
    source = REALDATA / "routing" / "ipasn_20080501_v12.dat.gz"
    if not source.exists():
        return {"attribution": "skipped (../shared/realdata absent)"}
    with gzip.open(source, "rt") as fh:
        rows = [line.split() for line in fh if line.strip() and not line.startswith(";")]
    table = pl.DataFrame({"prefix": [r[0] for r in rows], "asn": [int(r[1]) for r in rows]})
    parts = table["prefix"].str.split_exact("/", 1)
    episodes = pl.DataFrame(
        {
            "start_ip": [int(ipaddress.IPv4Address(a)) for a in parts.struct.field("field_0")],
            "length": parts.struct.field("field_1").cast(pl.UInt8),
            "origins": table["asn"]
            .cast(pl.UInt32)
            .map_elements(lambda a: [a], return_dtype=pl.List(pl.UInt32)),
            "first_day": dt.date(2008, 1, 1),
            "last_day": dt.date(2008, 12, 31),
        }
    ).with_columns(pl.col("start_ip").cast(pl.UInt32))
    frames = []
    for c in captures:
        parsed = parse_blocklist(c["body"], c["format"], c["stamp"]).entries
        day = dt.datetime.strptime(c["stamp"][:8], "%Y%m%d").date()
        frames.append(parsed.with_columns(day=pl.lit(day)))
    entries = pl.concat(frames)
    seconds, out = best_of(lambda: attribute_ranges(entries, episodes), repeat=3)
    return {
        "attribution_entries": entries.height,
        "attribution_seconds": round(seconds, 3),
        "attribution_entries_per_s": round(entries.height / seconds),
        "attribution_routed_share": round(
            float(out["routed_addresses"].sum() / out["range_addresses"].sum()), 4
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--no-peer", action="store_true")
    args = parser.parse_args()
    config = copy.deepcopy(load_config(REPO_ROOT / "config" / "config.yaml"))
    config["download"]["hosts"] = {
        "web.archive.org/cdx": {"requests_per_minute": CDX_PER_MINUTE * args.scale},
        "web.archive.org/web": {"requests_per_minute": REPLAYS_PER_MINUTE * args.scale},
    }
    numbers: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "mirror"
        captures = build_year(root, config)
        n_cdx = sum(len(s.urls) for s in blocklist_sources(config))
        cdx_iv = 60 / (CDX_PER_MINUTE * args.scale)
        web_iv = 60 / (REPLAYS_PER_MINUTE * args.scale)
        bound = max((n_cdx - 1) * cdx_iv, (len(captures) - 1) * web_iv)
        ours = run_ours(root, config, args.threads, Path(tmp) / "ours")
        numbers.update(
            captures=len(captures),
            cdx_queries=n_cdx,
            cdx_limit_per_min=CDX_PER_MINUTE * args.scale,
            replay_limit_per_min=REPLAYS_PER_MINUTE * args.scale,
            least_time_the_limits_allow_s=round(bound, 2),
            ours_wall_s=round(ours["wall"], 2),
            ours_wall_over_least=round(ours["wall"] / bound, 3),
            ours_cdx_per_min=round(_rates(ours["cdx"]), 1),
            ours_replays_per_min=round(_rates(ours["web"]), 1),
            ours_replay_rate_over_limit=round(
                _rates(ours["web"]) / (REPLAYS_PER_MINUTE * args.scale), 3
            ),
            ours_http_statuses=ours["statuses"],
        )
        assert ours["snapshots"] == len(captures)
        if not args.no_peer:
            peer = run_peer(root, captures, config, args.scale)
            if peer is None:
                numbers["peer"] = "skipped (pip install wayback)"
            else:
                numbers.update(
                    peer="edgi wayback " + __import__("wayback").__version__,
                    peer_wall_s=round(peer["wall"], 2),
                    peer_replays_per_min=round(_rates(peer["web"]), 1),
                    peer_wall_over_ours=round(peer["wall"] / ours["wall"], 3),
                )
    drops = [c["body"] for c in captures if c["format"] == "drop"]
    loop_s, loop_n = best_of(lambda: python_loop_drop(drops), repeat=3)
    ours_s, ours_n = best_of(
        lambda: parse_all([c for c in captures if c["format"] == "drop"]), repeat=3
    )
    assert loop_n == ours_n
    all_s, all_n = best_of(lambda: parse_all(captures), repeat=3)
    numbers.update(
        drop_entries=ours_n,
        parse_drop_entries_per_s=round(ours_n / ours_s),
        python_loop_drop_entries_per_s=round(loop_n / loop_s),
        parse_drop_speed_over_loop=round(loop_s / ours_s, 3),
        parse_all_formats_entries=all_n,
        parse_all_formats_entries_per_s=round(all_n / all_s),
    )
    numbers.update(attribution_rate(captures))
    report("blocklists", numbers)


if __name__ == "__main__":
    main()
