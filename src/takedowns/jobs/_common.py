"""What the job functions of every stage share: the download, the raw-file check and the
normalize-and-QC step, the gap records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from takedowns.joblog import LOGGER
from takedowns.provenance import parquet_metadata
from takedowns.qc import FileQC, MalformedInput, read_qc
from takedowns.sources.ledger import verify_raw
from takedowns.tables import write_parquet

RAW_ROOT = Path("data/raw")


CHECKSUMS = RAW_ROOT / "SHA256SUMS"


def _source_name(raw: Path) -> str:
    return str(Path(raw).relative_to(RAW_ROOT)) if Path(raw).is_relative_to(RAW_ROOT) else str(raw)


def _normalize_file(
    read: Callable[..., tuple[pl.DataFrame, FileQC]],
    raw: Path,
    out: Path,
    qc_out: Path,
    config: Mapping[str, Any],
    note: str = "",
) -> None:
    """Verify a raw file, parse it with ``read``, write its table and its QC record (with
    ``note`` added to the parser's); the calling job's log gets the counts."""
    sha = verify_raw(Path(raw), CHECKSUMS)
    frame, qc = read(
        Path(raw), _source_name(raw), max_malformed=config["qc"]["max_malformed_records"]
    )
    qc.sha256 = sha
    if note:
        qc.note = f"{qc.note}; {note}" if qc.note else note
    write_parquet(frame, Path(out), metadata=parquet_metadata(config, source=qc.source_file))
    qc.write(Path(qc_out))
    LOGGER.info(
        "%s: read %d, kept %d, skipped %s %s",
        raw,
        qc.records_read,
        qc.records_kept,
        qc.skipped or "none",
        qc.note,
    )


def _check_qc(qc_paths: Sequence[Path], config: Mapping[str, Any]) -> None:
    for path in qc_paths:
        qc = read_qc(Path(path))
        if qc.status != "ok" and not config["qc"]["allow_partial_files"]:
            raise MalformedInput(
                f"{qc.source_file}: QC status {qc.status!r} ({qc.note}); refusing to use it "
                "(set qc.allow_partial_files: true to accept flagged files)"
            )


def _cutoffs(path: Path) -> dict[str, dt.datetime]:
    """event_id -> t0 (UTC) from the routing summary (measured, else nominal)."""
    frame = pl.read_csv(path, try_parse_dates=True)
    return {
        r["event_id"]: r["t0"].replace(tzinfo=dt.UTC) if r["t0"].tzinfo is None else r["t0"]
        for r in frame.iter_rows(named=True)
    }
