"""CAIDA AS relationships (serial-1): monthly ``YYYYMM01.as-rel.txt.bz2`` to a typed table.

Lines are ``a|b|-1`` (a is a provider of b) or ``a|b|0`` (a and b are peers); ``#`` lines are
comments. The table keeps one row per link and month, oriented provider -> customer for p2c.
"""

from __future__ import annotations

import bz2
import datetime as dt
import re
from pathlib import Path

import polars as pl

from takedowns.qc import FileQC, MalformedInput, enforce_malformed_limit

FILE_NAME_RE = re.compile(r"(?P<date>\d{8})\.as-rel\.txt(?:\.bz2)?$")
LINE_RE = r"^(\d{1,10})\|(\d{1,10})\|(-1|0)$"
SCHEMA = {
    "month": pl.Date,
    "as1": pl.UInt32,
    "as2": pl.UInt32,
    "relationship": pl.Int8,
    "kind": pl.String,
}


def file_name(month: dt.date) -> str:
    """Serial-1 file name of a month: ``20080101.as-rel.txt.bz2``."""
    return f"{month:%Y%m}01.as-rel.txt.bz2"


def _read_text(path: Path) -> str:
    try:
        if str(path).endswith(".bz2"):
            with bz2.open(path, "rb") as fh:
                return fh.read().decode("utf-8", errors="replace")
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except (EOFError, OSError) as exc:
        raise MalformedInput(f"{path}: truncated or corrupt bz2 file ({exc})") from exc


def read_as_relationships(
    path: Path, source_file: str, *, max_malformed: int = 0
) -> tuple[pl.DataFrame, FileQC]:
    """Parse one serial-1 file into :data:`SCHEMA` rows and QC counts.

    ``as1`` is the provider for ``kind == 'p2c'`` (relationship -1) and either peer for
    ``'p2p'`` (relationship 0). Lines of another shape are counted and, beyond
    ``max_malformed``, fail the job with the file and first bad line named.
    """
    match = FILE_NAME_RE.search(Path(source_file).name)
    if not match:
        raise MalformedInput(f"{source_file}: not a serial-1 as-rel file name")
    month = dt.datetime.strptime(match["date"], "%Y%m%d").date()
    lines = pl.DataFrame({"line": _read_text(path).splitlines()}).with_row_index("line_no", 1)
    lines = lines.filter(
        ~pl.col("line").str.starts_with("#") & (pl.col("line").str.strip_chars() != "")
    )
    qc = FileQC(stage="as_relationships", source_file=source_file, records_read=lines.height)
    parsed = lines.with_columns(
        as1=pl.col("line").str.extract(LINE_RE, 1).cast(pl.UInt64, strict=False),
        as2=pl.col("line").str.extract(LINE_RE, 2).cast(pl.UInt64, strict=False),
        relationship=pl.col("line").str.extract(LINE_RE, 3).cast(pl.Int8, strict=False),
    )
    bad_shape = parsed["relationship"].is_null() | (parsed["as1"] > 2**32 - 1).fill_null(True)
    bad_shape = bad_shape | (parsed["as2"] > 2**32 - 1).fill_null(True)
    bad = parsed.filter(bad_shape)
    qc.skip("malformed_line", bad.height)
    examples = (
        {"malformed_line": f"line {bad['line_no'][0]} {bad['line'][0]!r}"} if bad.height else {}
    )
    enforce_malformed_limit(qc, max_malformed, examples)
    out = parsed.filter(~bad_shape).select(
        pl.lit(month).alias("month"),
        pl.col("as1").cast(pl.UInt32),
        pl.col("as2").cast(pl.UInt32),
        "relationship",
        pl.when(pl.col("relationship") == -1)
        .then(pl.lit("p2c"))
        .otherwise(pl.lit("p2p"))
        .alias("kind"),
    )
    qc.records_kept = out.height
    return out.cast(SCHEMA), qc


def providers_of(table: pl.DataFrame, asn: int) -> list[int]:
    """The providers of ``asn`` in a relationships table (sorted)."""
    rows = table.filter((pl.col("kind") == "p2c") & (pl.col("as2") == asn))
    return sorted(rows["as1"].to_list())
