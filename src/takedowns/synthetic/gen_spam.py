"""SYNTHETIC spam-trap archives for the loopback mirror, with a planted volume drop.

:func:`generate_spam` writes one real 7z archive per year touched by the scenario's days at
``<root>/untroubled.org/spam/YYYY.7z`` (the URL from ``config.sources.untroubled.url``),
members ``YYYY/MM/<epoch>.<pid>_<n>.<txt|lorien>`` in the trap's real header grammar (the
2005 form ``from HELO (rDNS|unknown [ip])`` by ``zak.futurequest.net`` and the 2010 form
``from HELO ([ip])`` by ``mxNN.futurequest.net``; CRLF and LF line endings).

What is planted (all of it returned in :class:`SpamTruth`):

* the trap receives mail on every day from the scenario's first day to its last
  (:func:`trap_days`), not only on the days whose routing tables the profile downloads;
* relays are addresses inside the scenario's announced prefixes, so attribution finds
  their origin AS; the expected origins of every message are computed independently here
  with :mod:`ipaddress` from the exact prefix-to-AS lines the mirror serves that day;
* per event, a "botnet" group of background networks sends a share of the daily volume
  until the event's cut-off and a small remainder after it, so the daily count drops by a
  known fraction at the cut-off (config ``scenario.<event>.botnet_weight`` and
  ``botnet_remaining``: the share of the base volume the group sends, and the share of that
  left after the cut-off) and the mix of sending networks
  changes (the group's share falls); a few messages per day come from the event's own
  prefixes before the cut-off, and from the moved prefix (its new origin) after the move;
* with a planted displacement (``scenario.events[e].displacement``), the target sends
  ``target_spam_per_day`` messages a day before its cut-off, and each gaining network
  ``spam_per_day`` from its own prefixes after it (pro rata on the cut-off day); the
  messages written per gaining ASN are ``SpamEventTruth.gained``;
* with ``realistic=True`` (``make demo``) the daily volume is not flat: every group's daily
  count is multiplied (and rounded) by that day's factor in ``SpamTruth.day_factor``, drawn
  by :func:`day_factors` with :func:`takedowns.analysis.simulate.simulate_daily_counts` (weekly
  seasonality, an AR(1) drift of log-volume, campaign bursts and negative-binomial
  noise, no planted effect and no outages; the factors average 1 over the scenario's days).
  ``planted_drop`` and the shares stay the expected values before the factors;
* a few bad members each day-set: no Received header, an IPv6 relay, a private relay,
  a Received header from another host; they are kept with a reason by the parser.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import random
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import py7zr

from takedowns.analysis.simulate import SeriesModel, simulate_daily_counts
from takedowns.paths import raw_relpath
from takedowns.synthetic.scenario import Scenario, churned_origin

BASE_WEIGHT = 0.3  # networks that are in no event's botnet group
BOTNET_NETWORKS = 3
TARGET_PER_DAY = 2  # messages from an event's own prefixes before its cut-off
MOVED_PER_DAY = 1  # messages from the moved prefix after the move
#: The day-factor model of the demo's spam: the generator's own realistic defaults (weekly
#: seasonality, AR(1) drift of log-volume, campaign bursts, negative-binomial noise of about
#: 1/sqrt(dispersion) a day), with a large mean, rho 0.5, no planted effect and no outages
#: (the planted drops come from the event groups).
VOLUME_MODEL = {
    "mean": 1e6,
    "rho": 0.5,
    "outage_rate": 0.0,
    "level_effect": 0.0,
    "slope_effect": 0.0,
}
VOLUME_SEED = 20081111
HELOS = ["localhost", "mail.example.com", "{rdns}", "User", "[{ip}]", "smtp.example.net"]


@dataclass
class SpamEventTruth:
    """What was planted for one event."""

    event_id: str
    cutoff: dt.datetime
    botnet_asns: tuple[int, ...]
    botnet_prefixes: tuple[str, ...]
    weight: float
    remaining: float
    planted_drop: float  # 1 - (daily volume after) / (daily volume before), expected
    botnet_share_before: float
    botnet_share_after: float
    #: gaining ASN -> messages written from its prefixes (a planted displacement; else empty)
    gained: dict[int, int] = field(default_factory=dict)


@dataclass
class SpamTruth:
    """Ground truth of the generated spam archives."""

    archives: list[Path]
    urls: list[str]
    messages: pl.DataFrame  # one row per member written (see generate_spam)
    events: dict[str, SpamEventTruth]
    messages_per_unit: int  # messages per day for a weight of 1.0
    files: list[Path] = field(default_factory=list)
    #: day -> the factor every group's count was multiplied by that day (1.0: flat volume)
    day_factor: dict[dt.date, float] = field(default_factory=dict)

    def daily_counts(self) -> pl.DataFrame:
        """Messages per arrival day (UTC)."""
        return self.messages.group_by("day").len("messages").sort("day")


def day_factors(days: list[dt.date], seed: int = VOLUME_SEED) -> dict[dt.date, float]:
    """One volume multiplier per day of ``days``: simulated counts / the model's mean.

    A :class:`~takedowns.analysis.simulate.SeriesModel` (:data:`VOLUME_MODEL`) is drawn over every
    calendar day from the first to the last of ``days`` (so weekdays and the drift follow the
    calendar across gaps) with a seeded generator; the factors of ``days`` are rescaled to
    average exactly 1, so the archives keep their size.
    """
    if not days:
        return {}
    first, last = min(days), max(days)
    n_days = max((last - first).days + 1, 2)
    model = SeriesModel(n_days=n_days, t0=n_days - 1, start_weekday=first.weekday(), **VOLUME_MODEL)
    series = simulate_daily_counts(model, 1, np.random.default_rng(seed))
    raw = series.counts[0] / model.mean
    picked = np.array([raw[(d - first).days] for d in days])
    picked = picked / picked.mean()
    return {d: float(f) for d, f in zip(days, picked, strict=True)}


def _origin_set(text: str) -> list[int]:
    return sorted({int(x) for x in text.replace("_", ",").split(",")})


def _day_table(scenario: Scenario, day: dt.date) -> dict[int, dict[int, tuple[str, str]]]:
    """The pfx2as lines the mirror serves for ``day``, by length then network address."""
    lines = [(p, churned_origin(p, o, day)) for p, o in scenario.background]
    lines += [(p, str(a)) for p, a in scenario.origins_on(day)]
    table: dict[int, dict[int, tuple[str, str]]] = {}
    for prefix, origin in lines:
        net = ipaddress.ip_network(prefix)
        table.setdefault(net.prefixlen, {})[int(net.network_address)] = (prefix, origin)
    return table


def _lpm(table: dict[int, dict[int, tuple[str, str]]], ip: int) -> tuple[str | None, list[int]]:
    for length in sorted(table, reverse=True):
        key = ip >> (32 - length) << (32 - length) if length else 0
        hit = table[length].get(key)
        if hit:
            return hit[0], _origin_set(hit[1])
    return None, []


def _isolated_background(scenario: Scenario) -> list[tuple[str, int]]:
    """Single-origin background prefixes nested in no other prefix and holding none."""
    planted = [
        ipaddress.ip_network(p)
        for ev in scenario.events.values()
        for ps in ev.prefixes.values()
        for p in ps
    ]
    spans = sorted(
        (int(n.network_address), int(n.broadcast_address), str(n), origin)
        for n, origin in ((ipaddress.ip_network(p), o) for p, o in scenario.background)
    )
    spans += [(int(n.network_address), int(n.broadcast_address), "", "") for n in planted]
    spans.sort()
    out = []
    reach = -1  # the furthest end among earlier spans
    for i, (start, end, prefix, origin) in enumerate(spans):
        nested = start <= reach or (i + 1 < len(spans) and spans[i + 1][0] <= end)
        reach = max(reach, end)
        if nested or not prefix or not origin.isdigit():
            continue
        if any(churned_origin(prefix, origin, d) != origin for d in scenario.days):
            continue
        out.append((prefix, int(origin)))
    return out


def _random_address(net: str, rng: random.Random) -> int:
    n = ipaddress.ip_network(net)
    if n.num_addresses <= 2:
        return int(n.network_address)
    return int(n.network_address) + rng.randrange(1, n.num_addresses - 1)


def _message(
    ip: int | None, arrival: int, rng: random.Random, *, kind: str = "ok", crlf: bool
) -> bytes:
    """One raw message in the trap's grammar (or one of the planted bad kinds)."""
    when = dt.datetime.fromtimestamp(arrival - rng.randrange(0, 20), dt.UTC)
    stamp = when.strftime("%d %b %Y %H:%M:%S -0000")
    qstamp = f"{when.day} {when:%b %Y %H:%M:%S} -0000"
    ip_text = str(ipaddress.IPv4Address(ip)) if ip is not None else ""
    modern = when.year >= 2009 or rng.random() < 0.4
    rdns = f"host-{ip_text.replace('.', '-')}.example.net" if rng.random() < 0.5 else "unknown"
    helo = rng.choice(HELOS).format(rdns=rdns if rdns != "unknown" else "pc1", ip=ip_text)
    mx = f"mx{rng.randrange(1, 20)}.futurequest.net" if modern else "zak.futurequest.net"
    mx_ip = "10.2.1.186" if modern else "69.5.6.152"
    lines = ["Delivered-To: bruce@untroubled.org" if modern else "Return-Path: <x@example.org>"]
    if kind != "none":
        qmail = rng.randrange(1000, 30000)
        lines.append(f"Received: (qmail {qmail} invoked from network); {qstamp}")
    if kind == "ipv6":
        lines += [
            f"Received: from {helo} ([IPv6:2001:db8::{rng.randrange(1, 9999):x}])",
            f"  by {mx} ([{mx_ip}])",
            f"  with ESMTP via TCP6; {stamp}",
        ]
    elif kind == "private":
        private = f"192.168.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        lines += [
            f"Received: from {helo} (unknown [{private}])",
            f"  by {mx} ([{mx_ip}])",
            f"  with SMTP via TCP; {stamp}",
        ]
    elif kind == "other_host":
        lines += [
            f"Received: from {helo} (unknown [{ip_text or '198.51.100.7'}])",
            "  by relay.example.org ([192.0.2.1])",
            f"  with SMTP via TCP; {stamp}",
        ]
    elif kind == "ok":
        inner = f"[{ip_text}]" if modern else f"{rdns} [{ip_text}]"
        proto = rng.choice(["SMTP", "ESMTP"])
        lines += [
            f"Received: from {helo} ({inner})",
            f"  by {mx} ([{mx_ip}])",
            f"  with {proto} via TCP; {stamp}",
        ]
    lines += [
        f"Date: {when:%a, %d %b %Y %H:%M:%S} +0000",
        "From: Offers <offers@example.com>",
        "To: bruce <bruce@untroubled.org>",
        f"Subject: synthetic message {rng.randrange(10**6)}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
    ]
    body = ["", "SYNTHETIC test message generated for the takedowns study."]
    body += [
        "lorem ipsum dolor sit amet " * rng.randrange(1, 6) for _ in range(rng.randrange(2, 8))
    ]
    eol = "\r\n" if crlf else "\n"
    return (eol.join(lines + body) + eol).encode()


