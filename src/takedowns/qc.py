"""Per-file quality control: what every normalize job read, kept and skipped, and why.

Each normalize job writes one small JSON record next to its output; the ``qc`` rule gathers
them into ``data/processed/qc_files.parquet`` so the counts can be queried like any table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl


class MalformedInput(ValueError):
    """A raw file is truncated, corrupt or holds more malformed records than allowed."""


@dataclass
class FileQC:
    """Counts for one raw file as one normalize job saw it."""

    stage: str
    source_file: str
    sha256: str = ""
    records_read: int = 0
    records_kept: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    truncated: bool = False
    status: str = "ok"  # ok | partial
    note: str = ""

    def skip(self, reason: str, count: int = 1) -> None:
        """Count ``count`` records skipped for ``reason``."""
        if count:
            self.skipped[reason] = self.skipped.get(reason, 0) + int(count)

    @property
    def records_skipped(self) -> int:
        return sum(self.skipped.values())

    def write(self, path: Path) -> None:
        """Write the record as JSON (atomically: a reader never sees half a file)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(path)


def read_qc(path: Path) -> FileQC:
    """Read one QC record (an unreadable one is an error naming the file)."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        return FileQC(**json.loads(text))
    except (json.JSONDecodeError, TypeError) as exc:
        raise MalformedInput(f"{path}: not a QC record ({exc}; {len(text)} bytes)") from exc


def enforce_malformed_limit(qc: FileQC, limit: int, examples: Mapping[str, str]) -> None:
    """Fail with a message naming the file when more records were malformed than allowed."""
    if qc.records_skipped > limit:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(qc.skipped.items()))
        first = "; ".join(f"{k}: {v}" for k, v in sorted(examples.items()))
        raise MalformedInput(
            f"{qc.source_file}: {qc.records_skipped} malformed records ({reasons}), "
            f"more than qc.max_malformed_records={limit}; first of each: {first}"
        )


def qc_table(paths: Iterable[Path]) -> pl.DataFrame:
    """Gather QC records into one table (skipped counts as a JSON text column)."""
    rows = []
    for p in paths:
        q = read_qc(p)
        row = asdict(q)
        row["records_skipped"] = q.records_skipped
        row["skipped"] = json.dumps(q.skipped, sort_keys=True)
        rows.append(row)
    schema = {
        "stage": pl.String,
        "source_file": pl.String,
        "sha256": pl.String,
        "records_read": pl.Int64,
        "records_kept": pl.Int64,
        "records_skipped": pl.Int64,
        "skipped": pl.String,
        "truncated": pl.Boolean,
        "status": pl.String,
        "note": pl.String,
    }
    return pl.DataFrame(rows, schema=schema).select(list(schema))
