"""SYNTHETIC RouteViews and RIPE RIS archives with a planted takedown per event.

:func:`generate_routing` writes, for the scenario's days, what the real archives hold in the
same layout and formats (see :mod:`takedowns.synthetic.mrt_writer`):

* RIB dumps of every configured RouteViews collector (``sources.routeviews.collectors``, each
  at its layout: ``bgpdata/`` for route-views2, ``<collector>/bgpdata/`` for the others), one
  or two a day at irregular times (``rib.20081111.0644.bz2``), MRT TABLE_DUMP (v1) or
  TABLE_DUMP_V2 as each collector wrote them then (:func:`rib_is_table_dump_v2`);
* RIS bview dumps (TABLE_DUMP_V2, gzip) at 07:59, 15:59 and 23:59 for every configured RIS
  collector;
* update files only inside the update windows around each event's nominal cut-off
  (``routing.update_window_hours``): RouteViews every 15 minutes (``.bz2``), RIS every 5
  minutes (``.gz``), BGP4MP MESSAGE (2-byte sessions) and MESSAGE_AS4 (a 4-byte peer).

What is planted (returned as :class:`RoutingTruth`):

* every peer sees each target prefix through one of the target's providers
  (``scenario.events[e].providers``; a provider that is itself a target is followed upwards),
  with origin prepending on some paths, until the planted cut-off;
* the planted cut-off is the last announcement of the event's prefixes: a few minutes after
  the nominal time, re-announcements before it; then each peer withdraws the prefixes within
  a few minutes, except one stale peer per collector that keeps them to the end of the window;
* for every temporary restoration the events table reports (``upstream_change`` rows with role
  ``restored``: ``scenario.events[e].restored``), a 12-hour re-appearance via that upstream on
  that day, seen by some peers, covering the dump the study selects that day;
* the moved prefix (``scenario.events[e].move``) is announced by its new origin from
  ``move.from_day`` on;
* background prefixes (from ``scenario.background``) with MOAS and AS_SET origins, and a
  little background churn in every update file.
"""

from __future__ import annotations

import bz2
import datetime as dt
import gzip
import hashlib
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from takedowns.paths import raw_relpath
from takedowns.routing.listings import (
    archive_of,
    routeviews_base,
    routeviews_collectors,
    routing_settings,
    update_period,
)
from takedowns.synthetic import mrt_writer as mw
from takedowns.synthetic.scenario import PlantedMove, Scenario

#: route-views2 switched from TABLE_DUMP to TABLE_DUMP_V2 in early 2009.
RV_TABLE_DUMP_V2_FROM = dt.date(2009, 2, 1)
#: RouteViews' RIB format notice of 15 April 2009 lists route-views2, route-views4 and
#: route-views6 as writing TABLE_DUMP_V2 by then (the day route-views4 and route-views6
#: switched is not given; they switch with route-views2 here) and route-views.paix, .eqix,
#: .wide and .kixp as still writing TABLE_DUMP; when those four switched later in 2009 is not
#: known, so they write TABLE_DUMP to the end of the study period here. Collectors the notice
#: does not name (route-views.linx, route-views.isc, ...) are given route-views2's switch.
RV_TABLE_DUMP_V2_FROM_BY_COLLECTOR: dict[str, dt.date | None] = {
    "route-views.paix": None,
    "route-views.eqix": None,
    "route-views.wide": None,
    "route-views.kixp": None,
}
RIS_DUMP_TIMES = ((7, 59), (15, 59), (23, 59))
#: Invented peers (addresses in RFC 5737 documentation ranges). 196613 is a 4-byte ASN.
#: The n-th RouteViews collector's peers are 203.0.113.(8n + 1..8) with these ASNs.
RV_PEERS = (
    ("203.0.113.1", 7018),
    ("203.0.113.2", 1239),
    ("203.0.113.3", 3549),
    ("203.0.113.4", 6939),
    ("203.0.113.5", 1299),
    ("203.0.113.6", 3356),
    ("203.0.113.7", 2914),
    ("203.0.113.8", 196613),
)
RIS_PEERS = (
    ("198.51.100.1", 3333),
    ("198.51.100.2", 3356),
    ("198.51.100.3", 1299),
    ("198.51.100.4", 6939),
    ("198.51.100.5", 3549),
    ("198.51.100.6", 13237),
)
RV_PEER_BLOCK = 8
#: The collectors' own side of the update sessions: RouteViews' AS 6447, route-views2's
#: address, and an invented one (RFC 5737) for every further RouteViews collector.
RV_LOCAL_AS, RV2_LOCAL_IP = 6447, "128.223.51.102"
RIS_LOCAL = (12654, "193.0.4.28")
TRANSITS = (174, 701, 1239, 2914, 3257, 3356, 6453, 6762)
FALLBACK_PROVIDER = 3356
REAPPEAR_LENGTH = dt.timedelta(hours=12)
STALE_AFTER_WINDOW = dt.timedelta(minutes=30)