def _volume(weight: float, remaining: float, cutoff: dt.datetime, day: dt.date) -> float:
    """Expected fraction of a group's pre-event volume on ``day`` (cut-off day: pro rata)."""
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    before = min(max((cutoff - start).total_seconds() / 86400, 0.0), 1.0)
    return weight * (before + remaining * (1 - before))


def _displacement_volume(scenario: Scenario, event_id: str, day: dt.date, unit: int) -> float:
    """Expected volume of an event's target and gainers on ``day``, in units of
    ``messages_per_unit`` (0 without a planted displacement)."""
    ev = scenario.events[event_id]
    moved = ev.displacement
    if moved is None:
        return 0.0
    own = _volume(moved.target_spam_per_day / unit, 0.0, ev.cutoff, day)
    gained = moved.gained_spam_per_day / unit
    return own + gained - _volume(gained, 0.0, ev.cutoff, day)


def trap_days(days: list[dt.date]) -> list[dt.date]:
    """Every day from the first to the last of ``days``: the trap runs continuously, as the
    real one did, so the study has days outside every event window (the noise baseline of
    the volume fit) and not only the days the profile downloads routing tables for."""
    if not days:
        return []
    first, last = min(days), max(days)
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def generate_spam(
    root: Path,
    config: Mapping[str, Any],
    scenario: Scenario,
    rng: random.Random,
    *,
    messages_per_unit: int = 40,
    bad_per_kind: int = 2,
    event_weights: Mapping[str, tuple[float, float]] | None = None,
    realistic: bool = False,
    volume_seed: int = VOLUME_SEED,
) -> SpamTruth:
    """Write one 7z archive per year of the scenario's days; return the ground truth.

    ``messages`` in the truth has: archive_url, member, day, arrival_time, relay_ip
    (UInt32; null where none is parseable), expected_status, expected_prefix,
    expected_origins (List(UInt32)), group (``base``, ``botnet:<event>``,
    ``target:<event>``, ``moved:<event>``, ``gained:<event>`` or ``bad``).
    ``realistic``: multiply every group's daily count by the day's factor (:func:`day_factors`
    with ``volume_seed``, recorded in ``SpamTruth.day_factor``); ``False``: flat volume.
    """
    base_url = config["sources"]["untroubled"]["url"].rstrip("/")
    pool = _isolated_background(scenario)
    rng.shuffle(pool)
    events: dict[str, SpamEventTruth] = {}
    used = 0
    groups: dict[str, list[tuple[str, int]]] = {}
    for event_id, ev in scenario.events.items():
        nets = pool[used : used + BOTNET_NETWORKS]
        used += BOTNET_NETWORKS
        groups[event_id] = nets
        plant = ev.plant
        weight, remaining = (
            (plant["botnet_weight"], plant["botnet_remaining"])
            if event_weights is None
            else event_weights[event_id]
        )
        events[event_id] = SpamEventTruth(
            event_id, ev.cutoff, tuple(a for _, a in nets), tuple(p for p, _ in nets),
            weight, remaining, 0.0, 0.0, 0.0,
        )  # fmt: skip
    base_pool = pool[used:] or pool
    for truth in events.values():  # volume just before and just after this cut-off
        before_day = truth.cutoff.date() - dt.timedelta(days=1)
        after_day = truth.cutoff.date() + dt.timedelta(days=1)
        vol = {}
        for label, day in (("before", before_day), ("after", after_day)):
            parts = {
                e.event_id: _volume(e.weight, e.remaining, e.cutoff, day) for e in events.values()
            }
            moved = sum(_displacement_volume(scenario, e, day, messages_per_unit) for e in events)
            vol[label] = (BASE_WEIGHT + sum(parts.values()) + moved, parts[truth.event_id])
        truth.planted_drop = 1 - vol["after"][0] / vol["before"][0]
        truth.botnet_share_before = vol["before"][1] / vol["before"][0]
        truth.botnet_share_after = vol["after"][1] / vol["after"][0]

    days = trap_days(scenario.days)
    factor = day_factors(days, volume_seed) if realistic else dict.fromkeys(days, 1.0)
    rows: list[dict[str, Any]] = []
    members: dict[int, list[tuple[str, bytes]]] = {}
    serial = 0
    for day in days:
        table = _day_table(scenario, day)
        start = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())
        plan: list[tuple[str, str, int]] = []  # (group, prefix, arrival)

        f = factor[day]
        base_count = round(messages_per_unit * BASE_WEIGHT * f)
        _spread(plan, rng, "base", [p for p, _ in base_pool], base_count, start, start + 86400)
        for event_id, truth in events.items():
            cut = int(truth.cutoff.timestamp())
            n_pre = round(
                messages_per_unit * truth.weight * min(max((cut - start) / 86400, 0), 1) * f
            )
            n_post = round(
                messages_per_unit
                * truth.weight
                * truth.remaining
                * min(max((start + 86400 - cut) / 86400, 0), 1)
                * f
            )
            nets = [p for p, _ in groups[event_id]]
            _spread(plan, rng, f"botnet:{event_id}", nets, n_pre, start, min(cut, start + 86400))
            _spread(plan, rng, f"botnet:{event_id}", nets, n_post, max(cut, start), start + 86400)
            ev = scenario.events[event_id]
            if cut > start:
                own = [p for ps in ev.prefixes.values() for p in ps]
                _spread(
                    plan,
                    rng,
                    f"target:{event_id}",
                    own,
                    round(
                        f
                        * (
                            ev.displacement.target_spam_per_day
                            if ev.displacement
                            else TARGET_PER_DAY
                        )
                    ),
                    start,
                    min(cut, start + 86400),
                )
            if ev.displacement and cut < start + 86400:
                after = min((start + 86400 - max(cut, start)) / 86400, 1.0)
                for gainer in ev.displacement.gainers:
                    _spread(
                        plan,
                        rng,
                        f"gained:{event_id}",
                        list(gainer.prefixes),
                        round(gainer.spam_per_day * after * f),
                        max(cut, start),
                        start + 86400,
                    )
            if ev.move and day >= ev.move.from_day:
                _spread(
                    plan,
                    rng,
                    f"moved:{event_id}",
                    [ev.move.prefix],
                    round(MOVED_PER_DAY * f),
                    start,
                    start + 86400,
                )
        for group, prefix, arrival in sorted(plan, key=lambda t: t[2]):
            ip = _random_address(prefix, rng)
            expected_prefix, origins = _lpm(table, ip)
            serial += 1
            name = _member_name(arrival, serial, rng)
            data = _message(ip, arrival, rng, crlf=rng.random() < 0.2)
            members.setdefault(dt.datetime.fromtimestamp(arrival, dt.UTC).year, []).append(
                (name, data)
            )
            rows.append(_row(base_url, name, arrival, ip, "ok", expected_prefix, origins, group))
    # The planted bad members, on the first days.
    bad_kinds = {
        "ipv6": "ipv6_relay",
        "private": "private_or_loopback_relay",
        "none": "no_received",
        "other_host": "no_trap_received",
    }
    for i, (kind, status) in enumerate(sorted(bad_kinds.items())):
        for j in range(bad_per_kind):
            day = scenario.days[(i * bad_per_kind + j) % len(scenario.days)]
            arrival = int(dt.datetime(day.year, day.month, day.day, 12, 30 + j, tzinfo=dt.UTC)
                          .timestamp())  # fmt: skip
            serial += 1
            name = _member_name(arrival, serial, rng)
            data = _message(None, arrival, rng, kind=kind, crlf=j % 2 == 1)
            members.setdefault(day.year, []).append((name, data))
            rows.append(_row(base_url, name, arrival, None, status, None, [], "bad"))

    archives, urls = [], []
    for year, items in sorted(members.items()):
        url = f"{base_url}/{year}.7z"
        path = root / raw_relpath(url)
        _write_archive(path, sorted(items))
        stamp = dt.datetime(year, 12, 31, 23, 59, tzinfo=dt.UTC).timestamp()
        os.utime(path, (stamp, stamp))
        archives.append(path)
        urls.append(url)
    messages = pl.DataFrame(
        rows,
        schema={
            "archive_url": pl.String,
            "member": pl.String,
            "day": pl.Date,
            "arrival_time": pl.Datetime("us", "UTC"),
            "relay_ip": pl.UInt32,
            "expected_status": pl.String,
            "expected_prefix": pl.String,
            "expected_origins": pl.List(pl.UInt32),
            "group": pl.String,
        },
    ).sort("arrival_time", "member")
    for event_id, truth in events.items():
        gained = messages.filter(pl.col("group") == f"gained:{event_id}")
        for (asn,), rows_of in gained.group_by(pl.col("expected_origins").list.first()):
            truth.gained[int(asn)] = rows_of.height
        truth.gained = dict(sorted(truth.gained.items()))
    scenario.files.extend(archives)
    return SpamTruth(
        archives, urls, messages, events, messages_per_unit, list(archives), dict(factor)
    )


