"""SYNTHETIC Wayback captures of the blocklists, with a planted dispersion, for the mirror.

:func:`generate_blocklists` writes, for every configured list (``blocklists.lists``), the
CDX answers of its queries (real shape: a JSON header row, then one row per line,
``collapse=digest`` applied) and the captures themselves at
``raw_relpath("https://web.archive.org/web/<ts>id_/<url>")``, for the scenario's days.

What is planted (and returned as :class:`BlocklistTruth`):

* each event's target prefixes (``scenario.events[..].prefixes``) are listed before its
  cut-off and delisted ``delist_after_days`` after it (Spamhaus DROP: every event; any other
  list: the events whose config ``scenario.<event>.blocklists`` names it);
* a dispersion: per event, prefixes of unrelated ASNs (taken from ``scenario.background``,
  so the prefix-to-AS tables route them) are listed one more each ``dispersion_step_days``
  after the cut-off, and stay listed;
* with a planted displacement (``scenario.events[e].displacement``), the gaining networks'
  prefixes are listed from the event's cut-off on (``BlocklistTruth.gained``), where the
  target's own are delisted ``delist_after_days`` later;
* a stable baseline of unrelated routed prefixes, one rotating entry, and unrouted
  documentation blocks (TEST-NET-2/3);
* the awkward cases: one inexact CDX timestamp (the server answers 302 to the capture
  47 s later: the snapshot is ``redirected``, not counted), one RBN IPs capture whose stored
  bytes changed after the CDX digest was taken (``digest_mismatch``; every other CDX digest
  is the base32 SHA-1 of the bytes served), one capture the CDX lists but the archive lacks
  (404), one truncated DROP
  capture (a few entries: the neighbour check must flag it), one DROP line with host bits
  set, one ET capture with Windows line endings, the RBN IPs file with ranges, the DROP
  list captured under both spellings (``/drop/`` and ``/DROP/``), and (``plant_faults``)
  two 429s without Retry-After on one CDX query and one 200 HTML page without
  ``Memento-Datetime`` before one capture, planted through ``.mirror-faults.json``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import json
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from takedowns.blocklists.wayback import (
    CDX_FIELDS,
    BlocklistSource,
    blocklist_sources,
    cdx_query_url,
    replay_url,
    snapshot_id,
)
from takedowns.paths import raw_relpath
from takedowns.sources.fetch import mirror_url
from takedowns.synthetic.scenario import Scenario, churned_origin
from takedowns.synthetic.server import FAULTS_FILE

#: Unrouted documentation blocks listed as they were on the real DROP (unallocated space).
UNROUTED = ("198.51.100.0/24", "203.0.113.0/25")
#: A range in the RBN IPs file that is not one CIDR block (it splits into six).
UNROUTED_RANGE = ("203.0.113.133", "203.0.113.150")
INEXACT_OFFSET_SECONDS = 47
#: The snapshot status each planted kind must get (every other kind: ``ok``).
EXPECTED_STATUS = {
    "missing": "missing",
    "short": "suspect",
    "inexact": "redirected",
    "digest_mismatch": "digest_mismatch",
}
#: What the mismatched capture's stored bytes gain after its CDX digest was taken.
RECRAWL_LINE = b"# list regenerated after capture\n"
ET_CHUNK = 10


@dataclass(frozen=True)
class PlantedCapture:
    """One capture of one list: what it lists and how the archive presents it."""

    list_name: str
    original: str  # the URL as captured (the CDX ``original``)
    timestamp: str  # when captured (14 digits): where the bytes are stored
    cdx_timestamp: str  # as the CDX answer lists it (differs for the inexact case)
    digest: str
    listed: tuple[str, ...]  # prefixes the body lists (normalized, ranges split)
    in_cdx: bool  # False when collapse=digest hides it (same digest as the one before)
    stored: bool  # False for the capture the archive lacks (404)
    kind: str  # normal | inexact | digest_mismatch | missing | short | host_bits | crlf

    @property
    def time(self) -> dt.datetime:
        return _when(self.timestamp)

    @property
    def snapshot_id(self) -> str:
        return snapshot_id(self.cdx_timestamp, self.digest)

    @property
    def expected_status(self) -> str:
        """``missing`` (404), ``redirected`` (the inexact one), ``digest_mismatch``,
        ``suspect`` (the truncated one) or ``ok``."""
        return EXPECTED_STATUS.get(self.kind, "ok")

    @property
    def counted(self) -> bool:
        """Whether the stage should keep this capture's entries (it is the one asked for)."""
        return self.expected_status in ("ok", "suspect")


