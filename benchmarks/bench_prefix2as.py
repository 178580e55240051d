"""Prefix-to-AS benchmarks.

1. Normalizing one real-sized daily table: the real 2008-05-01 route-views2 table
   (../shared/realdata/routing/ipasn_20080501_v12.dat.gz, 270,849 prefixes) rewritten in
   pfx2as format, parsed by takedowns.prefix2as.caida vs a plain Python line loop with ``ipaddress``
   (the obvious implementation): rows/s and the ratio.
2. A generated three-year run: 1,096 daily tables of that size folded into episodes.
3. "Which origin AS held IP x on day d" in DuckDB over the three years of episodes: median
   latency of the ``origin_of`` macro of analysis/views.sql (aim: below 50 ms).

Usage: python -m benchmarks.bench_prefix2as [--days 1096] [--churn 0.002]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import ipaddress
import random
import tempfile
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from benchmarks._common import REALDATA, best_of, median_ms, report
from takedowns.prefix2as.caida import build_episodes, read_daily_table
from takedowns.tables import write_parquet


def real_table_as_pfx2as(out: Path) -> tuple[Path, int]:
    """Rewrite the real pyasn table as a CAIDA pfx2as daily file (in a temp dir only)."""
    src = REALDATA / "routing" / "ipasn_20080501_v12.dat.gz"
    rows = []
    with gzip.open(src, "rt") as fh:
        for line in fh:
            if line.startswith(";"):
                continue
            prefix, asn = line.rstrip("\n").split("\t")
            addr, length = prefix.split("/")
            rows.append(f"{addr}\t{length}\t{asn}\n")
    path = out / "routeviews-rv2-20080501-0644.pfx2as.gz"
    path.write_bytes(gzip.compress("".join(rows).encode(), compresslevel=6))
    return path, len(rows)


def python_loop_parse(path: Path) -> int:
    """The obvious implementation: one Python iteration and ipaddress object per line."""
    kept = 0
    with gzip.open(path, "rt") as fh:
        for line in fh:
            addr, length, origins = line.rstrip("\n").split("\t")
            net = ipaddress.IPv4Network(f"{addr}/{length}")
            _ = (
                int(net.network_address),
                int(net.broadcast_address),
                [int(a) for part in origins.split("_") for a in part.split(",")],
            )
            kept += 1
    return kept


def three_year_run(daily: pl.DataFrame, days: int, churn: float, work: Path) -> dict:
    """Write ``days`` daily tables with ``churn`` of origins changing per day; fold them."""
    rng = np.random.default_rng(2008)
    start = dt.date(2007, 1, 1)
    paths = []
    origins = daily["origins"]
    for i in range(days):
        day = start + dt.timedelta(days=i)
        changed = rng.random(daily.height) < churn
        new = pl.Series("new", rng.integers(1, 60000, daily.height), dtype=pl.UInt32)
        frame = daily.with_columns(
            day=pl.lit(day),
            snapshot_time=pl.lit(dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC)),
            origins=pl.when(pl.Series(changed))
            .then(pl.concat_list(pl.lit(new)))
            .otherwise(origins),
        ).with_columns(
            origin_text=pl.col("origins").list.eval(pl.element().cast(pl.String)).list.join("_")
        )
        path = work / f"{day}.parquet"
        write_parquet(frame, path)
        paths.append(path)
    out = work / "prefix_origin.parquet"
    seconds, rows = best_of(lambda: build_episodes(paths, out, max_gap_days=3), repeat=1)
    return {"days": days, "episodes": rows, "fold_seconds": round(seconds, 1), "out": out}


def lookup_latency(episodes: Path, daily: pl.DataFrame, samples: int = 200) -> float:
    con = duckdb.connect()
    con.execute(f"CREATE VIEW prefix_origin AS SELECT * FROM read_parquet('{episodes}')")
    con.execute(
        "CREATE MACRO origin_of(ip, d) AS TABLE SELECT prefix, origins, first_day, last_day "
        "FROM prefix_origin WHERE start_ip <= ip AND end_ip >= ip "
        "AND d BETWEEN first_day AND last_day ORDER BY length DESC"
    )
    rng = random.Random(1)
    starts = daily["start_ip"].to_list()
    probes = [
        (rng.choice(starts) + 1, dt.date(2007, 1, 1) + dt.timedelta(days=rng.randrange(1096)))
        for _ in range(samples)
    ]
    it = iter(probes)
    return median_ms(
        lambda: con.execute("SELECT * FROM origin_of(?, ?)", next(it)).fetchall(), repeat=samples
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=1096)
    parser.add_argument("--churn", type=float, default=0.002)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        path, n = real_table_as_pfx2as(work)
        ours, (daily, qc) = best_of(lambda: read_daily_table(path, path.name))
        peer, kept = best_of(lambda: python_loop_parse(path), repeat=1)
        assert qc.records_kept == kept == n
        numbers = {
            "prefixes in the real 2008-05-01 table": n,
            "takedowns rows/s": round(n / ours),
            "python loop + ipaddress rows/s": round(n / peer),
            "ratio (takedowns / python loop)": round(peer / ours, 1),
        }
        run = three_year_run(daily.drop("day", "snapshot_time"), args.days, args.churn, work)
        numbers.update(
            {
                "daily tables folded": run["days"],
                "episodes": run["episodes"],
                "fold time (s)": run["fold_seconds"],
                "origin_of(ip, day) median latency (ms)": round(
                    lookup_latency(run["out"], daily), 2
                ),
            }
        )
    report("prefix2as", numbers)


if __name__ == "__main__":
    main()