def _spread(
    plan: list[tuple[str, str, int]],
    rng: random.Random,
    group: str,
    nets: list[str],
    count: int,
    lo: int,
    hi: int,
) -> None:
    """Plan ``count`` messages of ``group`` from random ``nets``, arriving in [lo, hi)."""
    for _ in range(count):
        plan.append((group, rng.choice(nets), rng.randrange(lo, max(hi, lo + 1))))


def _member_name(arrival: int, serial: int, rng: random.Random) -> str:
    when = dt.datetime.fromtimestamp(arrival, dt.UTC)
    suffix = rng.choice(["lorien", "lorien", "txt"])
    return f"{when:%Y}/{when:%m}/{arrival}.{rng.randrange(1000, 32768)}_{serial}.{suffix}"


def _row(
    base_url: str,
    name: str,
    arrival: int,
    ip: int | None,
    status: str,
    prefix: str | None,
    origins: list[int],
    group: str,
) -> dict[str, Any]:
    when = dt.datetime.fromtimestamp(arrival, dt.UTC)
    return {
        "archive_url": f"{base_url}/{when:%Y}.7z",
        "member": name,
        "day": when.date(),
        "arrival_time": when,
        "relay_ip": ip,
        "expected_status": status,
        "expected_prefix": prefix,
        "expected_origins": origins,
        "group": group,
    }