def rib_is_table_dump_v2(collector: str, day: dt.date) -> bool:
    """Whether ``collector``'s RIB dumps of ``day`` are TABLE_DUMP_V2 (RIS bviews always are)."""
    if archive_of(collector) == "ris":
        return True
    since = RV_TABLE_DUMP_V2_FROM_BY_COLLECTOR.get(collector, RV_TABLE_DUMP_V2_FROM)
    return since is not None and day >= since


@dataclass(frozen=True)
class PlantedPeer:
    """One collector peer."""

    collector: str
    ip: str
    asn: int

    @property
    def key(self) -> str:
        return f"{self.collector}|{self.ip}"


@dataclass(frozen=True)
class UpstreamEpisode:
    """A watched ASN reached through ``upstream`` from ``start`` until ``end`` (exclusive)."""

    event_id: str
    asn: int
    upstream: int
    start: dt.datetime
    end: dt.datetime
    peers: tuple[str, ...]  # PlantedPeer.key


@dataclass
class RoutingEvent:
    """What was planted for one event."""

    event_id: str
    nominal_cutoff: dt.datetime
    cutoff: dt.datetime  # the last announcement of the event's prefixes
    window: tuple[dt.datetime, dt.datetime]
    prefixes: dict[int, tuple[str, ...]]
    paths: dict[tuple[str, str], list[int]]  # (peer key, prefix) -> AS path before the cut-off
    withdrawn_at: dict[str, dt.datetime]  # peer key -> withdrawal time
    stale_peers: tuple[str, ...]  # keep the routes past the window, lose them unobserved
    move: PlantedMove | None

    @property
    def stale_until(self) -> dt.datetime:
        """When the stale peers lose the routes: after the update window, unobserved."""
        return self.window[1] + STALE_AFTER_WINDOW

    def upstreams(self) -> dict[int, set[int]]:
        """Watched ASN -> the upstream ASNs its prefixes were seen through before the cut-off."""
        out: dict[int, set[int]] = {}
        origin_of = {p: a for a, ps in self.prefixes.items() for p in ps}
        for (_, prefix), path in self.paths.items():
            out.setdefault(origin_of[prefix], set()).add(_upstream(path))
        return out


@dataclass
class RoutingTruth:
    """Ground truth of the generated routing archives."""

    events: dict[str, RoutingEvent]
    episodes: list[UpstreamEpisode]
    peers: dict[str, tuple[PlantedPeer, ...]]
    ribs: dict[str, list[dt.datetime]]
    updates: dict[str, list[dt.datetime]]
    files: list[Path] = field(default_factory=list)

    def visible_peers(self, event_id: str, collector: str, when: dt.datetime) -> set[str]:
        """Peer IPs of ``collector`` that carry a prefix originated by the event's ASNs."""
        ev = self.events[event_id]
        out = set()
        for peer in self.peers[collector]:
            if when < ev.withdrawn_at.get(peer.key, ev.cutoff) or (
                peer.key in ev.stale_peers and when < ev.stale_until
            ):
                out.add(peer.ip)
        for ep in self.episodes:
            if ep.event_id == event_id and ep.start > ev.cutoff and ep.start <= when < ep.end:
                out |= {k.split("|")[1] for k in ep.peers if k.startswith(collector + "|")}
        return out


def _upstream(path: Sequence[int]) -> int:
    origin = path[-1]
    return [a for a in path if a != origin][-1]


