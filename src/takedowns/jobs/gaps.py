"""The gap check of every stage that may lack files: a gap record against
``qc.max_missing_share``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from takedowns.joblog import LOGGER, logged_job
from takedowns.qc import FileQC, enforce_gap_limit


@logged_job
def check_gaps(*, record: Path, out: Path, config: Mapping[str, Any]) -> None:
    """Apply ``qc.max_missing_share`` to a stage's gap record and write it where QC reads it."""
    from takedowns.qc import check_gap_record

    qc = check_gap_record(Path(record), Path(out), float(config["qc"]["max_missing_share"]))
    LOGGER.info(
        "%s: %d of %d present %s", qc.source_file, qc.records_kept, qc.records_read, qc.note
    )


def _write_gaps(
    gaps: FileQC, missing: Sequence[str], out: Path | None, config: Mapping[str, Any]
) -> None:
    """Write a gap record (when ``out`` is given), then stop past ``qc.max_missing_share``."""
    if out is not None:
        gaps.write(Path(out))
    enforce_gap_limit(gaps, missing, float(config["qc"]["max_missing_share"]))
