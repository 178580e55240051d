"""Run the study's DuckDB SQL files over the processed Parquet tables."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from takedowns.provenance import mark_result

#: The cited reference tables a query may read, by the name it reads them under.
REFERENCE_TABLES = {"reference_events": "events", "published_figures": "published_figures"}


def reference_tables(config: Mapping[str, Any]) -> dict[str, Path]:
    """The reference tables of config ``reference`` (when the job was given that key), by the
    name the SQL reads them under."""
    from takedowns.reference import table_path

    if "reference" not in config:
        return {}
    return {name: table_path(config, key) for name, key in REFERENCE_TABLES.items()}


def connect(
    views_sql: Path,
    variables: Mapping[str, Any] | None = None,
    reference: Mapping[str, Path] | None = None,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with every view of ``analysis/views.sql`` defined.

    Paths inside the views are relative to the current directory (the workflow's). The cited
    reference tables of ``reference`` (:func:`reference_tables`) are registered as
    ``reference_events`` and ``published_figures``, and each of ``variables`` is set for
    ``getvariable(name)`` in the SQL.
    """
    from takedowns.reference import load_events, load_published_figures

    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    reference = reference or {}
    if "reference_events" in reference:
        con.register("reference_events", load_events(reference["reference_events"]).to_arrow())
    if "published_figures" in reference:
        figures = load_published_figures(
            reference["published_figures"], reference.get("reference_events")
        )
        con.register("published_figures", figures.to_arrow())
    for name, value in (variables or {}).items():
        con.execute(f"SET VARIABLE {name} = ?", [value])
    con.execute(Path(views_sql).read_text(encoding="utf-8"))
    return con


def view_definition(views_sql: Path, name: str) -> str:
    """The ``CREATE OR REPLACE VIEW <name> ...;`` (or ``MACRO <name>(...)``) statement of
    ``analysis/views.sql``, alone (for a connection that registers the tables beneath it some
    other way)."""
    text = Path(views_sql).read_text(encoding="utf-8")
    view = f"CREATE OR REPLACE VIEW {name} AS"
    start = text.index(view if view in text else f"CREATE OR REPLACE MACRO {name}(")
    return text[start : text.index(";", start) + 1]


def sql_variables(config: Mapping[str, Any]) -> dict[str, Any]:
    """The DuckDB variables (``getvariable``) the SQL files read, from the config a job was given.

    A job receives only the config keys it reads, so only the variables of the keys present
    are set; :func:`query_file` refuses a query that reads a variable nobody set.
    """
    blocklists = config.get("blocklists", {})
    verdict = config.get("verdict", {})
    windows = config.get("windows", {})
    routing = config.get("routing", {})
    variables: dict[str, Any] = {}
    if "concentration_list" in blocklists:
        variables["concentration_list"] = blocklists["concentration_list"]
    if "rehoming_days" in verdict:
        variables["rehoming_days"] = verdict["rehoming_days"]
    if "pre_days" in windows:
        variables["pre_days"] = float(windows["pre_days"])
    if "post_days" in windows:
        variables["post_days"] = float(max(windows["post_days"]))
    for key in ("update_window_hours", "episode_gap_hours"):
        if key in routing:
            variables[key] = float(routing[key])
    return variables


_GETVARIABLE = re.compile(r"getvariable\(\s*'([A-Za-z_][A-Za-z0-9_]*)'\s*\)")


def variables_read(sql: str) -> set[str]:
    """The names a SQL text reads with ``getvariable('name')`` (comments included: a
    commented-out read costs nothing to set)."""
    return set(_GETVARIABLE.findall(sql))


def query_file(
    views_sql: Path,
    query_sql: Path,
    variables: Mapping[str, Any] | None = None,
    reference: Mapping[str, Path] | None = None,
) -> pl.DataFrame:
    """Run one SQL file (a single SELECT) after the views, returning a polars frame.

    Every variable the views or the query read must be given: DuckDB would read an unset one
    as NULL and the query would go on with it. So must every reference table it reads
    (``reference``, :func:`reference_tables`).
    """
    query = Path(query_sql).read_text(encoding="utf-8")
    missing = sorted(
        variables_read(query + Path(views_sql).read_text(encoding="utf-8")) - set(variables or {})
    )
    if missing:
        raise ValueError(
            f"{query_sql}: reads the variable(s) {', '.join(missing)} but the job set none of "
            "them (see sql_variables and the keys its rule passes)"
        )
    unread = [
        name
        for name in REFERENCE_TABLES
        if re.search(rf"\b{name}\b", query) and name not in (reference or {})
    ]
    if unread:
        raise ValueError(
            f"{query_sql}: reads the reference table(s) {', '.join(unread)} but the job was not "
            "given the config key reference"
        )
    con = connect(views_sql, variables, reference)
    try:
        return con.sql(query).pl()
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
