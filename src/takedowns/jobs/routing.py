"""Jobs of workflow/rules/routing.smk: RouteViews and RIS listings, dumps and updates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from takedowns.joblog import LOGGER, logged_job
from takedowns.jobs._common import CHECKSUMS
from takedowns.jobs.gaps import _write_gaps
from takedowns.sources.ledger import verify_raw


@logged_job
def routing_gaps(*, selections: Sequence[Path], out: Path, config: Mapping[str, Any]) -> None:
    """The gap record of the RIB days without a dump, over every listing's selection; stop
    past ``qc.max_missing_share``."""
    from takedowns.routing import listings as routing_sources

    paths = [Path(p) for p in selections if str(p).endswith(".csv")]
    gaps, missing = routing_sources.rib_gaps(routing_sources.read_selection(paths), config)
    LOGGER.info("%d RIB days expected, %d missing %s", gaps.records_read, len(missing), gaps.note)
    _write_gaps(gaps, missing, Path(out), config)


@logged_job
def routing_listing(*, listing_id: str, page: Path, out: Path, config: Mapping[str, Any]) -> None:
    """Select the dumps and update files of one month listing."""
    from takedowns.routing import listings as routing_sources

    verify_raw(Path(page), CHECKSUMS)
    listing = routing_sources.listing_by_id(config, listing_id)
    chosen = routing_sources.select_from_listing(Path(page), listing, config)
    routing_sources.write_selection(chosen, Path(out))
    LOGGER.info("%s: %d files selected", listing.url, chosen.height)