def _stable(*parts: object) -> int:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _chain(asn: int, providers: Mapping[int, Sequence[int]], pick: int) -> list[int]:
    """Provider chain above ``asn`` up to a non-target AS: ``[..., provider, asn]``."""
    chain = [asn]
    current = asn
    for _ in range(4):
        ups = providers.get(current) or (FALLBACK_PROVIDER,)
        up = ups[pick % len(ups)]
        chain.insert(0, up)
        if up not in providers:
            break
        current = up
    return chain


def _path(peer: PlantedPeer, chain: list[int], prepend: int) -> list[int]:
    path = [*chain, *([chain[-1]] * prepend)]
    return path if path[0] == peer.asn else [peer.asn, *path]


def _text(path: Sequence[int]) -> str:
    return " ".join(str(a) for a in path)


def _write(root: Path, url: str, data: bytes, mtime: dt.datetime, files: list[Path]) -> Path:
    path = root / raw_relpath(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    files.append(path)
    return path


class _Plan:
    """Routes of every collector at any time, from the scenario and the planted choices."""

    def __init__(
        self, config: Mapping[str, Any], scenario: Scenario, rng: random.Random, n_background: int
    ) -> None:
        settings = routing_settings(config)
        self.rib_hour = float(settings["rib_hour"])
        self.window = dt.timedelta(hours=float(settings["update_window_hours"]))
        ris = list(config["sources"]["ripe_ris"].get("collectors", []))
        self.routeviews = routeviews_collectors(config)
        if len(self.routeviews) * RV_PEER_BLOCK >= 255:
            raise ValueError(
                f"{len(self.routeviews)} RouteViews collectors: the generator's peer addresses "
                f"(203.0.113.0/24, {RV_PEER_BLOCK} a collector) fit at most "
                f"{254 // RV_PEER_BLOCK}"
            )
        self.peers: dict[str, tuple[PlantedPeer, ...]] = {}
        for n, collector in enumerate(self.routeviews):
            self.peers[collector] = tuple(
                PlantedPeer(collector, f"203.0.113.{RV_PEER_BLOCK * n + k + 1}", a)
                for k, (_, a) in enumerate(RV_PEERS)
            )
        for n, collector in enumerate(ris):
            self.peers[collector] = tuple(
                PlantedPeer(collector, ip.replace("198.51.100.", f"198.51.{100 + n}."), a)
                for ip, a in RIS_PEERS
            )
        self.background = self._background(scenario, rng, n_background)
        self.days = list(scenario.days)
        self.rib_times = self._rib_times(rng)
        self.events: dict[str, RoutingEvent] = {}
        self.episodes: list[UpstreamEpisode] = []
        for ev in scenario.events.values():
            self._plan_event(ev, rng)

    # -- choices -------------------------------------------------------------------------------

    @staticmethod
    def _background(scenario: Scenario, rng: random.Random, count: int) -> list[tuple[str, str]]:
        pool = list(scenario.background)
        return sorted(rng.sample(pool, min(count, len(pool))))

    def _rib_times(self, rng: random.Random) -> dict[str, list[dt.datetime]]:
        out: dict[str, list[dt.datetime]] = {c: [] for c in self.peers}
        for day in self.days:
            base = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            for collector in self.routeviews:
                hours = sorted(rng.sample(range(24), rng.choice((1, 2))))
                out[collector] += [
                    base + dt.timedelta(hours=h, minutes=rng.randrange(60)) for h in hours
                ]
            for collector in self.peers:
                if collector not in self.routeviews:
                    out[collector] += [
                        base + dt.timedelta(hours=h, minutes=m) for h, m in RIS_DUMP_TIMES
                    ]
        return out

    def selected_rib(self, collector: str, day: dt.date) -> dt.datetime | None:
        """The dump of ``day`` the study selects (closest to routing.rib_hour)."""
        target = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) + dt.timedelta(
            hours=self.rib_hour
        )
        same_day = [t for t in self.rib_times[collector] if t.date() == day]
        return min(same_day, key=lambda t: (abs(t - target), t)) if same_day else None

    def _plan_event(self, ev: Any, rng: random.Random) -> None:
        t0 = ev.cutoff
        cutoff = t0 + dt.timedelta(minutes=rng.randint(5, 40), seconds=rng.randint(0, 59))
        window = (t0 - self.window, t0 + self.window)
        paths: dict[tuple[str, str], list[int]] = {}
        withdrawn: dict[str, dt.datetime] = {}
        stale = []
        for peers in self.peers.values():
            stale.append(peers[-2].key)
            for i, peer in enumerate(peers):
                for asn, prefixes in ev.prefixes.items():
                    for j, prefix in enumerate(prefixes):
                        chain = _chain(asn, ev.providers, i + j)
                        prepend = 2 if (i + j) % 4 == 1 else 0
                        paths[(peer.key, prefix)] = _path(peer, chain, prepend)
                if peer.key not in stale:
                    withdrawn[peer.key] = cutoff + dt.timedelta(seconds=rng.randint(40, 420))
        self.events[ev.event_id] = RoutingEvent(
            ev.event_id,
            t0,
            cutoff,
            window,
            dict(ev.prefixes),
            paths,
            withdrawn,
            tuple(stale),
            ev.move,
        )
        for asn, ups in self.events[ev.event_id].upstreams().items():
            for up in sorted(ups):
                keys = tuple(
                    k
                    for (k, p), path in paths.items()
                    if _upstream(path) == up and p in ev.prefixes[asn]
                )
                rv_times = [t for c in self.routeviews for t in self.rib_times[c]]
                first = min(rv_times or [window[0]])
                self.episodes.append(
                    UpstreamEpisode(ev.event_id, asn, up, first, cutoff, tuple(sorted(set(keys))))
                )
        for day, via in ev.restored:
            self._plan_reappearance(ev, day, via, rng)

    def _plan_reappearance(self, ev: Any, day: dt.date, via: int, rng: random.Random) -> None:
        if day not in self.days:
            return
        chosen = [self.selected_rib(c, day) for c in self.peers]
        chosen = [t for t in chosen if t is not None]
        if not chosen:
            return
        start = min(chosen) - dt.timedelta(hours=rng.randint(1, 3), minutes=rng.randrange(60))
        if max(chosen) >= start + REAPPEAR_LENGTH:  # keep every selected dump inside
            start = max(chosen) - REAPPEAR_LENGTH + dt.timedelta(hours=1)
        peers = tuple(p.key for c in self.peers for p in self.peers[c][:4])
        for asn in ev.prefixes:
            self.episodes.append(
                UpstreamEpisode(ev.event_id, asn, via, start, start + REAPPEAR_LENGTH, peers)
            )

    # -- routes --------------------------------------------------------------------------------

    def routes_at(
        self, collector: str, when: dt.datetime
    ) -> list[tuple[PlantedPeer, str, list[int]]]:
        """Every (peer, prefix, AS path) a dump of ``collector`` at ``when`` holds."""
        out: list[tuple[PlantedPeer, str, list[int]]] = []
        peers = self.peers[collector]
        for prefix, origin in self.background:
            for peer in peers:
                out.append((peer, prefix, self._background_path(peer, prefix, origin)))
        for ev in self.events.values():
            moved = ev.move.prefix if ev.move and when.date() >= ev.move.from_day else None
            for peer in peers:
                until = ev.withdrawn_at.get(peer.key, ev.stale_until)
                if when < until:
                    for prefixes in ev.prefixes.values():
                        for prefix in prefixes:
                            if prefix != moved:
                                out.append((peer, prefix, ev.paths[(peer.key, prefix)]))
            for ep in self.episodes:
                if (
                    ep.event_id == ev.event_id
                    and ep.start > ev.cutoff
                    and ep.start <= when < ep.end
                ):
                    for peer in peers:
                        if peer.key in ep.peers:
                            for prefix in ev.prefixes[ep.asn]:
                                if prefix != moved:
                                    path = _path(peer, [ep.upstream, ep.asn], 0)
                                    out.append((peer, prefix, path))
            if moved and ev.move:
                for i, peer in enumerate(peers):
                    up = TRANSITS[i % len(TRANSITS)]
                    out.append((peer, moved, _path(peer, [up, ev.move.new_origin], 0)))
        return out

    def _background_path(self, peer: PlantedPeer, prefix: str, origin: str) -> list[int] | str:
        h = _stable(peer.key, prefix)
        transit = TRANSITS[h % len(TRANSITS)]
        if "," in origin:  # an AS set origin (after a MOAS part, if any)
            members = origin.split("_")[-1].split(",")
            head = [peer.asn] if peer.asn != transit else []
            return " ".join(str(a) for a in [*head, transit]) + " {" + ",".join(members) + "}"
        choices = origin.split("_")
        chosen = int(choices[h % len(choices)])
        return _path(peer, [transit, chosen], 0)


