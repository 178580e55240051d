"""The study design in code: events, their windows, and which days each profile selects."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from takedowns.config import parse_utc

if TYPE_CHECKING:
    import polars as pl

# polars is imported by the two table builders: a job that only reads events does not load it


@dataclass(frozen=True)
class Event:
    """One takedown as configured: its id, name, watched ASNs and nominal cut-off (UTC)."""

    event_id: str
    name: str
    asns: tuple[int, ...]
    nominal_cutoff: dt.datetime


def events(config: Mapping[str, Any]) -> list[Event]:
    """The configured events, ordered by nominal cut-off."""
    out = [
        Event(
            event_id=event_id,
            name=spec["name"],
            asns=tuple(int(a) for a in spec["asns"]),
            nominal_cutoff=parse_utc(spec["nominal_cutoff"], f"events.{event_id}.nominal_cutoff"),
        )
        for event_id, spec in config["events"].items()
    ]
    return sorted(out, key=lambda e: e.nominal_cutoff)


def study_period(config: Mapping[str, Any]) -> tuple[dt.date, dt.date]:
    """First and last day of the study period (inclusive)."""
    period = config["period"]
    return dt.date.fromisoformat(period["start"]), dt.date.fromisoformat(period["end"])


def event_span(event: Event, config: Mapping[str, Any]) -> tuple[dt.date, dt.date]:
    """First and last day an event's windows touch: [t0 - pre_days, t0 + max(post_days)]."""
    windows = config["windows"]
    t0 = event.nominal_cutoff.date()
    return (
        t0 - dt.timedelta(days=windows["pre_days"]),
        t0 + dt.timedelta(days=max(windows["post_days"])),
    )


def selected_days(config: Mapping[str, Any]) -> list[dt.date]:
    """Days whose daily tables the configured profile downloads, clipped to the study period."""
    profile = config["profiles"][config["profile"]]
    start, end = study_period(config)
    if profile["prefix2as_span"] == "period":
        spans = [(start, end)]
    else:
        spans = [event_span(e, config) for e in events(config)]
    days: set[dt.date] = set()
    for lo, hi in spans:
        lo, hi = max(lo, start), min(hi, end)
        days.update(lo + dt.timedelta(days=i) for i in range((hi - lo).days + 1))
    every = profile["prefix2as_every_days"]
    return [d for d in sorted(days) if (d - start).days % every == 0]


def selected_months(config: Mapping[str, Any]) -> list[dt.date]:
    """First days of the months that contain a selected day (monthly sources)."""
    return sorted({d.replace(day=1) for d in selected_days(config)})


def selected_years(config: Mapping[str, Any]) -> list[int]:
    """The years that contain a selected day (yearly sources: the spam-trap archives)."""
    return sorted({d.year for d in selected_days(config)})


def watched_asns_frame(config: Mapping[str, Any]) -> pl.DataFrame:
    """One row per (event, watched ASN) with the event's name and nominal cut-off."""
    import polars as pl

    rows: Iterable[dict[str, Any]] = (
        {
            "event_id": e.event_id,
            "event_name": e.name,
            "asn": asn,
            "nominal_cutoff": e.nominal_cutoff,
        }
        for e in events(config)
        for asn in e.asns
    )
    return pl.DataFrame(
        list(rows),
        schema={
            "event_id": pl.String,
            "event_name": pl.String,
            "asn": pl.UInt32,
            "nominal_cutoff": pl.Datetime("us", "UTC"),
        },
    )


def events_frame(config: Mapping[str, Any]) -> pl.DataFrame:
    """One row per event: name, nominal cut-off and the analysis windows (days)."""
    import polars as pl

    windows = config["windows"]
    return pl.DataFrame(
        [
            {
                "event_id": e.event_id,
                "event_name": e.name,
                "nominal_cutoff": e.nominal_cutoff,
                "pre_days": windows["pre_days"],
                "post_days": sorted(windows["post_days"]),
                "max_post_days": max(windows["post_days"]),
            }
            for e in events(config)
        ],
        schema={
            "event_id": pl.String,
            "event_name": pl.String,
            "nominal_cutoff": pl.Datetime("us", "UTC"),
            "pre_days": pl.Int32,
            "post_days": pl.List(pl.Int32),
            "max_post_days": pl.Int32,
        },
    )
