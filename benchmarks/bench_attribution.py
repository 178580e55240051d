"""IP -> origin AS attribution: takedowns.prefix2as.attribution vs pyasn, same table, same
addresses.

The table is the real route-views2 table of 2008-05-01 (270,849 prefixes, pyasn's own text
format) from ``../shared/realdata/routing/ipasn_20080501_v12.dat.gz``; pyasn builds its
radix tree from the same file. 1,000,000 random addresses (a fixed seed), one day.

* ours: ``attribute_addresses`` on a polars frame (ip UInt32, day Date) -> matched_prefix and
  origins for every row, all at once; index build timed separately (it is built once per
  episodes table and reused);
* pyasn: ``asndb.lookup(address)`` per address, the way it is used (its DB load is not timed).

Needs ``pip install pyasn`` (benchmark only; not a dependency of the package).
Run: ``.venv/bin/python -m benchmarks.bench_attribution [--addresses 1000000]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import ipaddress
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from takedowns.ipv4 import address_to_int, int_to_address, prefix_end
from takedowns.prefix2as.attribution import attribute_addresses, origin_index

TABLE = Path(__file__).resolve().parents[2] / "shared/realdata/routing/ipasn_20080501_v12.dat.gz"
DAY = dt.date(2008, 5, 1)


def episodes_from_ipasn(path: Path) -> pl.DataFrame:
    """The pyasn text table as a one-day prefix_origin episodes frame."""
    with gzip.open(path, "rt") as fh:
        rows = [ln.rstrip("\n").split("\t") for ln in fh if ln.strip() and not ln.startswith(";")]
    parts = pl.col("prefix").str.split("/")
    return (
        pl.DataFrame({"prefix": [r[0] for r in rows], "asn": [int(r[1]) for r in rows]})
        .with_columns(
            start_ip=address_to_int(parts.list.get(0)), length=parts.list.get(1).cast(pl.UInt8)
        )
        .with_columns(
            end_ip=prefix_end(pl.col("start_ip"), pl.col("length")),
            origins=pl.concat_list(pl.col("asn").cast(pl.UInt32)),
            first_day=pl.lit(DAY),
            last_day=pl.lit(DAY),
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addresses", type=int, default=1_000_000)
    parser.add_argument("--table", type=Path, default=TABLE)
    args = parser.parse_args(argv)
    if not args.table.exists():
        print(f"skipped: {args.table} is absent")
        return 0
    episodes = episodes_from_ipasn(args.table)
    rng = np.random.default_rng(2008)
    ips = rng.integers(0, 2**32, args.addresses, dtype=np.uint64).astype(np.uint32)
    frame = pl.DataFrame({"ip": ips, "day": pl.repeat(DAY, len(ips), eager=True)})
    texts = frame.select(int_to_address(pl.col("ip")))["ip"].to_list()

    t = time.perf_counter()
    index = origin_index(episodes)
    t_build = time.perf_counter() - t
    attribute_addresses(frame.head(1000), episodes, index=index)  # warm-up
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        ours = attribute_addresses(frame, episodes, index=index)
        runs.append(time.perf_counter() - t)
    t_ours = min(runs)
    print(f"table: {episodes.height:,} prefixes; addresses: {len(ips):,}")
    print(f"takedowns index build : {t_build:7.3f} s (once per episodes table)")
    print(f"takedowns lookup      : {t_ours:7.3f} s  {len(ips) / t_ours:14,.0f} addresses/s")
    try:
        import pyasn
    except ImportError:
        print("pyasn is not installed (pip install pyasn): no ratio")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        dat = Path(tmp) / "ipasn.dat"
        dat.write_bytes(gzip.decompress(args.table.read_bytes()))
        db = pyasn.pyasn(str(dat))
    t = time.perf_counter()
    theirs = [db.lookup(a) for a in texts]
    t_pyasn = time.perf_counter() - t
    print(f"pyasn lookup          : {t_pyasn:7.3f} s  {len(ips) / t_pyasn:14,.0f} addresses/s")
    print(f"ratio (lookup)        : {t_pyasn / t_ours:7.1f}x")
    print(f"ratio (incl. build)   : {t_pyasn / (t_ours + t_build):7.1f}x")
    sample = rng.choice(len(ips), 20_000, replace=False)
    prefixes = ours["matched_prefix"].to_list()
    origins = ours["origins"].to_list()
    agree = sum(
        1
        for i in sample
        if (theirs[i][1], [theirs[i][0]] if theirs[i][0] else []) == (prefixes[i], origins[i])
    )
    print(f"agreement with pyasn  : {agree:,} of {len(sample):,} sampled addresses")
    _ = ipaddress  # (pyasn returns text prefixes; compared as text)
    return 0 if agree == len(sample) else 1


if __name__ == "__main__":
    sys.exit(main())
