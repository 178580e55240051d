"""What a generated SYNTHETIC mirror plants: the ground truth the generators write and the
tests check (:class:`Scenario` and the planted events, moves and displacements), and the
background churn every generator applies alike. The generators (:mod:`takedowns.synthetic.
generate` and its ``gen_*`` modules) import from here, never from each other's internals.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class PlantedMove:
    """A target prefix that a new origin announces from ``from_day`` on."""

    prefix: str
    new_origin: int
    from_day: dt.date


@dataclass(frozen=True)
class PlantedGainer:
    """A network that gains a planted share of the target's activity from the cut-off on.

    It originates ``prefixes`` (``addresses`` in all) on every day of the mirror; they are
    listed from the cut-off on, and it sends ``spam_per_day`` messages a day after it (pro
    rata on the cut-off day).
    """

    asn: int
    prefixes: tuple[str, ...]
    addresses: int
    spam_per_day: int
    successor: bool  # named a successor of the event in data/reference/events.csv


@dataclass(frozen=True)
class PlantedDisplacement:
    """What of a target's activity moves at its cut-off, and where to.

    ``mode`` ``one``: all of the moved share goes to one network (the event's first successor
    in data/reference/events.csv, else a private ASN); ``many``: it is split evenly over ten
    networks. Before the cut-off the target sends ``target_spam_per_day`` messages a day and
    has ``target_addresses`` listed; after it the gainers together send about ``share`` of
    that volume and have about ``share`` of that space listed (whole /24s, at least one each).
    """

    mode: str
    share: float
    target_spam_per_day: int
    target_addresses: int
    gainers: tuple[PlantedGainer, ...]

    @property
    def gained_spam_per_day(self) -> int:
        return sum(g.spam_per_day for g in self.gainers)

    @property
    def gained_addresses(self) -> int:
        return sum(g.addresses for g in self.gainers)


@dataclass
class PlantedEvent:
    """What the generator planted for one event."""

    event_id: str
    cutoff: dt.datetime
    prefixes: dict[int, tuple[str, ...]]
    providers: dict[int, tuple[int, ...]]
    move: PlantedMove | None
    displacement: PlantedDisplacement | None = None
    restored: list[tuple[dt.date, int]] = field(default_factory=list)  # (day, via upstream)
    # config scenario.<event>: botnet_weight, botnet_remaining, country, blocklists
    plant: dict[str, Any] = field(default_factory=dict)


@dataclass
class Scenario:
    """The ground truth of a generated mirror."""

    days: list[dt.date]
    snapshot_times: dict[dt.date, dt.datetime]
    collectors: dict[dt.date, str]
    events: dict[str, PlantedEvent]
    background: list[tuple[str, str]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    blocklists: Any = None  # BlocklistTruth of takedowns.synthetic.gen_blocklists
    spam: Any = None  # SpamTruth of takedowns.synthetic.gen_spam
    delegations: Any = None  # DelegationTruth of takedowns.synthetic.gen_delegations
    routing: Any = None  # RoutingTruth of takedowns.synthetic.gen_routing

    def origins_on(self, day: dt.date) -> list[tuple[str, int]]:
        """(prefix, origin ASN) pairs of the planted networks in the snapshot of ``day`` (at
        noon on a day the mirror serves no prefix-to-AS snapshot for)."""
        noon = dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC)
        when = self.snapshot_times.get(day, noon)
        out = []
        for ev in self.events.values():
            if when < ev.cutoff:
                out += [(p, asn) for asn, ps in ev.prefixes.items() for p in ps]
            if ev.move and day >= ev.move.from_day:
                out.append((ev.move.prefix, ev.move.new_origin))
            if ev.displacement:
                out += [(p, g.asn) for g in ev.displacement.gainers for p in g.prefixes]
        return out

    def address_space(self, asn: int, day: dt.date) -> int:
        """Distinct addresses ``asn`` originates on ``day`` (nested prefixes counted once)."""
        nets = [ipaddress.ip_network(p) for p, a in self.origins_on(day) if a == asn]
        return sum(n.num_addresses for n in ipaddress.collapse_addresses(nets))


def churned_origin(prefix: str, origin: str, day: dt.date) -> str:
    """About 1 in 200 background prefixes shows another origin on a given day."""
    digest = hashlib.sha256(f"{prefix}|{day}".encode()).digest()
    if digest[0] == 0 and digest[1] < 128:
        return str(1000 + int.from_bytes(digest[2:4], "big") % 59000)
    return origin