def _path_arg(path: list[int] | str) -> str:
    return path if isinstance(path, str) else _text(path)


# --------------------------------------------------------------------------------------------
# Writing


def _rib_bytes(plan: _Plan, collector: str, when: dt.datetime, v2: bool) -> bytes:
    ts = int(when.timestamp())
    routes = sorted(
        plan.routes_at(collector, when),
        key=lambda r: (_prefix_key(r[1]), r[0].ip),
    )
    records: list[bytes] = []
    if not v2:
        for i, (peer, prefix, path) in enumerate(routes):
            records.append(
                mw.table_dump_v1(
                    ts + i // 500, prefix, peer.ip, peer.asn, _path_arg(path), sequence=i
                )
            )
        return b"".join(records)
    peers = plan.peers[collector]
    index = {p.key: i for i, p in enumerate(peers)}
    records.append(mw.peer_index_table(ts, [mw.Peer(p.ip, p.asn) for p in peers], view=""))
    by_prefix: dict[str, list[mw.RibEntry]] = {}
    for peer, prefix, path in routes:
        entry = mw.RibEntry(index[peer.key], _path_arg(path), peer.ip, ts - 3600)
        by_prefix.setdefault(prefix, []).append(entry)
    for seq, (prefix, entries) in enumerate(by_prefix.items()):
        records.append(mw.rib_ipv4_unicast(ts, seq, prefix, entries))
    return b"".join(records)