@dataclass
class BlocklistTruth:
    """The ground truth of the generated blocklist captures."""

    captures: list[PlantedCapture]
    cdx_urls: dict[str, list[str]]
    #: event -> {target prefix: watched ASN}
    targets: dict[str, dict[str, int]]
    #: event -> [(prefix, origin ASN, listed from)]
    dispersion: dict[str, list[tuple[str, int, dt.datetime]]]
    #: routed prefixes listed throughout (prefix -> origin), and the unrouted ones
    baseline: dict[str, int]
    unrouted: tuple[str, ...]
    faults: dict[str, list[list[Any]]] = field(default_factory=dict)
    #: event -> [(prefix, gaining ASN, listed from)] of a planted displacement
    gained: dict[str, list[tuple[str, int, dt.datetime]]] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    def snapshots(self, list_name: str) -> list[PlantedCapture]:
        """The captures the CDX lists for ``list_name`` (one per row), by CDX timestamp."""
        rows = [c for c in self.captures if c.list_name == list_name and c.in_cdx]
        return sorted(rows, key=lambda c: c.cdx_timestamp)

    def capture(self, list_name: str, snapshot: str) -> PlantedCapture:
        return next(c for c in self.snapshots(list_name) if c.snapshot_id == snapshot)

    def special(self, kind: str) -> PlantedCapture:
        return next(c for c in self.captures if c.kind == kind)


# --------------------------------------------------------------------------------------------
# Ground truth: who originates a listed prefix on a day (longest-prefix match, ipaddress)


def routes_on(day: dt.date, scenario: Scenario) -> dict[ipaddress.IPv4Network, int]:
    """The scenario's prefix-to-AS table of ``day`` (single-origin prefixes only)."""
    routes: dict[ipaddress.IPv4Network, int] = {}
    for prefix, origin in scenario.background:
        current = churned_origin(prefix, origin, day)
        if current.isdigit():
            routes[ipaddress.ip_network(prefix)] = int(current)
    for prefix, asn in scenario.origins_on(day):
        routes[ipaddress.ip_network(prefix)] = asn
    return routes


def origin_space(listed: Sequence[str], day: dt.date, scenario: Scenario) -> dict[int | None, int]:
    """Distinct listed addresses per origin ASN on ``day`` (None: no route), computed with
    ``ipaddress`` by longest-prefix match over the day's prefix-to-AS table of the scenario
    (single-origin background prefixes only; nested listed prefixes count once)."""
    routes = routes_on(day, scenario)
    nets = list(ipaddress.collapse_addresses(ipaddress.ip_network(p) for p in listed))
    out: dict[int | None, int] = {}
    for net in nets:
        for piece, origin in lpm_pieces(net, near_routes(net, routes)):
            out[origin] = out.get(origin, 0) + piece.num_addresses
    return out


def near_routes(
    net: ipaddress.IPv4Network, routes: Mapping[ipaddress.IPv4Network, int]
) -> dict[ipaddress.IPv4Network, int]:
    """The routes overlapping ``net`` (compared as integers: cheaper than ``overlaps``)."""
    lo, hi = int(net.network_address), int(net.broadcast_address)
    return {
        r: a
        for r, a in routes.items()
        if int(r.network_address) <= hi and int(r.broadcast_address) >= lo
    }


