"""Per-file quality control: what every normalize job read, kept and skipped, and why.

Each normalize job writes one small JSON record next to its output; the ``qc`` rule gathers
them into ``data/processed/qc_files.parquet`` so the counts can be queried like any table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

# polars is imported by qc_table alone: a job that writes one QC record does not load it


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
    import polars as pl

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


# --------------------------------------------------------------------------------------------
# Gaps: what a stage expected to have and could not have (days, months), with a threshold

#: The ``stage`` of every gap record in ``qc_files.parquet`` (``source_file`` names the stage).
GAP_STAGE = "gaps"


class TooManyMissing(MalformedInput):
    """More of a stage's expected items are missing than ``qc.max_missing_share`` allows."""


def gap_path(qc_root: Path, stage: str) -> Path:
    """Where a stage's gap record lives: ``<qc_root>/gaps/<stage>.json``."""
    return Path(qc_root) / GAP_STAGE / f"{stage}.json"


def gap_qc(
    stage: str,
    expected: Iterable[str],
    missing: Iterable[str],
    *,
    unit: str,
    truncated: bool = False,
    extra_note: str = "",
) -> FileQC:
    """The gap record of ``stage``: expected items read, present ones kept, missing skipped.

    ``records_read`` counts the expected items, ``records_kept`` the present ones and
    ``skipped`` holds ``missing_<unit>`` (so read = kept + skipped); the note lists every
    missing item. Status ``gaps`` when something is missing, ``suspect`` when only
    ``truncated`` (the input naming the items was itself cut), else ``ok``.
    """
    wanted = list(dict.fromkeys(expected))
    lacking = [m for m in dict.fromkeys(missing) if m in set(wanted)]
    qc = FileQC(stage=GAP_STAGE, source_file=stage, truncated=truncated)
    qc.records_read = len(wanted)
    qc.records_kept = len(wanted) - len(lacking)
    qc.skip(f"missing_{unit}", len(lacking))
    notes = []
    if lacking:
        notes.append(f"{len(lacking)} of {len(wanted)} {unit}s missing: {', '.join(lacking)}")
    if extra_note:
        notes.append(extra_note)
    qc.note = "; ".join(notes)
    qc.status = "gaps" if lacking else ("suspect" if truncated else "ok")
    return qc


def enforce_gap_limit(
    qc: FileQC, missing: Sequence[str], max_share: float, *, shown: int = 5
) -> None:
    """Raise :class:`TooManyMissing` when the record's missing share exceeds ``max_share``.

    ``missing`` is what was given to :func:`gap_qc`. The one-line message names the config
    key, the stage, the count and the first ``shown`` missing items.
    """
    share = qc.records_skipped / qc.records_read if qc.records_read else 0.0
    if share <= max_share:
        return
    items = list(dict.fromkeys(missing))
    first = ", ".join(items[:shown]) + (" ..." if len(items) > shown else "")
    missing_count = qc.records_skipped
    unit = next(iter(qc.skipped), "missing_item").removeprefix("missing_")
    cut = " (the input that lists them was itself cut short)" if qc.truncated else ""
    raise TooManyMissing(
        f"stage {qc.source_file!r}: {missing_count} of {qc.records_read} {unit}s missing "
        f"({share:.1%}), "
        f"more than qc.max_missing_share={max_share:g}; first missing: {first}{cut}"
    )


_MISSING_NOTE = re.compile(r"^\d+ of \d+ [^:;]+? missing: (?P<items>[^;]*)")


def missing_items(qc: FileQC) -> list[str]:
    """The missing items a gap record lists (its note, as :func:`gap_qc` wrote it)."""
    match = _MISSING_NOTE.match(qc.note)
    return match["items"].split(", ") if match else []


def check_gap_record(record: Path, out: Path, max_share: float) -> FileQC:
    """Copy a stage's gap record to ``out`` once its missing share is within ``max_share``
    (``qc.max_missing_share``); past it, raise :class:`TooManyMissing` with the list.

    The record is written by the job that discovers the files (e.g. the pfx2as manifest, a
    checkpoint); the threshold is applied here, in a job of its own, so that changing it
    reruns this check and nothing behind the checkpoint.
    """
    qc = read_qc(Path(record))
    enforce_gap_limit(qc, missing_items(qc), max_share)
    qc.write(Path(out))
    return qc
