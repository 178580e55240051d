"""analysis/buffer_networks.sql and analysis/displacement_input.sql on a small fixture of
processed tables with known rows (one event, t0 nominal 2008-11-11 22:00 UTC, measured a few
hours later on 2008-11-12), read through the views of analysis/views.sql."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pytest

from takedowns.analysis.duckdb_runner import view_definition
from takedowns.config import REPO_ROOT

ANALYSIS = REPO_ROOT / "analysis"
VIEWS_SQL = ANALYSIS / "views.sql"
UTC = dt.UTC
NOMINAL = dt.datetime(2008, 11, 11, 22, 0, tzinfo=UTC)
MEASURED = dt.datetime(2008, 11, 12, 2, 0, tzinfo=UTC)
LIST = "drop"
# The views the queries read (analysis/views.sql; paths relative to the run directory).
VIEWS = (
    "watched_asns",
    "events",
    "prefix_origin",
    "prefix_origin_asn",
    "routing_elements",
    "blocklist_snapshots",
    "blocklist_attribution",
    "blocklist_attribution_counted",
    "spam_messages_attributed",
    "event_t0",
)

TARGET = 100  # the watched ASN, origin of 10.0.0.0/16 before t0
REHOMED = 200  # announces 10.0.1.0/24 from 2008-11-13
HOLDER = 300  # announces 10.0.2.0/24 before and after t0: no re-homing
AGGREGATE = 999  # a covering /8 throughout: no re-homing
SUCCESSOR = 500  # named a successor by the reference table
NEWLY_LISTED = 600  # listed from the first snapshot after t0
NEW_UPSTREAM = 800  # the upstream of the re-homed /24
OLD_UPSTREAM = 700  # the target's upstream before and after t0


def ip(text: str) -> int:
    a, b, c, d = (int(x) for x in text.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def prefix_row(prefix: str, origins: list[int], first: dt.date, last: dt.date) -> dict:
    net, length = prefix.split("/")
    start = ip(net)
    return {
        "prefix": prefix,
        "start_ip": start,
        "end_ip": start + 2 ** (32 - int(length)) - 1,
        "length": int(length),
        "origins": origins,
        "collector": "rv2",
        "first_day": first,
        "last_day": last,
    }


def route(prefix: str, time: dt.datetime, origin: int, upstream: int) -> dict:
    row = prefix_row(prefix, [origin], time.date(), time.date())
    return {
        "time": time,
        "kind": "rib",
        "start_ip": row["start_ip"],
        "end_ip": row["end_ip"],
        "length": row["length"],
        "origins": [origin],
        "upstream_asn": upstream,
    }


def write(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path)


def d(day: int) -> dt.date:
    return dt.date(2008, 11, day)


def write_fixture(root: Path) -> None:
    """The processed tables under root/data/processed and event_cutoffs.csv."""
    p = root / "data" / "processed"
    event = {"event_id": "ev", "event_name": "Event", "nominal_cutoff": NOMINAL}
    write(
        pl.DataFrame([{**event, "asn": TARGET}], schema_overrides={"asn": pl.UInt32}),
        p / "watched_asns.parquet",
    )
    write(
        pl.DataFrame(
            [{**event, "pre_days": 10, "post_days": [5, 10], "max_post_days": 10}],
            schema_overrides={
                "pre_days": pl.Int32,
                "post_days": pl.List(pl.Int32),
                "max_post_days": pl.Int32,
            },
        ),
        p / "events.parquet",
    )
    u32 = {"start_ip": pl.UInt32, "end_ip": pl.UInt32, "origins": pl.List(pl.UInt32)}
    write(
        pl.DataFrame(
            [
                prefix_row("10.0.0.0/16", [TARGET], dt.date(2008, 10, 1), d(11)),
                prefix_row("10.0.1.0/24", [REHOMED], d(13), d(20)),
                prefix_row("10.0.2.0/24", [HOLDER], dt.date(2008, 10, 5), d(30)),
                prefix_row("10.0.0.0/8", [AGGREGATE], dt.date(2008, 1, 1), d(30)),
            ],
            schema_overrides={**u32, "length": pl.UInt8},
        ),
        p / "prefix_origin.parquet",
    )
    write(
        pl.DataFrame(
            [
                route("10.0.0.0/16", dt.datetime(2008, 11, 5, tzinfo=UTC), TARGET, OLD_UPSTREAM),
                route("10.0.1.0/24", dt.datetime(2008, 11, 14, tzinfo=UTC), REHOMED, NEW_UPSTREAM),
                route("10.0.0.0/16", dt.datetime(2008, 11, 15, tzinfo=UTC), TARGET, OLD_UPSTREAM),
            ],
            schema_overrides={**u32, "length": pl.UInt8, "upstream_asn": pl.UInt32},
        ),
        p / "routing" / "rv2" / "rib.parquet",
    )
    snapshots = [
        ("s1", dt.datetime(2008, 11, 1, 12, tzinfo=UTC), "ok"),
        ("s2", dt.datetime(2008, 11, 13, 6, tzinfo=UTC), "ok"),
        ("s3", dt.datetime(2008, 11, 16, 0, tzinfo=UTC), "missing"),
        ("s4", dt.datetime(2008, 11, 18, 9, tzinfo=UTC), "ok"),
    ]
    write(
        pl.DataFrame(
            [
                {"list": LIST, "snapshot_id": s, "snapshot_time": t, "status": st}
                for s, t, st in snapshots
            ]
        ),
        p / "blocklist_snapshots" / f"{LIST}.parquet",
    )
    times = {s: t for s, t, _ in snapshots}
    listed = [  # (snapshot, entry start, origin, addresses)
        ("s1", "10.0.0.0", TARGET, 256),
        ("s1", "10.0.2.0", HOLDER, 64),
        ("s2", "10.0.2.0", HOLDER, 64),
        ("s2", "20.0.0.0", NEWLY_LISTED, 128),
        ("s2", "30.0.0.0", None, 32),
        ("s4", "10.0.2.0", HOLDER, 64),
        ("s4", "20.0.0.0", NEWLY_LISTED, 128),
    ]
    write(
        pl.DataFrame(
            [
                {
                    "list": LIST,
                    "snapshot_id": s,
                    "snapshot_time": times[s],
                    "start_ip": ip(start),
                    "end_ip": ip(start) + n - 1,
                    "origin_asn": asn,
                    "addresses": n,
                }
                for s, start, asn, n in listed
            ],
            schema_overrides={
                "start_ip": pl.UInt32,
                "end_ip": pl.UInt32,
                "origin_asn": pl.UInt32,
                "addresses": pl.UInt64,
            },
        ),
        p / "blocklist_attribution.parquet",
    )
    messages = [  # (day, relay_status, origins)
        *[(d(5), "ok", [TARGET])] * 3,
        (d(5), "ok", []),  # unrouted
        (d(5), "ok", None),  # unrouted (no origins at all)
        (d(5), "ok", [HOLDER, 400]),  # MOAS: half each
        (d(5), "no_relay_ip", None),  # no relay: not counted
        (d(11), "ok", [TARGET]),  # the nominal t0's day: pre, as the measured t0 is later
        (d(12), "ok", [REHOMED]),  # the day of t0: left out
        *[(d(13), "ok", [SUCCESSOR])] * 2,
        (d(13), "ok", []),
    ]
    write(
        pl.DataFrame(
            [{"day": a, "relay_status": s, "origins": o} for a, s, o in messages],
            schema_overrides={"origins": pl.List(pl.UInt32)},
        ),
        p / "spam_attributed" / "2008.parquet",
    )
    tables = root / "results" / "tables"
    tables.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"event_id": ["ev"], "t0": [MEASURED], "t0_source": ["measured"]}).write_csv(
        tables / "event_cutoffs.csv"
    )


def reference_events() -> pl.DataFrame:
    """The cited reference table's rows for the fixture's event."""
    return pl.DataFrame(
        [
            {"event_id": "ev", "fact": "network", "asn": TARGET, "role": "target"},
            {"event_id": "ev", "fact": "network", "asn": SUCCESSOR, "role": "successor"},
            {"event_id": "other", "fact": "network", "asn": 12345, "role": "successor"},
        ],
        schema_overrides={"asn": pl.UInt32},
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(buffer_networks, displacement_input) on the fixture."""
    root = tmp_path_factory.mktemp("displacement")
    write_fixture(root)
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET VARIABLE concentration_list = '{LIST}'")
    con.register("reference_events", reference_events().to_arrow())
    for name in VIEWS:
        sql = view_definition(VIEWS_SQL, name).replace("'data/", f"'{root}/data/")
        con.execute(sql)
    buffers = con.sql(
        (ANALYSIS / "buffer_networks.sql").read_text().replace("'results/", f"'{root}/results/")
    ).pl()
    buffers.write_csv(root / "results" / "tables" / "buffer_networks.csv")
    query = (
        (ANALYSIS / "displacement_input.sql").read_text().replace("'results/", f"'{root}/results/")
    )
    return buffers, con.sql(query).pl()