def _prefix_key(prefix: str) -> tuple[int, int]:
    addr, length = prefix.split("/")
    a, b, c, d = (int(x) for x in addr.split("."))
    return ((a << 24) | (b << 16) | (c << 8) | d, int(length))


@dataclass(order=True)
class _Update:
    time: dt.datetime
    peer: PlantedPeer = field(compare=False)
    withdrawn: tuple[str, ...] = field(compare=False, default=())
    announced: tuple[str, ...] = field(compare=False, default=())
    path: str = field(compare=False, default="")


def _event_updates(plan: _Plan, collector: str, rng: random.Random) -> list[_Update]:
    """Re-announcements before each cut-off, the last one at the cut-off, then withdrawals."""
    out: list[_Update] = []
    peers = plan.peers[collector]
    for ev in plan.events.values():
        start, _ = ev.window
        all_prefixes = [(a, p) for a, ps in ev.prefixes.items() for p in ps]
        moved = ev.move.prefix if ev.move and ev.cutoff.date() >= ev.move.from_day else None
        live = [(a, p) for a, p in all_prefixes if p != moved]
        t = start + dt.timedelta(minutes=rng.randint(3, 20))
        while t < ev.cutoff - dt.timedelta(minutes=2):
            peer = rng.choice(peers)
            _, prefix = rng.choice(live)
            out.append(
                _Update(t, peer, announced=(prefix,), path=_text(ev.paths[(peer.key, prefix)]))
            )
            t += dt.timedelta(minutes=rng.randint(12, 35), seconds=rng.randint(0, 59))
        first = peers[0]
        _, prefix = live[0]
        out.append(
            _Update(
                ev.cutoff, first, announced=(prefix,), path=_text(ev.paths[(first.key, prefix)])
            )
        )
        for peer in peers:
            when = ev.withdrawn_at.get(peer.key)
            if when is not None:
                out.append(_Update(when, peer, withdrawn=tuple(p for _, p in live)))
    return out


def _background_updates(
    plan: _Plan, collector: str, start: dt.datetime, rng: random.Random
) -> list[_Update]:
    out = []
    period = update_period(collector)
    for _ in range(rng.randint(1, 4)):
        peer = rng.choice(plan.peers[collector])
        prefix, origin = rng.choice(plan.background)
        when = start + dt.timedelta(seconds=rng.randrange(int(period.total_seconds())))
        path = _path_arg(plan._background_path(peer, prefix, origin))
        if rng.random() < 0.2:
            out.append(_Update(when, peer, withdrawn=(prefix,)))
        else:
            out.append(_Update(when, peer, announced=(prefix,), path=path))
    return out


