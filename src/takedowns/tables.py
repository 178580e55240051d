"""Writing the workflow's tables: typed, zstd-compressed Parquet, written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa


def write_parquet(
    frame: pl.DataFrame | pa.Table, path: Path, *, metadata: dict[str, str] | None = None
) -> None:
    """Write ``frame`` (polars or Arrow) to ``path`` (zstd) via a temporary file, with
    key-value metadata.

    A reader never sees half a file: the table appears under its name only when complete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = frame.to_arrow() if hasattr(frame, "to_arrow") else frame
    if metadata:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(path)