def test_every_reason_found(run: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    buffers, _ = run
    got = set(buffers.select("asn", "reason").iter_rows())
    assert got == {
        (SUCCESSOR, "successor"),
        (REHOMED, "rehomed_origin"),
        (NEWLY_LISTED, "newly_listed"),
        (NEW_UPSTREAM, "new_upstream"),
    }
    assert buffers["event_id"].unique().to_list() == ["ev"]
    assert buffers["t0_source"].unique().to_list() == ["measured"]  # event_cutoffs.csv
    first = dict(zip(buffers["reason"], buffers["first_seen"], strict=True))
    assert first["successor"] is None
    assert first["rehomed_origin"] == dt.datetime(2008, 11, 13, tzinfo=UTC)
    assert first["new_upstream"] == dt.datetime(2008, 11, 14, tzinfo=UTC)
    assert first["newly_listed"] == dt.datetime(2008, 11, 13, 6, tzinfo=UTC)


def total(frame: pl.DataFrame, **where: object) -> float:
    rows = frame.filter(*(pl.col(k) == v for k, v in where.items()))
    return float(rows["weight"].sum())


def test_roles(run: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    _, rows = run
    roles = dict(rows.select("owner", "role").unique().iter_rows())
    assert roles == {
        str(TARGET): "target",
        str(SUCCESSOR): "buffer",
        str(NEWLY_LISTED): "buffer",
        str(HOLDER): "control",
        "400": "control",
        "unrouted": "control",
    }
    assert rows.columns == [
        "event_id",
        "measure",
        "post_days",
        "window",
        "day",
        "owner",
        "role",
        "weight",
    ]


def test_spam_sources_unrouted_kept_and_t0_day_left_out(
    run: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    _, rows = run
    spam = rows.filter(pl.col("measure") == "spam_sources", pl.col("post_days") == 5)
    assert total(spam, window="pre", owner=str(TARGET)) == 4
    assert total(spam, window="pre", owner="unrouted") == 2  # empty and null origins
    assert total(spam, window="pre", owner=str(HOLDER)) == 0.5
    assert total(spam, window="pre", owner="400") == 0.5
    assert total(spam, window="post", owner=str(SUCCESSOR)) == 2
    assert total(spam, window="post", owner="unrouted") == 1
    # the measured t0 (2008-11-12) is used, and its day left out
    assert d(12) not in spam["day"].to_list()
    assert spam.filter(pl.col("window") == "pre")["day"].max() == d(11)


def test_blocklist_versions_weighted_by_days_in_force(
    run: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    _, rows = run
    listed = rows.filter(pl.col("measure") == "blocklisted_space")
    # s1 (2008-11-01) is in force on the 10 pre days 11-02 .. 11-11 (11-12 is t0's day)
    target = listed.filter(pl.col("owner") == str(TARGET), pl.col("post_days") == 10)
    assert target["day"].to_list() == [d(x) for x in range(2, 12)]
    assert total(target) == 10 * 256
    # post, 10 days (11-13 .. 11-21): s2 on 11-13 .. 11-17 (s3 is missing), s4 from 11-18
    long = listed.filter(pl.col("post_days") == 10, pl.col("window") == "post")
    assert total(long, owner=str(HOLDER)) == 9 * 64
    assert total(long, owner=str(NEWLY_LISTED)) == 9 * 128
    assert total(long, owner="unrouted") == 5 * 32
    # post, 5 days (11-13 .. 11-16): s2 only
    short = listed.filter(pl.col("post_days") == 5, pl.col("window") == "post")
    assert total(short, owner=str(NEWLY_LISTED)) == 4 * 128
    assert total(listed, window="pre", owner=str(HOLDER), post_days=5) == 10 * 64
