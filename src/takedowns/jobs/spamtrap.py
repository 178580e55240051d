"""Jobs of workflow/rules/spamtrap.smk: the spam-trap archives, registry delegations and
attribution."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from takedowns.joblog import LOGGER, logged_job
from takedowns.jobs._common import CHECKSUMS, _check_qc, _normalize_file, _source_name
from takedowns.jobs.sources import download
from takedowns.provenance import parquet_metadata
from takedowns.qc import read_qc
from takedowns.sources.ledger import verify_raw
from takedowns.tables import write_parquet

# --------------------------------------------------------------------------------------------
# The spam trap and registry delegations


@logged_job
def normalize_spam_archive(
    *,
    raw: Path,
    out: Path,
    qc_out: Path,
    config: Mapping[str, Any],
    exchangers_out: Path | None = None,
) -> None:
    """Stream one yearly spam-trap archive into spam_messages and write its QC record.

    ``exchangers_out``: the ``spam_exchangers`` tally (topmost ``by`` host per month); a
    month where ``spamtrap.exchanger_pattern`` finds the trap's header in less than
    ``spamtrap.min_exchanger_share`` of the messages fails the job.
    """
    from takedowns.spamtrap import archive as spamtrap

    sha = verify_raw(Path(raw), CHECKSUMS)
    s = config["spamtrap"]
    qc = spamtrap.normalize_archive(
        Path(raw),
        Path(out),
        source_file=_source_name(raw),
        exchanger_pattern=s["exchanger_pattern"],
        max_header_bytes=s["max_header_bytes"],
        time_disagreement_minutes=s["time_disagreement_minutes"],
        min_exchanger_share=s["min_exchanger_share"],
        max_skipped=config["qc"]["max_malformed_records"],
        metadata=parquet_metadata(config, source=_source_name(raw)),
        exchangers_out=None if exchangers_out is None else Path(exchangers_out),
    )
    qc.sha256 = sha
    qc.write(Path(qc_out))
    LOGGER.info(
        "%s: read %d, kept %d, skipped %s; %s",
        raw,
        qc.records_read,
        qc.records_kept,
        qc.skipped or "none",
        qc.note,
    )


@logged_job
def normalize_delegated(
    *,
    raw: Path,
    out: Path,
    qc_out: Path,
    config: Mapping[str, Any],
    note: str = "",
) -> None:
    """Normalize one RIR delegated file (allocated/assigned IPv4) and write its QC record
    (``note``: how the file was found)."""
    from takedowns.spamtrap import delegations

    _normalize_file(delegations.read_delegated, raw, out, qc_out, config, note)


@logged_job
def delegated_month(
    *,
    registry: str,
    month: str,
    out: Path,
    qc_out: Path,
    config: Mapping[str, Any],
) -> None:
    """Find one registry month's delegated file in the registry's directory listings (the
    file nearest the 1st, :func:`takedowns.spamtrap.delegations.discover_delegated`), download (or
    reuse) and normalize it; its QC note names the URL used and the listings read. A month
    without such a file (or whose file the archive answers 404/410 for) gives an empty table
    and QC status ``missing``, which the ip_country job counts as a gap."""
    from takedowns.errors import HTTPStatusError
    from takedowns.sources.registry import raw_path
    from takedowns.spamtrap import delegations

    def fetch_raw(url: str) -> Path:
        raw = Path(raw_path(url))
        download(url=url, out=raw, config=config)
        return raw

    src = config["sources"]["rir_delegated"]
    first = dt.datetime.strptime(month, "%Y%m").date()
    found = delegations.discover_delegated(
        registry, first, src["directories"][registry], src["max_age_days"], fetch_raw
    )
    LOGGER.info("%s", found.note)
    raw: Path | None = None
    if found.chosen is not None:
        try:
            raw = fetch_raw(found.chosen.url)
        except HTTPStatusError as exc:
            if exc.status not in delegations.NOT_THERE:
                raise
    if raw is None:
        url = found.chosen.url if found.chosen else f"{registry} {first:%Y-%m}"
        qc = delegations.missing_month_qc(f"{registry}/{month}", url)
        qc.note = f"{qc.note}; {found.note}"
        meta = parquet_metadata(config, source=qc.source_file)
        write_parquet(delegations.empty_table(), Path(out), metadata=meta)
        qc.write(Path(qc_out))
        LOGGER.warning("%s", qc.note)
        return
    normalize_delegated(raw=raw, out=out, qc_out=qc_out, config=config, note=found.note)


@logged_job
def ip_country(
    *,
    tables: Sequence[Path],
    qc_paths: Sequence[Path],
    out: Path,
    config: Mapping[str, Any],
    gaps_out: Path | None = None,
) -> None:
    """Stack the monthly delegation tables into ip_country with validity periods; write the
    gap record of the registry months without a file (``gaps_out``; the threshold
    ``qc.max_missing_share`` is applied to it by :func:`check_gaps`)."""
    from takedowns.spamtrap import delegations

    gaps, missing = delegations.month_gaps([Path(p) for p in qc_paths])
    LOGGER.info("%d registry months, %d missing %s", gaps.records_read, len(missing), gaps.note)
    if gaps_out is not None:
        gaps.write(Path(gaps_out))
    _check_qc([p for p in qc_paths if read_qc(Path(p)).status != "missing"], config)
    frame = delegations.build_ip_country(
        [pl.read_parquet(p) for p in tables],
        max_age_days=config["sources"]["rir_delegated"]["max_age_days"],
    )
    write_parquet(frame, Path(out), metadata=parquet_metadata(config))
    LOGGER.info("%d files -> %d ranges", len(tables), frame.height)


@logged_job
def attribute_spam(
    *,
    messages: Path,
    qc_path: Path,
    episodes: Path,
    ip_country: Path,
    out: Path,
    config: Mapping[str, Any],
) -> None:
    """Attribute one year's spam relays to origin AS(es) and country as of their day."""
    from takedowns.spamtrap import archive as spamtrap

    _check_qc([qc_path], config)
    frame = spamtrap.attribute_messages(
        pl.read_parquet(messages), pl.read_parquet(episodes), pl.read_parquet(ip_country)
    )
    write_parquet(frame, Path(out), metadata=parquet_metadata(config))
    LOGGER.info(
        "%s: %d messages, %d routed",
        messages,
        frame.height,
        int((frame["origins"].list.len() > 0).sum()),
    )