def lpm_pieces(
    net: ipaddress.IPv4Network, routes: Mapping[ipaddress.IPv4Network, int]
) -> list[tuple[ipaddress.IPv4Network, int | None]]:
    """Split ``net`` by the most specific route covering each address."""
    covering = [r for r in routes if net.subnet_of(r)]
    inside = sorted((r for r in routes if r.subnet_of(net) and r != net), key=lambda r: r.prefixlen)
    base = routes[max(covering, key=lambda r: r.prefixlen)] if covering else None
    if not inside:
        return [(net, base)]
    pieces: list[tuple[ipaddress.IPv4Network, int | None]] = []
    outer = [r for r in inside if not any(r != o and r.subnet_of(o) for o in inside)]
    rest = [net]
    for sub in outer:
        pieces += lpm_pieces(sub, {r: a for r, a in routes.items() if r.subnet_of(sub)})
        rest = [piece for part in rest for piece in _exclude(part, sub)]
    return pieces + [(part, base) for part in rest]


def _exclude(
    part: ipaddress.IPv4Network, sub: ipaddress.IPv4Network
) -> list[ipaddress.IPv4Network]:
    if sub.subnet_of(part):
        return list(part.address_exclude(sub))
    return [part]


# --------------------------------------------------------------------------------------------
# Helpers


def _when(timestamp: str) -> dt.datetime:
    return dt.datetime.strptime(timestamp, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)


def _stamp(when: dt.datetime) -> str:
    return when.strftime("%Y%m%d%H%M%S")


def wayback_digest(body: bytes) -> str:
    """The CDX ``digest``: base32 of the SHA-1 of the payload."""
    return base64.b32encode(hashlib.sha1(body).digest()).decode()


def _sbl(prefix: str) -> str:
    return f"SBL{10000 + int(hashlib.sha256(prefix.encode()).hexdigest(), 16) % 90000}"


def _isolated_background(scenario: Scenario, avoid: Sequence[str]) -> list[tuple[str, int]]:
    """Background prefixes with one origin, never churned, overlapping nothing else."""
    spans = []
    for prefix, origin in scenario.background:
        net = ipaddress.ip_network(prefix)
        spans.append((int(net.network_address), int(net.broadcast_address), prefix, origin))
    for prefix in avoid:
        net = ipaddress.ip_network(prefix)
        spans.append((int(net.network_address), int(net.broadcast_address), prefix, ""))
    spans.sort(key=lambda s: (s[0], -s[1]))
    overlaps: set[int] = set()
    reach, holder = -1, -1
    for i, (start, end, _, _) in enumerate(spans):
        if start <= reach:
            overlaps.update({i, holder})
        if end > reach:
            reach, holder = end, i
    out = []
    for i, (_, _, prefix, origin) in enumerate(spans):
        if i in overlaps or not origin.isdigit():
            continue
        if all(churned_origin(prefix, origin, d) == origin for d in scenario.days):
            out.append((prefix, int(origin)))
    return out


