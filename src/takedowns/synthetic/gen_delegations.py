"""SYNTHETIC RIR delegated statistics files for the loopback mirror.

:func:`generate_delegations` writes, for every month the config selects and every
registry, the file of the 1st in the registry's first candidate directory
(``sources.rir_delegated.directories``), compressed as :data:`DEMO_COMPRESSION` says
(``.bz2``, ``.gz`` or plain); the mirror server lists the directories as the archives do.
The address space of the scenario (background prefixes and the events' networks) is merged
into disjoint delegations, so ranges whose size is not a power of two appear as in the real
files; each registry holds the space of its /8s. Version, summary, asn and ipv6 lines are included.
The expected country of every delegation is returned so tests can check attribution.

:func:`write_delegated_file` writes one registry's file of one day into any directory
(a year folder, an ``archive/<year>/`` folder or a flat one), plain, ``.gz`` or ``.bz2``, in
the standard or the ``-extended-`` naming: the layout variants the registries' archives use,
which :func:`takedowns.spamtrap.delegations.discover_delegated` must find from the listings.
"""

from __future__ import annotations

import bz2
import datetime as dt
import gzip
import hashlib
import ipaddress
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from takedowns.paths import raw_relpath
from takedowns.spamtrap.delegations import registry_months
from takedowns.study import selected_months
from takedowns.synthetic.scenario import Scenario

#: Registry of each first octet the generator uses (RIR-like, invented for the mirror).
REGISTRY_OF_OCTET = {
    12: "arin", 24: "arin", 64: "arin", 69: "arin", 208: "arin", 216: "arin",
    41: "afrinic",
    58: "apnic", 121: "apnic", 150: "apnic",
    190: "lacnic", 200: "lacnic",
    62: "ripencc", 80: "ripencc", 81: "ripencc", 85: "ripencc", 217: "ripencc",
}  # fmt: skip
COUNTRIES = {
    "afrinic": ["ZA", "EG", "NG", "KE"],
    "apnic": ["CN", "JP", "KR", "AU", "IN"],
    "arin": ["US", "CA"],
    "lacnic": ["BR", "AR", "MX", "CL"],
    "ripencc": ["RU", "DE", "GB", "NL", "UA"],
}


@dataclass
class DelegationTruth:
    """What the generated files say: one row per IPv4 delegation (same for every month)."""

    ranges: pl.DataFrame  # registry, country, start_ip, end_ip (UInt32), addresses
    urls: list[str]
    files: list[Path] = field(default_factory=list)

    def country_of(self, ip: int) -> str | None:
        hit = self.ranges.filter((pl.col("start_ip") <= ip) & (pl.col("end_ip") >= ip))
        return hit["country"][0] if hit.height else None


def _registry(net: ipaddress.IPv4Network) -> str:
    return REGISTRY_OF_OCTET.get(int(net.network_address) >> 24, "arin")


def _country(registry: str, start: int) -> str:
    digest = hashlib.sha256(f"{registry}|{start >> 16}".encode()).digest()
    options = COUNTRIES[registry]
    return options[digest[0] % len(options)]


def _ranges(scenario: Scenario) -> list[tuple[str, str, int, int]]:
    """Disjoint (registry, country, start, end) delegations covering the scenario's space."""
    event_nets: dict[ipaddress.IPv4Network, str] = {}
    for ev in scenario.events.values():
        prefixes = [p for ps in ev.prefixes.values() for p in ps]
        if ev.move:
            prefixes.append(ev.move.prefix)
        for p in prefixes:
            # the country config scenario.<event>.country gives the event's networks
            event_nets[ipaddress.ip_network(p)] = ev.plant["country"]
    background = [ipaddress.ip_network(p) for p, _ in scenario.background]
    out = []
    for net in ipaddress.collapse_addresses(list(event_nets)):
        country = next(c for n, c in event_nets.items() if n.subnet_of(net))
        out.append((_registry(net), country, int(net.network_address), int(net.broadcast_address)))
    taken = list(ipaddress.collapse_addresses(list(event_nets)))
    free = [n for n in background if not any(n.overlaps(t) for t in taken)]
    blocks = sorted(ipaddress.collapse_addresses(free))
    # Adjacent blocks of one registry and country become one range (any size).
    merged: list[list[Any]] = []
    for net in blocks:
        reg = _registry(net)
        start, end = int(net.network_address), int(net.broadcast_address)
        country = _country(reg, start)
        if (
            merged
            and merged[-1][0] == reg
            and merged[-1][1] == country
            and merged[-1][3] + 1 == start
        ):
            merged[-1][3] = end
        else:
            merged.append([reg, country, start, end])
    out += [tuple(m) for m in merged]  # type: ignore[misc]
    return sorted(out, key=lambda t: t[2])  # type: ignore[return-value]


