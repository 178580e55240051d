"""Jobs of workflow/rules/asrel.smk: CAIDA AS relationships."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from takedowns.asrel import read_as_relationships
from takedowns.joblog import logged_job
from takedowns.jobs._common import _normalize_file


@logged_job
def normalize_as_relationships(
    *, raw: Path, out: Path, qc_out: Path, config: Mapping[str, Any]
) -> None:
    """Normalize one monthly serial-1 AS relationships file."""
    _normalize_file(read_as_relationships, raw, out, qc_out, config)