def _update_record(update: _Update, local: tuple[int, str]) -> bytes:
    ts = int(update.time.timestamp())
    as4 = update.peer.asn > 0xFFFF
    if update.withdrawn:
        message = mw.bgp_update(withdrawn=update.withdrawn)
    else:
        attrs = mw.path_attributes(update.path, update.peer.ip, four_byte=as4)
        message = mw.bgp_update(announced=update.announced, attributes=attrs)
    return mw.bgp4mp_message(
        ts,
        message,
        peer_as=update.peer.asn,
        peer_ip=update.peer.ip,
        local_as=local[0],
        local_ip=local[1],
        as4=as4,
    )


def _update_file_times(plan: _Plan, collector: str) -> list[dt.datetime]:
    period = update_period(collector)
    times: set[dt.datetime] = set()
    for ev in plan.events.values():
        start, end = ev.window
        step = int(period.total_seconds())
        t = dt.datetime.fromtimestamp(int(start.timestamp()) // step * step, dt.UTC)
        while t < end:
            times.add(t)
            t += period
    return sorted(times)


def generate_routing(
    root: Path,
    config: Mapping[str, Any],
    scenario: Scenario,
    rng: random.Random,
    *,
    background_prefixes: int = 60,
) -> RoutingTruth:
    """Write the routing archives under ``root`` (at ``raw_relpath`` of the real URLs)."""
    plan = _Plan(config, scenario, rng, background_prefixes)
    files: list[Path] = []
    rv_base = {c: routeviews_base(config, c) for c in plan.routeviews}
    ris_base = config["sources"]["ripe_ris"]["url"].rstrip("/")
    for collector, times in plan.rib_times.items():
        for when in times:
            if collector in rv_base:
                v2 = rib_is_table_dump_v2(collector, when.date())
                data = bz2.compress(_rib_bytes(plan, collector, when, v2), 6)
                url = f"{rv_base[collector]}/{when:%Y.%m}/RIBS/rib.{when:%Y%m%d.%H%M}.bz2"
            else:
                data = gzip.compress(_rib_bytes(plan, collector, when, True), 6, mtime=0)
                url = f"{ris_base}/{collector}/{when:%Y.%m}/bview.{when:%Y%m%d.%H%M}.gz"
            _write(root, url, data, when + dt.timedelta(minutes=21), files)
    update_times: dict[str, list[dt.datetime]] = {}
    for collector in plan.peers:
        planted = sorted(_event_updates(plan, collector, rng))
        period = update_period(collector)
        rv = collector in rv_base
        local = RIS_LOCAL
        if rv:
            n = plan.routeviews.index(collector) + 1
            local = (RV_LOCAL_AS, RV2_LOCAL_IP if collector == "route-views2" else f"192.0.2.{n}")
        update_times[collector] = _update_file_times(plan, collector)
        for start in update_times[collector]:
            inside = [u for u in planted if start <= u.time < start + period]
            inside = sorted(inside + _background_updates(plan, collector, start, rng))
            records = [_update_record(u, local) for u in inside]
            if not rv and rng.random() < 0.1:
                peer = rng.choice(plan.peers[collector])
                records.insert(0, mw.state_change(int(start.timestamp()), peer.ip, peer.asn))
            raw = b"".join(records)
            if rv:
                data = bz2.compress(raw, 6)
                url = f"{rv_base[collector]}/{start:%Y.%m}/UPDATES/updates.{start:%Y%m%d.%H%M}.bz2"
            else:
                data = gzip.compress(raw, 6, mtime=0)
                url = f"{ris_base}/{collector}/{start:%Y.%m}/updates.{start:%Y%m%d.%H%M}.gz"
            _write(root, url, data, start + period + dt.timedelta(minutes=2), files)
    scenario.files.extend(files)
    return RoutingTruth(plan.events, plan.episodes, plan.peers, plan.rib_times, update_times, files)