def _file_text(registry: str, day: dt.date, ranges: list[tuple[str, str, int, int]],
               rng: random.Random, *, extended: bool = False) -> str:  # fmt: skip
    """A delegated file; ``extended``: the extended format (an opaque id after the status)."""
    records = []
    for reg, country, start, end in ranges:
        if reg != registry:
            continue
        date = f"{2000 + start % 8}{1 + start % 12:02d}{1 + start % 27:02d}"
        status = "assigned" if (start >> 8) % 5 == 0 else "allocated"
        first = ipaddress.IPv4Address(start)
        records.append(f"{registry}|{country}|ipv4|{first}|{end - start + 1}|{date}|{status}")
    n_asn = rng.randrange(2, 5)
    asns = [
        f"{registry}|{rng.choice(COUNTRIES[registry])}|asn|{64512 + i}|1|20050101|allocated"
        for i in range(n_asn)
    ]
    v6 = [f"{registry}|{COUNTRIES[registry][0]}|ipv6|2001:db8:{n:x}::|32|20060101|allocated"
          for n in range(2)]  # fmt: skip
    body = asns + records + v6
    if extended:
        body = [f"{line}|{hashlib.sha256(line.encode()).hexdigest()[:8]}" for line in body]
    header = [
        f"2|{registry}|{day:%Y%m%d}|{len(body)}|19930101|{day - dt.timedelta(days=1):%Y%m%d}|+0000",
        f"{registry}|*|asn|*|{len(asns)}|summary",
        f"{registry}|*|ipv4|*|{len(records)}|summary",
        f"{registry}|*|ipv6|*|{len(v6)}|summary",
    ]
    return "# SYNTHETIC delegated file (takedowns test mirror)\n" + "\n".join(header + body) + "\n"


#: The compression of each registry's generated files (the variety the real archives show).
DEMO_COMPRESSION = {"afrinic": "", "apnic": "gz", "arin": "", "lacnic": "", "ripencc": "bz2"}


def write_delegated_file(
    root: Path,
    directory: str,
    registry: str,
    day: dt.date,
    rng: random.Random,
    *,
    compression: str = "",
    extended: bool = False,
    ranges: list[tuple[str, str, int, int]] | None = None,
) -> tuple[str, Path]:
    """Write ``registry``'s file of ``day`` into the tree under the directory URL
    ``directory`` (``/``-ended), named ``delegated-<registry>[-extended]-YYYYMMDD`` with the
    suffix of ``compression`` (``"gz"``, ``"bz2"`` or ``""`` for plain); ``ranges`` as
    :func:`_ranges` gives them (none: asn and ipv6 records only). Returns URL and path."""
    if not directory.endswith("/"):
        raise ValueError(f"{directory!r}: a directory URL must end with '/'")
    if compression not in ("", "gz", "bz2"):
        raise ValueError(f"compression {compression!r}: one of 'gz', 'bz2' or '' (plain)")
    kind = "extended-" if extended else ""
    suffix = f".{compression}" if compression else ""
    url = f"{directory}delegated-{registry}-{kind}{day:%Y%m%d}{suffix}"
    text = _file_text(registry, day, ranges or [], rng, extended=extended)
    return url, _write_at(root, url, day, text)


def _write_at(root: Path, url: str, day: dt.date, text: str) -> Path:
    """Write ``text`` at ``url``'s place in the tree, compressed as its name says (``.bz2``,
    ``.gz`` or plain), dated 06:00 UTC of ``day``."""
    if url.endswith(".bz2"):
        data = bz2.compress(text.encode())
    elif url.endswith(".gz"):
        data = gzip.compress(text.encode(), mtime=0)
    else:
        data = text.encode()
    path = root / raw_relpath(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    stamp = dt.datetime(day.year, day.month, day.day, 6, tzinfo=dt.UTC).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def generate_delegations(
    root: Path, config: Mapping[str, Any], scenario: Scenario, rng: random.Random
) -> DelegationTruth:
    """Write every configured registry's file for each selected month; return the truth."""
    ranges = _ranges(scenario)
    urls, files = [], []
    directories = config["sources"]["rir_delegated"]["directories"]
    for registry, month in registry_months(config, selected_months(config)):
        # the first candidate directory of the registry, in the compression its archive
        # used (the workflow finds it from the listing whatever the layout)
        directory = directories[registry][0].format(year=f"{month:%Y}")
        url, path = write_delegated_file(
            root, directory, registry, month, rng,
            compression=DEMO_COMPRESSION[registry], ranges=ranges,
        )  # fmt: skip
        files.append(path)
        urls.append(url)
    frame = pl.DataFrame(
        ranges,
        schema={
            "registry": pl.String,
            "country": pl.String,
            "start_ip": pl.UInt32,
            "end_ip": pl.UInt32,
        },
        orient="row",
    ).with_columns(addresses=(pl.col("end_ip").cast(pl.UInt64) - pl.col("start_ip") + 1))
    scenario.files.extend(files)
    return DelegationTruth(frame, urls, files)