#: Member names as the generator writes them (``YYYY/MM/<epoch>.<pid>_<n>.<txt|lorien>``).
_MEMBER_NAME = re.compile(r"^\d{4}/\d{2}/\d{10}\.\d+_\d+\.(txt|lorien)$")
#: The real archives' codec (solid LZMA2), at a fast preset: the format is the same, and
#: a generated year of tens of thousands of members is written in seconds.
_FILTERS = [{"id": py7zr.FILTER_LZMA2, "preset": 1}]


def _write_archive(path: Path, items: list[tuple[str, bytes]]) -> None:
    """A solid LZMA2 7z archive with directory entries, as the real yearly archives."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    dirs = sorted({n.rsplit("/", 2)[0] for n, _ in items} | {n.rsplit("/", 1)[0] for n, _ in items})
    bad = [name for name, _ in items if not _MEMBER_NAME.match(name)]
    if bad:
        raise ValueError(f"member names outside the archive layout: {bad[:3]}")
    with (
        tempfile.TemporaryDirectory() as empty,
        py7zr.SevenZipFile(tmp, "w", filters=_FILTERS) as archive,
    ):
        for d in dirs:
            archive.write(empty, d)
        for name, data in items:
            # the names were checked above; py7zr's own check resolves every path on disk
            archive._writestr(data, name)
    tmp.replace(path)