def _write(root: Path, url: str, data: bytes, when: dt.datetime, files: list[Path]) -> None:
    path = root / raw_relpath(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    stamp = when.timestamp()
    os.utime(path, (stamp, stamp))
    files.append(path)


# --------------------------------------------------------------------------------------------
# Bodies in the three formats


def drop_body(when: dt.datetime, lines: Sequence[str], url: str) -> bytes:
    """A DROP list as the 2016 header shape has it (the 2007-2009 header is unverified)."""
    modified = when - dt.timedelta(hours=3)
    head = [
        f"; Spamhaus DROP List {when:%Y/%m/%d} - (c) {when:%Y} The Spamhaus Project",
        f"; {url}",
        f"; Last-Modified: {format_datetime(modified, usegmt=True)}",
        f"; Expires: {format_datetime(when + dt.timedelta(days=1), usegmt=True)}",
        "; SYNTHETIC test mirror: invented content",
    ]
    return ("\n".join([*head, *lines]) + "\n").encode()


def et_body(when: dt.datetime, addresses: Sequence[str], name: str, block: bool) -> bytes:
    """Emerging Threats Snort rules with the addresses in lists of :data:`ET_CHUNK`."""
    action, label, base = ("drop", "BLOCKING", 2406500) if block else ("alert", "", 2406000)
    rows = [
        f"# Emerging Threats RBN rules: {name} (SYNTHETIC test mirror: invented content)",
        f"# $Id: {name},v 1.{when:%j} {when:%Y/%m/%d %H:%M:%S} $",
        "#",
    ]
    for k in range(0, len(addresses), ET_CHUNK):
        n = k // ET_CHUNK + 1
        msg = f"ET RBN Known {'RBN IP ' + label if block else 'Russian Business Network IP'} ({n})"
        rows.append(
            f"{action} ip [{','.join(addresses[k : k + ET_CHUNK])}] any -> $HOME_NET any "
            f'(msg:"{msg}"; reference:url,doc.emergingthreats.net/bin/view/Main/'
            "RussianBusinessNetwork; threshold: type limit, track by_src, seconds 60, "
            f"count 1; classtype:misc-attack; sid:{base + n - 1}; rev:{when:%j};)"
        )
    return ("\n".join(rows) + "\n").encode()


def rbn_ips_body(lines: Sequence[str]) -> bytes:
    head = ["# Russian Business Network IPs (SYNTHETIC test mirror: invented content)"]
    return ("\n".join([*head, *lines]) + "\n").encode()


def cdx_answer(rows: Sequence[Sequence[str]]) -> bytes:
    """A CDX ``output=json`` answer in the real shape: header row, one row per line."""
    if not rows:
        return b"[]\n"
    lines = [json.dumps(list(CDX_FIELDS), separators=(",", ":"))]
    lines += [json.dumps(list(r), separators=(",", ":")) for r in rows]
    return ("[" + ",\n".join(lines) + "]\n").encode()


# --------------------------------------------------------------------------------------------
# The generator


def generate_blocklists(
    root: Path,
    config: Mapping[str, Any],
    scenario: Scenario,
    rng: random.Random,
    *,
    drop_every_days: int = 2,
    et_every_days: int = 4,
    delist_after_days: int = 3,
    dispersion_step_days: int = 1,
    dispersion_per_event: int = 4,
    baseline_prefixes: int = 30,
    plant_faults: bool = True,
) -> BlocklistTruth:
    """Write the CDX answers and captures of every configured list; return the truth."""
    root = Path(root)
    sources = blocklist_sources(config)
    events = sorted(scenario.events.values(), key=lambda e: e.cutoff)
    targets = {e.event_id: {p: a for a, ps in e.prefixes.items() for p in ps} for e in events}
    moved = [e.move.prefix for e in events if e.move]
    gained = {
        e.event_id: [(p, g.asn, e.cutoff) for g in e.displacement.gainers for p in g.prefixes]
        for e in events
        if e.displacement
    }
    avoid = [p for t in targets.values() for p in t] + moved + list(UNROUTED)
    avoid += [p for rows in gained.values() for p, _, _ in rows]
    pool = _isolated_background(scenario, avoid)
    rng.shuffle(pool)
    needed = baseline_prefixes + 6 + dispersion_per_event * len(events)
    if len(pool) < needed:
        raise ValueError(
            f"the scenario has {len(pool)} usable background prefixes, {needed} needed "
            "(generate the mirror with more background_prefixes)"
        )
    baseline = dict(pool[:baseline_prefixes])
    rotating = [p for p, _ in pool[baseline_prefixes : baseline_prefixes + 6]]
    rest = pool[baseline_prefixes + 6 :]
    dispersion: dict[str, list[tuple[str, int, dt.datetime]]] = {}
    for i, ev in enumerate(events):
        # an event whose moves were not planted (scenario.events[e].move None) gets none listed
        chosen = rest[i * dispersion_per_event : (i + 1) * dispersion_per_event] if ev.move else []
        dispersion[ev.event_id] = [
            (p, a, ev.cutoff + dt.timedelta(days=dispersion_step_days * (j + 1)))
            for j, (p, a) in enumerate(chosen)
        ]
    truth = BlocklistTruth(
        captures=[],
        cdx_urls={},
        targets=targets,
        dispersion=dispersion,
        baseline={**baseline, **{p: a for p, a in pool[baseline_prefixes : baseline_prefixes + 6]}},
        unrouted=UNROUTED,
        gained=gained,
    )
    delist = dt.timedelta(days=delist_after_days)

    def listed_at(when: dt.datetime, k: int, tracked: Sequence[str], n_base: int) -> list[str]:
        out = [*list(baseline)[:n_base], rotating[(k // 2) % len(rotating)], *UNROUTED]
        for ev in events:
            if ev.event_id not in tracked:
                continue
            if when < ev.cutoff + delist:
                out += list(targets[ev.event_id])
            out += [p for p, _, start in dispersion[ev.event_id] if when >= start]
            out += [p for p, _, start in gained.get(ev.event_id, []) if when >= start]
        return sorted(set(out), key=lambda p: (ipaddress.ip_network(p).network_address, p))

    all_events = [e.event_id for e in events]
    for source in sources:
        is_drop = source.format == "drop"
        every = drop_every_days if is_drop else et_every_days
        # DROP lists every event's space; another list only the events whose config
        # scenario.<event>.blocklists names it
        tracked = (
            all_events
            if is_drop
            else [e.event_id for e in events if source.name in e.plant["blocklists"]]
        )
        n_base = baseline_prefixes if is_drop else max(4, baseline_prefixes // 3)
        days = scenario.days[:: max(1, every)]
        planned = []
        for k, day in enumerate(days):
            when = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) + dt.timedelta(
                seconds=rng.randrange(3 * 3600, 20 * 3600)
            )
            planned.append((when, listed_at(when, k, tracked, n_base)))
        truth.captures += _write_list(root, config, source, planned, truth)
    truth.faults = _plant_faults(root, config, truth) if plant_faults else {}
    return truth


def _write_list(
    root: Path,
    config: Mapping[str, Any],
    source: BlocklistSource,
    planned: list[tuple[dt.datetime, list[str]]],
    truth: BlocklistTruth,
) -> list[PlantedCapture]:
    """Write one list's captures and CDX answers; return its planted captures."""
    n = len(planned)
    short = n // 3 if source.format == "drop" and n >= 5 else -1
    host_bits = 1 if source.format == "drop" and n >= 3 else -1
    crlf = n // 2 if source.name == "et_rbn_block" else -1
    captures: list[PlantedCapture] = []
    previous_digest = None
    for k, (when, listed) in enumerate(planned):
        spelling = 1 if source.format == "drop" and len(source.urls) > 1 and k % 3 == 0 else 0
        url = source.urls[spelling]
        kind, shown = "normal", list(listed)
        if k == short:
            kind, shown = "short", listed[:2]
        body, kind = _body(source, when, shown, url, kind, k == host_bits, k == crlf)
        digest = wayback_digest(body)
        stamp = _stamp(when)
        capture = PlantedCapture(
            list_name=source.name,
            original=url,
            timestamp=stamp,
            cdx_timestamp=stamp,
            digest=digest,
            listed=tuple(_normalized(shown, source.format)),
            in_cdx=digest != previous_digest,
            stored=True,
            kind=kind,
        )
        previous_digest = digest
        captures.append(capture)
        _write(root, replay_url(config, stamp, url), body, when, truth.files)
    captures = _plant_inexact_and_missing(root, config, source, captures, truth)
    rows = [
        [c.cdx_timestamp, c.original, "200", c.digest, str(300 + len(c.listed) * 23)]
        for c in captures
        if c.in_cdx
    ]
    last = max((c.time for c in captures), default=dt.datetime(2009, 12, 31, tzinfo=dt.UTC))
    truth.cdx_urls[source.name] = []
    for spelling in source.urls:
        query = cdx_query_url(config, spelling)
        truth.cdx_urls[source.name].append(query)
        _write(root, query, cdx_answer(rows), last + dt.timedelta(days=400), truth.files)
    return captures


def _normalized(shown: Sequence[str], fmt: str) -> list[str]:
    """What a correct parser lists for ``shown`` (the RBN IPs range splits)."""
    out = list(shown)
    if fmt == "rbn_ips" and UNROUTED[1] in shown:
        lo, hi = (ipaddress.ip_address(a) for a in UNROUTED_RANGE)
        out += [str(n) for n in ipaddress.summarize_address_range(lo, hi)]
    return out


def _body(
    source: BlocklistSource,
    when: dt.datetime,
    shown: list[str],
    url: str,
    kind: str,
    host_bits: bool,
    crlf: bool,
) -> tuple[bytes, str]:
    """The capture's bytes in the list's format, with the planted oddity."""
    if source.format == "drop":
        lines = [f"{p} ; {_sbl(p)}" for p in shown]
        if host_bits and kind == "normal":
            i = next(i for i, p in enumerate(shown) if ipaddress.ip_network(p).prefixlen <= 30)
            net = ipaddress.ip_network(shown[i])
            lines[i] = f"{net.network_address + 1}/{net.prefixlen} ; {_sbl(shown[i])}"
            kind = "host_bits"
        return drop_body(when, lines, url), kind
    if source.format == "et_rules":
        body = et_body(when, shown, url.rsplit("/", 1)[-1], block="BLOCK" in url)
        if crlf:
            body, kind = body.replace(b"\n", b"\r\n"), "crlf"
        return body, kind
    lines = []
    for p in shown:
        net = ipaddress.ip_network(p)
        if p == UNROUTED[1]:
            lines.append(f"{UNROUTED_RANGE[0]} - {UNROUTED_RANGE[1]}  # a range, not a CIDR")
            lines.append(p)
        elif net.prefixlen <= 22:
            lines.append(f"{net.network_address}-{net.broadcast_address}")
        else:
            lines.append(p if net.prefixlen < 32 else str(net.network_address))
    return rbn_ips_body(lines), kind


def _plant_inexact_and_missing(
    root: Path,
    config: Mapping[str, Any],
    source: BlocklistSource,
    captures: list[PlantedCapture],
    truth: BlocklistTruth,
) -> list[PlantedCapture]:
    """DROP: one CDX timestamp 47 s early (302); et_rbn: one listed capture not stored (404);
    RBN IPs: one capture whose stored bytes no longer hash to its CDX digest."""
    listed = [i for i, c in enumerate(captures) if c.in_cdx and c.kind == "normal"]
    if source.format == "drop" and len(listed) >= 4:
        i = listed[(2 * len(listed)) // 3]
        c = captures[i]
        early = _stamp(c.time - dt.timedelta(seconds=INEXACT_OFFSET_SECONDS))
        captures[i] = replace(c, cdx_timestamp=early, kind="inexact")
    if source.name == "et_rbn" and len(listed) >= 3:
        i = listed[len(listed) // 2]
        c = captures[i]
        others = [o.time for o in captures if o is not c]
        if min(abs((o - c.time).total_seconds()) for o in others) <= 86400 + 3600:
            raise ValueError("the missing capture has a stored neighbour within a day")
        path = root / raw_relpath(replay_url(config, c.timestamp, c.original))
        path.unlink()
        truth.files.remove(path)
        captures[i] = replace(c, stored=False, kind="missing")
    if source.format == "rbn_ips" and len(listed) >= 3:
        i = listed[len(listed) // 2]
        path = root / raw_relpath(replay_url(config, captures[i].timestamp, captures[i].original))
        mtime = path.stat().st_mtime
        path.write_bytes(path.read_bytes() + RECRAWL_LINE)
        os.utime(path, (mtime, mtime))
        captures[i] = replace(captures[i], kind="digest_mismatch")
    return captures


def _plant_faults(
    root: Path, config: Mapping[str, Any], truth: BlocklistTruth
) -> dict[str, list[list[Any]]]:
    """Two bare 429s on one CDX query, one false capture before one DROP capture."""
    base = "http://mirror"
    faults: dict[str, list[list[Any]]] = {}
    if "et_rbn" in truth.cdx_urls:
        path = mirror_url(truth.cdx_urls["et_rbn"][0], base).removeprefix(base)
        faults[path] = [["wayback_429"], ["wayback_429"]]
    drop = [c for c in truth.captures if c.kind == "normal" and c.in_cdx and "drop" in c.list_name]
    if drop:
        c = drop[0]
        path = mirror_url(replay_url(config, c.cdx_timestamp, c.original), base)
        faults[path.removeprefix(base)] = [["wayback_blocked"]]
    target = root / FAULTS_FILE
    planted = json.loads(target.read_text(encoding="utf-8")) if target.exists() else {}
    planted.update(faults)
    target.write_text(json.dumps(planted, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return faults
