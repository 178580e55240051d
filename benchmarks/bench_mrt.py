"""MRT normalization (takedowns.routing.mrt) against ``bgpdump -m > /dev/null`` on the same files.

1. The real files in ../shared/realdata/routing (two RIS update files, the truncated
   route-views2 RIB slice), each as the workflow runs it: the whole job process
   (``python -m takedowns.routing.mrt ... --checksums ... --config-json ...``, start-up included,
   peak RSS by GNU time) and :func:`normalize_mrt` in-process, both with the study's watch
   (the configured ASNs and their published prefixes: the workflow's mode) and with
   ``routing.keep_all`` (every element to Parquet); elements/s, compressed MiB/s and the
   time ratio ours/bgpdump.
2. The fixed cost of one job: the whole process on an empty update file (interpreter,
   imports, checksum, watch, empty outputs), and how long the imports before the first
   read of the raw file take (``-X importtime``).
3. Generated RouteViews-like update files of ``--update-elements`` elements (default 20,000,
   100,000 and 400,000; the projections below take a 15-minute route-views2 file to be
   1.5 MiB, about 200,000 elements at the real RIS file's 7.4 bytes per element), the same
   comparison; and the floor of any such Python job: a process that
   only imports numpy and pyarrow.parquet, against bgpdump on each real file.
4. A generated RIS-like TABLE_DUMP_V2 RIB (``bview``, ``--bview-prefixes`` prefixes seen by
   12 peers, gzip), the same comparison.
5. A generated route-views2-like RIB (MRT TABLE_DUMP v1, bzip2) of ``--entries`` entries
   (default 1,000,000): the same comparison, and the peak memory of a normalization of that
   file and of one twice its size (bounded memory: it must not grow with the file).
6. Projections for the real study (stated assumptions): files, download volume and CPU time
   of the ``core`` and ``full`` profiles, from the measured throughput.

Times are the best of ``--repeat`` runs (other work may share the machine).

Usage: python -m benchmarks.bench_mrt [--entries 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import bz2
import datetime as dt
import gzip
import ipaddress
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import REALDATA, REPO, report
from takedowns.config import load_config, pruned_config
from takedowns.routing.listings import rib_days, update_windows
from takedowns.routing.mrt import _EMPTY_PREFIX_ORIGIN, Watch, normalize_mrt, prefix_range
from takedowns.study import events
from takedowns.synthetic import mrt_writer as mw
from takedowns.synthetic.generate import published_prefixes

BGPDUMP = shutil.which("bgpdump")
REAL = ("updates.20071015.1505.gz", "updates.20070211.0141.gz", "rib.20080501.0644_firstMB.bz2")
#: The real RIB slice: 1 MiB of bzip2 holds 139,291 entries of a 270,849-prefix table.
ENTRIES_PER_MIB = 139_291
FULL_TABLE_ENTRIES = round(270_849 * 139_291 / 3_507)  # prefixes x entries per prefix


def study_watch() -> Watch:
    config = load_config()
    asns, prefixes = set(), []
    for event in events(config):
        asns.update(event.asns)
        for listed in published_prefixes(event.event_id, event.asns).values():
            prefixes += listed
    return Watch.build(asns, prefixes=prefixes)


def timed(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bgpdump_run(path: Path) -> None:
    with open("/dev/null", "wb") as sink:
        subprocess.run([BGPDUMP, "-q", "-m", str(path)], stdout=sink, check=True)


def bgpdump_lines(path: Path) -> int:
    out = subprocess.run([BGPDUMP, "-q", "-m", str(path)], capture_output=True, check=True)
    return out.stdout.count(b"\n")


def compare(path: Path, out: Path, watch: Watch, repeat: int) -> dict[str, object]:
    """Times of bgpdump and of normalize_mrt (watched and keep_all) on one file."""

    def ours(**kw: object) -> None:
        normalize_mrt(path, out, collector="bench", allow_partial=True, **kw)  # type: ignore[arg-type]

    qc = normalize_mrt(path, out, collector="bench", keep_all=True, allow_partial=True)
    elements = qc.records_kept + qc.skipped.get("elements_ipv6", 0)
    t_watch = timed(lambda: ours(watch=watch), repeat)
    t_all = timed(lambda: ours(keep_all=True), repeat)
    row: dict[str, object] = {
        "elements": elements,
        "takedowns watched elements/s": round(elements / t_watch),
        "takedowns keep_all elements/s": round(elements / t_all),
    }
    if BGPDUMP:
        assert bgpdump_lines(path) == elements, path
        t_dump = timed(lambda: bgpdump_run(path), repeat)
        row["bgpdump -m elements/s"] = round(elements / t_dump)
        row["ratio watched/bgpdump (time)"] = round(t_watch / t_dump, 2)
        row["ratio keep_all/bgpdump (time)"] = round(t_all / t_dump, 2)
    return row


class Job:
    """A workflow-like directory (data/raw with SHA256SUMS, prefix_origin.parquet, the job's
    config) for running ``python -m takedowns.routing.mrt`` as the routing_normalize rule does."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.raw = root / "data" / "raw" / "bench"
        self.raw.mkdir(parents=True)
        config = load_config()
        rows = []
        for event in events(config):
            for asn, listed in published_prefixes(event.event_id, event.asns).items():
                for prefix in listed:
                    start, end = prefix_range(prefix)
                    rows.append(
                        {
                            "start_ip": start,
                            "end_ip": end,
                            "origins": [int(asn)],
                            "first_day": dt.date(2000, 1, 1),
                            "last_day": dt.date(2030, 1, 1),
                        }
                    )
        import polars as pl

        pl.DataFrame(rows, schema=_EMPTY_PREFIX_ORIGIN.schema).write_parquet(
            root / "prefix_origin.parquet"
        )
        keys = ["events", "windows", "routing.keep_all", "qc", "synthetic"]
        self.configs = {}
        for keep_all in (False, True):
            pruned = pruned_config(config, keys)
            pruned["routing"]["keep_all"] = keep_all
            pruned["qc"]["allow_partial_files"] = True  # the real RIB slice is truncated
            self.configs[keep_all] = json.dumps(pruned, default=str)

    def add(self, path: Path) -> Path:
        """Copy ``path`` into data/raw and record its sha256."""
        target = self.raw / path.name
        shutil.copyfile(path, target)
        digest = subprocess.run(
            ["sha256sum", f"bench/{path.name}"],
            cwd=self.root / "data" / "raw",
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        with open(self.root / "data" / "raw" / "SHA256SUMS", "a") as sums:
            sums.write(digest)
        return target

    def command(self, raw: Path, keep_all: bool) -> list[str]:
        out = self.root / "out"
        return [
            sys.executable, "-m", "takedowns.routing.mrt", str(raw),
            "--out", str(out / "t.parquet"), "--peers", str(out / "p.parquet"),
            "--qc", str(out / "q.json"), "--collector", "bench",
            "--source-file", f"bench/{raw.name}",
            "--prefix-origin", str(self.root / "prefix_origin.parquet"),
            "--checksums", str(self.root / "data" / "raw" / "SHA256SUMS"),
            "--config-json", self.configs[keep_all], "--log", str(out / "log.txt"),
        ]  # fmt: skip

    def run(self, raw: Path, keep_all: bool, repeat: int) -> tuple[float, int]:
        """Best wall time of the whole job process, and its peak RSS (KiB)."""
        best, rss = float("inf"), 0
        env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
        for _ in range(repeat):
            start = time.perf_counter()
            res = subprocess.run(
                ["/usr/bin/time", "-f", "%M", *self.command(raw, keep_all)],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            best = min(best, time.perf_counter() - start)
            rss = max(rss, int(res.stderr.strip().splitlines()[-1]))
        return best, rss

    def startup_imports(self, raw: Path) -> float:
        """Seconds of imports of a job, from ``-X importtime`` (top-level modules)."""
        env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
        cmd = self.command(raw, False)
        res = subprocess.run(
            [cmd[0], "-X", "importtime", *cmd[1:]],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        total = 0
        for line in res.stderr.splitlines():
            if line.startswith("import time:") and "|" in line:
                _, cumulative, name = line.split("|")
                if cumulative.strip().isdigit() and not name.startswith("  "):
                    total += int(cumulative)
        return total / 1e6

    def time_to_read(self, raw: Path, keep_all: bool) -> float:
        """Seconds from the start of the job process to its first read of the raw file's
        contents (the walk's first decompressed chunk), in-process serial walk."""
        probe = (
            "import sys, time, runpy\n"
            "import takedowns.routing.walk as w\n"
            "chunks = w.decompressed_chunks\n"
            "def first(*a, **k):\n"
            "    sys.stderr.write(f'READ {time.time()}\\n'); sys.stderr.flush()\n"
            "    w.decompressed_chunks = chunks\n"
            "    return chunks(*a, **k)\n"
            "w.decompressed_chunks = first\n"
            "sys.argv = ['takedowns.routing.mrt', *sys.argv[1:]]\n"
            "runpy.run_module('takedowns.routing.mrt', run_name='__main__')\n"
        )
        env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
        cmd = self.command(raw, keep_all)
        start = time.time()
        res = subprocess.run(
            [cmd[0], "-c", probe, *cmd[3:]], capture_output=True, text=True, env=env, check=False
        )
        stamps = [float(x.split()[1]) for x in res.stderr.splitlines() if x.startswith("READ ")]
        return stamps[0] - start if stamps else float("nan")


def whole_process(job: Job, path: Path, elements: int, repeat: int) -> dict[str, object]:
    """The job as the workflow runs it, watched and keep_all, against bgpdump."""
    raw = job.add(path)
    mib = path.stat().st_size / 2**20
    row: dict[str, object] = {}
    t_dump = timed(lambda: bgpdump_run(path), repeat) if BGPDUMP else None
    for keep_all, mode in ((False, "watched"), (True, "keep_all")):
        seconds, rss = job.run(raw, keep_all, repeat)
        row[f"process {mode} s"] = round(seconds, 3)
        row[f"process {mode} elements/s"] = round(elements / seconds)
        row[f"process {mode} compressed MiB/s"] = round(mib / seconds, 2)
        row[f"process {mode} peak RSS MiB"] = round(rss / 1024)
        if t_dump:
            row[f"process ratio {mode}/bgpdump (time)"] = round(seconds / t_dump, 2)
    if t_dump:
        row["bgpdump -m s"] = round(t_dump, 3)
    return row


def generated_rib(path: Path, entries: int, peers: int = 40) -> int:
    """A TABLE_DUMP v1 RIB, bzip2: ``entries // peers`` prefixes seen by ``peers`` peers,
    each through one of a few transit ASes (paths of three ASes, as in 2008 tables)."""
    rng = random.Random(2008)
    peer_asns = (174, 701, 1239, 2914, 3356, 3549, 6939, 7018, 1299, 3257)
    peer_list = [(f"203.0.113.{i + 1}", peer_asns[i % len(peer_asns)]) for i in range(peers)]
    packed = {ip: ipaddress.IPv4Address(ip).packed for ip, _ in peer_list}
    transits = (174, 701, 1239, 2914, 3257, 3356, 6453, 6762)
    attrs_cache: dict[tuple[str, int, int], bytes] = {}
    ts = 1226390400
    compressor = bz2.BZ2Compressor(9)
    chunks: list[bytes] = []
    seq = 0
    net = int(ipaddress.IPv4Address("12.0.0.0"))
    with open(path, "wb") as fh:
        for _ in range(entries // peers):
            length = rng.choice((16, 19, 20, 22, 23, 24, 24, 24))
            size = 1 << (32 - length)
            net = (net + size - 1) // size * size
            origin = rng.randrange(1000, 60000)
            for ip, asn in peer_list:
                transit = transits[(origin + asn) % len(transits)]
                key = (ip, transit, origin)
                attrs = attrs_cache.get(key)
                if attrs is None:
                    attrs = mw.path_attributes(f"{asn} {transit} {origin}", ip, four_byte=False)
                    attrs_cache[key] = attrs
                body = (
                    struct.pack(
                        ">HHIBBI4sHH",
                        0,
                        seq & 0xFFFF,
                        net,
                        length,
                        1,
                        ts,
                        packed[ip],
                        asn,
                        len(attrs),
                    )
                    + attrs
                )
                chunks.append(struct.pack(">IHHI", ts, 12, 1, len(body)) + body)
                seq += 1
            net += size
            if len(chunks) > 50_000:
                fh.write(compressor.compress(b"".join(chunks)))
                chunks.clear()
        fh.write(compressor.compress(b"".join(chunks)) + compressor.flush())
    return seq


def generated_updates(path: Path, elements: int, peers: int = 40) -> int:
    """A RouteViews-like update file (BGP4MP MESSAGE records of 2-byte sessions, gzip) of
    about ``elements`` elements: announcements and withdrawals of 1-4 prefixes each, and
    one record in a hundred carrying AS4_PATH (a 4-byte origin), which the parser reads."""
    rng = random.Random(2009)
    peer_asns = (174, 701, 1239, 2914, 3356, 3549, 6939, 7018, 1299, 3257)
    peer_list = [(f"203.0.113.{i + 1}", peer_asns[i % len(peer_asns)]) for i in range(peers)]
    transits = (174, 701, 1239, 2914, 3257, 3356, 6453, 6762)
    ts = 1226440800
    records, count = [], 0
    while count < elements:
        ip, asn = rng.choice(peer_list)
        n = rng.randint(1, 4)
        prefixes = [
            f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.0/24"
            for _ in range(n)
        ]
        if rng.random() < 0.1:
            records.append(mw.withdraw(ts, ip, asn, prefixes, as4=False))
        else:
            origin = 196613 if rng.random() < 0.01 else rng.randrange(1000, 60000)
            as_path = f"{asn} {rng.choice(transits)} {origin}"
            records.append(mw.announce(ts, ip, asn, prefixes, as_path, as4=False))
        count += n
        ts += rng.random() < 0.05
    path.write_bytes(gzip.compress(b"".join(records), 6))
    return count


def generated_bview(path: Path, prefixes: int, peers: int = 12) -> int:
    """A RIS-like TABLE_DUMP_V2 RIB (gzip): a PEER_INDEX_TABLE, then ``prefixes``
    RIB_IPV4_UNICAST records with one entry per peer (4-byte paths of three ASes)."""
    rng = random.Random(2008)
    peer_asns = (3549, 174, 701, 6939, 3356, 1299, 3257, 2914)
    peer_list = [mw.Peer(f"203.0.113.{i + 1}", peer_asns[i % len(peer_asns)]) for i in range(peers)]
    transits = (174, 701, 1239, 2914, 3257, 3356, 6453, 6762)
    records = [mw.peer_index_table(1226390400, peer_list)]
    for i in range(prefixes):
        origin = rng.randrange(1000, 60000)
        entries = [
            mw.RibEntry(k, f"{peer.asn} {transits[(origin + k) % len(transits)]} {origin}", peer.ip)
            for k, peer in enumerate(peer_list)
        ]
        prefix = f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.0/24"
        records.append(mw.rib_ipv4_unicast(1226390400, i, prefix, entries))
    path.write_bytes(gzip.compress(b"".join(records), 6))
    return prefixes * peers


def interpreter_floor(repeat: int) -> float:
    """Seconds for a Python process that only imports what writing Parquet needs (numpy and
    pyarrow.parquet): the least any Python job of this kind can take."""
    return timed(
        lambda: subprocess.run([sys.executable, "-c", "import numpy, pyarrow.parquet"], check=True),
        repeat,
    )


def peak_rss_kib(path: Path, out: Path, watch: Watch) -> int:
    """Peak RSS (KiB) of a normalization run in a fresh interpreter (GNU time)."""
    code = (
        "from pathlib import Path; from takedowns.routing.mrt import Watch, normalize_mrt; "
        f"normalize_mrt(Path({str(path)!r}), Path({str(out)!r}), collector='bench', "
        f"watch=Watch.build({sorted(watch.asns)!r}, ranges={list(watch.ranges)!r}))"
    )
    res = subprocess.run(
        ["/usr/bin/time", "-f", "%M", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(res.stderr.strip().splitlines()[-1])


def projections(per_entry_seconds: float) -> dict[str, object]:
    """Files, download volume and CPU time of the real study per profile (assumptions in
    the keys: a full route-views2 table of 2008, RIS rrc00 dumps of the same size)."""
    out: dict[str, object] = {
        "assumptions": (
            f"a RIB holds {FULL_TABLE_ENTRIES:,} entries (270,849 prefixes x the real slice's "
            f"entries per prefix) at {ENTRIES_PER_MIB:,} entries/MiB (the real slice); RIS "
            "rrc00 dumps as large; update files 1.5 MiB (RouteViews, 15 min) and 80 KiB (RIS, "
            "5 min); CPU at the measured watched rate on the generated RIB"
        )
    }
    for profile in ("core", "full"):
        config = load_config(overrides={"profile": profile})
        days = len(rib_days(config))
        collectors = 1 + len(config["sources"]["ripe_ris"]["collectors"])
        ribs = days * collectors
        hours = sum((e - s).total_seconds() / 3600 for _, s, e in update_windows(config))
        updates = round(hours * 4 + hours * 12 * (collectors - 1))
        rib_gib = ribs * FULL_TABLE_ENTRIES / ENTRIES_PER_MIB / 1024
        upd_gib = (hours * 4 * 1.5 + hours * 12 * (collectors - 1) * 0.08) / 1024  # MiB/file
        cpu_h = ribs * FULL_TABLE_ENTRIES * per_entry_seconds / 3600
        out[f"{profile}: RIB dumps ({days} days x {collectors} collectors)"] = ribs
        out[f"{profile}: update files (±6 h per event)"] = updates
        out[f"{profile}: download GiB"] = round(rib_gib + upd_gib, 1)
        out[f"{profile}: normalize CPU hours (watched, measured rate)"] = round(cpu_h, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--update-elements", type=int, nargs="*", default=[20_000, 100_000, 400_000]
    )
    parser.add_argument("--bview-prefixes", type=int, default=50_000)
    args = parser.parse_args()
    watch = study_watch()
    numbers: dict[str, object] = {"bgpdump": BGPDUMP or "not installed (ratios skipped)"}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        job = Job(work / "job")
        empty = work / "updates.20081111.2200.gz"
        empty.write_bytes(gzip.compress(b""))
        raw_empty = job.add(empty)
        fixed, fixed_rss = job.run(raw_empty, False, args.repeat + 2)
        numbers["job fixed cost s (whole process, empty update file)"] = round(fixed, 3)
        numbers["job fixed cost peak RSS MiB"] = round(fixed_rss / 1024)
        numbers["job start-up s (process start to the first read of the raw file)"] = round(
            min(job.time_to_read(raw_empty, False) for _ in range(args.repeat + 2)), 3
        )
        numbers["job imports s (all imports of a job, -X importtime)"] = round(
            min(job.startup_imports(raw_empty) for _ in range(args.repeat)), 3
        )
        floor = interpreter_floor(args.repeat + 2)
        numbers["python + numpy + pyarrow.parquet imports, whole process s"] = round(floor, 3)
        if (REALDATA / "routing").is_dir():
            for name in REAL:
                path = REALDATA / "routing" / name
                row = compare(path, work / "out.parquet", watch, args.repeat)
                row.update(whole_process(job, path, int(row["elements"]), args.repeat))  # type: ignore[call-overload]
                row["compressed MiB"] = round(path.stat().st_size / 2**20, 3)
                if "bgpdump -m s" in row:
                    row["floor ratio (imports alone / bgpdump)"] = round(
                        floor / float(row["bgpdump -m s"]),
                        2,  # type: ignore[arg-type]
                    )
                numbers.update({f"{name}: {k}": v for k, v in row.items()})
        for hour, size in enumerate(args.update_elements):
            updates = work / f"updates.20081111.{hour:02d}00.gz"
            elements = generated_updates(updates, size)
            row = compare(updates, work / "out.parquet", watch, args.repeat)
            row.update(whole_process(job, updates, elements, args.repeat))
            row["gzip MiB"] = round(updates.stat().st_size / 2**20, 2)
            numbers.update({f"generated updates {elements}: {k}": v for k, v in row.items()})
        bview = work / "bview.20081111.0800.gz"
        elements = generated_bview(bview, args.bview_prefixes)
        row = compare(bview, work / "out.parquet", watch, args.repeat)
        row.update(whole_process(job, bview, elements, args.repeat))
        row["gzip MiB"] = round(bview.stat().st_size / 2**20, 2)
        numbers.update({f"generated bview (TABLE_DUMP_V2): {k}": v for k, v in row.items()})
        big = work / "rib.20081111.0800.bz2"
        entries = generated_rib(big, args.entries)
        repeat = max(1, args.repeat - 1)
        row = compare(big, work / "out.parquet", watch, repeat)
        row.update(whole_process(job, big, entries, repeat))
        numbers.update({f"generated RIB: {k}": v for k, v in row.items()})
        numbers["generated RIB: bzip2 MiB"] = round(big.stat().st_size / 2**20, 1)
        double = work / "rib.20081112.0800.bz2"
        generated_rib(double, 2 * entries)
        numbers["generated RIB x2: bzip2 MiB"] = round(double.stat().st_size / 2**20, 1)
        numbers["peak RSS MiB, watched, all entries"] = round(
            peak_rss_kib(big, work / "b.parquet", watch) / 1024
        )
        numbers["peak RSS MiB, watched, twice the entries"] = round(
            peak_rss_kib(double, work / "d.parquet", watch) / 1024
        )
        per_entry = entries / float(row["takedowns watched elements/s"])  # type: ignore[arg-type]
        numbers.update(projections(per_entry / entries))
    report("mrt", numbers)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
