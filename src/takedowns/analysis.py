"""Run the study's DuckDB SQL files over the processed Parquet tables."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from takedowns.provenance import mark_result


def connect(
    views_sql: Path, variables: Mapping[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with every view of ``analysis/views.sql`` defined.

    Paths inside the views are relative to the current directory (the workflow's). The cited
    reference tables are registered as ``reference_events`` and ``published_figures``, and
    each of ``variables`` is set for ``getvariable(name)`` in the SQL.
    """
    from takedowns.reference import load_events, load_published_figures

    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.register("reference_events", load_events().to_arrow())
    con.register("published_figures", load_published_figures().to_arrow())
    for name, value in (variables or {}).items():
        con.execute(f"SET VARIABLE {name} = ?", [value])
    con.execute(Path(views_sql).read_text(encoding="utf-8"))
    return con


def view_definition(views_sql: Path, name: str) -> str:
    """The ``CREATE OR REPLACE VIEW <name> ...;`` statement of ``analysis/views.sql``, alone
    (for a connection that registers the tables beneath it some other way)."""
    text = Path(views_sql).read_text(encoding="utf-8")
    start = text.index(f"CREATE OR REPLACE VIEW {name} AS")
    return text[start : text.index(";", start) + 1]


def sql_variables(config: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration values the SQL files read with ``getvariable``."""
    from takedowns.routing_sources import sql_parameters

    return {
        "concentration_list": config["blocklists"]["concentration_list"],
        "rehoming_days": config["verdict"]["rehoming_days"],
        **sql_parameters(config),
    }


def query_file(
    views_sql: Path, query_sql: Path, variables: Mapping[str, Any] | None = None
) -> pl.DataFrame:
    """Run one SQL file (a single SELECT) after the views, returning a polars frame."""
    con = connect(views_sql, variables)
    try:
        return con.sql(Path(query_sql).read_text(encoding="utf-8")).pl()
    finally:
        con.close()


def flatten_lists(frame: pl.DataFrame) -> pl.DataFrame:
    """List columns as space-separated text (CSV holds no nested data): [1, 2] -> '1 2'."""
    lists = [name for name, dtype in frame.schema.items() if isinstance(dtype, pl.List)]
    return frame.with_columns(
        pl.col(name).list.eval(pl.element().cast(pl.String)).list.join(" ") for name in lists
    )


def write_result(frame: pl.DataFrame, out: Path, config: Mapping[str, Any]) -> None:
    """Write a results table as CSV (marked when the run is synthetic), atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    flatten_lists(mark_result(frame, config)).write_csv(tmp)
    tmp.replace(out)
