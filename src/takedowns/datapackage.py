"""The dataset as a product: ``datapackage.json`` (Frictionless Data Package v2) and the
data dictionary as Markdown (``data/processed/README.md``).

Each Parquet resource gets its path, bytes, sha256, row count and field list, the types read
from the file itself and the descriptions from ``data/dictionary.yaml``. A produced column
without a description, a described column the file lacks, or a column of another type than
the dictionary's ``types`` hint is an error, so the dictionary cannot fall behind the data.

Command line::

    python -m takedowns.datapackage --markdown > data/processed/README.md
    python -m takedowns.datapackage data/processed data/processed/datapackage.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from takedowns import __version__
from takedowns.config import REPO_ROOT
from takedowns.provenance import SYNTHETIC_LABEL, is_synthetic

DICTIONARY = REPO_ROOT / "data" / "dictionary.yaml"
README = REPO_ROOT / "data" / "processed" / "README.md"
PROFILE = "https://datapackage.org/profiles/2.0/datapackage.json"
_DICTIONARY_NAME = "data/dictionary.yaml"


class DictionaryMismatch(ValueError):
    """A produced file does not match its description in data/dictionary.yaml."""


class UndocumentedColumn(DictionaryMismatch):
    """A produced column has no description in data/dictionary.yaml."""


class MissingColumn(DictionaryMismatch):
    """A column described in data/dictionary.yaml is not in the produced file."""


class ColumnTypeMismatch(DictionaryMismatch):
    """A produced column's type differs from the ``types`` hint in data/dictionary.yaml."""


def load_dictionary(path: Path = DICTIONARY) -> dict[str, Any]:
    """The table and column descriptions (table name -> path, title, description, columns,
    and optionally types)."""
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)["tables"]


def type_name(arrow_type: pa.DataType) -> str:
    """A short, stable name of an Arrow type, as the dictionary's ``types`` hints write it.

    ``string`` (any string layout), ``bool``, ``uint32``, ``float64``, ``date``,
    ``timestamp[us, UTC]``, ``list<uint32>`` (any list layout); other types as Arrow names them.
    """
    t = arrow_type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t):
        return str(t)
    if pa.types.is_floating(t):
        return f"float{t.bit_width}"
    if pa.types.is_date32(t):
        return "date"
    if pa.types.is_timestamp(t):
        return f"timestamp[{t.unit}, {t.tz}]" if t.tz else f"timestamp[{t.unit}]"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t):
        return f"list<{type_name(t.value_type)}>"
    return str(t)


def field_type(arrow_type: pa.DataType) -> tuple[str, dict[str, Any]]:
    """Table Schema type of an Arrow type, plus the exact Arrow type as a note."""
    extra = {"arrowType": str(arrow_type)}
    if pa.types.is_boolean(arrow_type):
        return "boolean", extra
    if pa.types.is_integer(arrow_type):
        return "integer", extra
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "number", extra
    if pa.types.is_timestamp(arrow_type):
        return "datetime", extra
    if pa.types.is_date(arrow_type):
        return "date", extra
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return "array", extra
    if pa.types.is_struct(arrow_type) or pa.types.is_map(arrow_type):
        return "object", extra
    return "string", extra


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_schema(schema: pa.Schema, path: Path, name: str, spec: Mapping[str, Any]) -> None:
    """Raise when ``schema`` (of ``path``, table ``name``) and the table's description differ."""
    columns = spec["columns"]
    types = spec.get("types") or {}
    for f in schema:
        if f.name not in columns:
            raise UndocumentedColumn(
                f"{path}: column {f.name!r} of table {name!r} has no description in "
                f"{_DICTIONARY_NAME}"
            )
        actual = type_name(f.type)
        if f.name in types and types[f.name] != actual:
            raise ColumnTypeMismatch(
                f"{path}: column {f.name!r} of table {name!r} is {actual}, but "
                f"{_DICTIONARY_NAME} says {types[f.name]}"
            )
    missing = [c for c in columns if c not in schema.names]
    if missing:
        raise MissingColumn(
            f"{path}: {_DICTIONARY_NAME} describes column(s) {', '.join(map(repr, missing))} "
            f"of table {name!r}, which the file does not have"
        )


def resource(path: Path, root: Path, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """One Data Package resource for one Parquet file."""
    meta = pq.read_metadata(path)
    schema = meta.schema.to_arrow_schema()
    check_schema(schema, path, name, spec)
    fields = []
    for f in schema:
        kind, extra = field_type(f.type)
        fields.append(
            {"name": f.name, "type": kind, "description": spec["columns"][f.name], **extra}
        )
    rel = path.relative_to(root).as_posix()
    return {
        "name": rel.removesuffix(".parquet").replace("/", "-").replace("=", "-").lower(),
        "path": rel,
        "type": "table",
        "title": spec["title"],
        "description": " ".join(spec["description"].split()),
        "format": "parquet",
        "mediatype": "application/vnd.apache.parquet",
        "bytes": path.stat().st_size,
        "hash": f"sha256:{sha256_of(path)}",
        "rows": meta.num_rows,
        "schema": {"fields": fields},
    }


def table_files(root: Path, dictionary: Mapping[str, Any]) -> dict[str, list[Path]]:
    """Table name -> its Parquet files under ``root`` (sorted); a file matched by the globs of
    two tables is an error."""
    owner: dict[Path, str] = {}
    out: dict[str, list[Path]] = {}
    for name, spec in dictionary.items():
        out[name] = []
        for path in sorted(root.glob(spec["path"])):
            if not path.is_file() or path.name.endswith(".tmp"):
                continue
            if path in owner:
                raise ValueError(
                    f"{path}: matched by the paths of tables {owner[path]!r} and {name!r} in "
                    f"{_DICTIONARY_NAME}"
                )
            owner[path] = name
            out[name].append(path)
    return out


def undocumented_files(root: Path, dictionary: Mapping[str, Any]) -> list[Path]:
    """Parquet files under ``root`` that no table of the dictionary covers."""
    covered = {p for paths in table_files(root, dictionary).values() for p in paths}
    return [p for p in sorted(root.rglob("*.parquet")) if p not in covered]


def _event_names(config: Mapping[str, Any]) -> str:
    """The configured events' names in time order, as prose ("A, B and C")."""
    from takedowns.study import events

    names = [e.name for e in events(config)]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def build(
    root: Path, config: Mapping[str, Any], dictionary: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The data package of every documented Parquet file under ``root`` (data/processed)."""
    dictionary = load_dictionary() if dictionary is None else dictionary
    resources = [
        resource(path, root, name, dictionary[name])
        for name, paths in table_files(root, dictionary).items()
        for path in paths
    ]
    package: dict[str, Any] = {
        "$schema": PROFILE,
        "name": "takedowns",
        "title": "Routing, spam-trap and blocklist data around the takedowns of "
        + _event_names(config),
        "version": __version__,
        "licenses": [
            {
                "name": "MIT",
                "title": "Code: MIT. Data: the terms of each upstream source (see README.md); "
                "Spamhaus DROP content may not be redistributed.",
            }
        ],
        "keywords": ["BGP", "spam", "bulletproof hosting", "takedown"],
        "resources": resources,
    }
    if is_synthetic(config):
        package["title"] = f"{SYNTHETIC_LABEL}: {package['title']}"
        package["description"] = SYNTHETIC_LABEL
    return package


def write(
    root: Path,
    out: Path,
    config: Mapping[str, Any],
    dictionary: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``datapackage.json`` atomically; return the package."""
    package = build(root, config, dictionary)
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(package, indent=1) + "\n", encoding="utf-8")
    tmp.replace(out)
    return package


def files_synthetic(paths: Sequence[Path]) -> bool:
    """True when any of the Parquet files says ``takedowns.synthetic: true`` in its metadata."""
    for path in paths:
        meta = pq.read_metadata(path).metadata or {}
        if meta.get(b"takedowns.synthetic") == b"true":
            return True
    return False


# --------------------------------------------------------------------------------------------
# The dictionary as Markdown

README_TITLE = "# data/processed: the data dictionary"
README_INTRO = """\
Typed Parquet (zstd), written by the workflow; not committed (only this file is). Every table
and column is described once, in `data/dictionary.yaml`; this file is rendered from it
(`python -m takedowns.datapackage --markdown > data/processed/README.md`; a test keeps the two
equal), and `python -m takedowns.datapackage data/processed data/processed/datapackage.json`
writes the Frictionless Data Package v2 descriptor: every file's path, bytes, SHA-256, row
count and fields, with the types read from the file and these descriptions. A produced column
the dictionary does not describe, or of another type than it says, is an error there.

Every file carries key-value metadata: `takedowns.version`,
`takedowns.synthetic` (`true` for the demo and tests, whose data is generated; their files
also carry `takedowns.note`, the SYNTHETIC label) and, for per-file tables, `takedowns.source`
(the raw file, a path under data/raw; the list name for the per-list blocklist tables). A
blocklist snapshot's table also records `takedowns.requested_url`, `takedowns.cdx_timestamp`,
`takedowns.served_url`, `takedowns.capture_time`, `takedowns.parse_stats` and
`takedowns.status`.

Conventions: IPv4 addresses are `uint32` (`start_ip`, `end_ip`: first and last address of a
prefix or range, inclusive), prefixes `a.b.c.d/len`, ASNs `uint32` (lists of them
`list<uint32>`), days `date`, times `timestamp[us, UTC]`; `skipped` columns hold JSON objects
(reason: count) as text. IPv6 is out of scope: it is counted in QC, never kept. Next to the
tables: `qc/<stage>/...json` (one QC record per normalize job, gathered in `qc_files`),
`manifests/` (CSV: the prefix2as files, blocklist captures and routing files selected) and
`datapackage.json`. The section names follow the DuckDB views of `analysis/views.sql`
(`duckdb -init analysis/views.sql`) where one exists."""


def _md(text: str) -> str:
    """Markdown-safe text: ``|`` escaped everywhere (GFM tables), ``<`` and ``*`` outside
    code spans (so ``<collector>`` is not taken for an HTML tag)."""
    parts = " ".join(str(text).split()).split("`")
    for i, part in enumerate(parts):
        part = part.replace("|", "\\|")
        if i % 2 == 0:
            part = part.replace("<", "\\<").replace("*", "\\*")
        parts[i] = part
    return "`".join(parts)


def _code(text: str) -> str:
    """A code span (``|`` escaped for GFM tables)."""
    return "`" + str(text).replace("|", "\\|") + "`"


def _wrap(text: str) -> str:
    return textwrap.fill(_md(text), width=96, break_long_words=False, break_on_hyphens=False)


def render_markdown(dictionary: Mapping[str, Any]) -> str:
    """The data dictionary as Markdown: an intro, an index, then one section per table with
    its path, title, description and a table of its columns (type from the ``types`` hint)."""
    lines = [
        README_TITLE,
        "",
        f"<!-- Rendered from {_DICTIONARY_NAME} by `python -m takedowns.datapackage "
        "--markdown`; edit the dictionary, not this file. -->",
        "",
        README_INTRO,
        "",
        "| table | path | title |",
        "|---|---|---|",
    ]
    for name, spec in dictionary.items():
        lines.append(f"| [{name}](#{name}) | {_code(spec['path'])} | {_md(spec['title'])} |")
    for name, spec in dictionary.items():
        types = spec.get("types") or {}
        lines += [
            "",
            f"## {name}",
            "",
            f"{_code(spec['path'])}: {_md(spec['title'])}.",
            "",
            _wrap(spec["description"]),
            "",
            "| column | type | description |",
            "|---|---|---|",
        ]
        for column, description in spec["columns"].items():
            kind = _code(types[column]) if column in types else ""
            lines.append(f"| {_code(column)} | {kind} | {_md(description)} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m takedowns.datapackage",
        description="Write datapackage.json for a data/processed directory, or print the "
        "data dictionary as Markdown.",
    )
    parser.add_argument("root", nargs="?", type=Path, help="the data/processed directory")
    parser.add_argument("out", nargs="?", type=Path, help="where to write datapackage.json")
    parser.add_argument(
        "--markdown", action="store_true", help="print the dictionary as Markdown (README.md)"
    )
    parser.add_argument("--dictionary", type=Path, default=DICTIONARY)
    parser.add_argument(
        "--config",
        type=Path,
        action="append",
        help="config file(s) merged onto config/config.yaml (the synthetic flag, the events); "
        "by default config/config.yaml, with the files' own takedowns.synthetic metadata",
    )
    args = parser.parse_args(argv)
    dictionary = load_dictionary(args.dictionary)
    if args.markdown:
        if args.root or args.out:
            parser.error("--markdown takes no ROOT or OUT")
        sys.stdout.write(render_markdown(dictionary))
        return 0
    if args.root is None or args.out is None:
        parser.error("ROOT and OUT are required (or --markdown)")
    if not args.root.is_dir():
        parser.error(f"{args.root} is not a directory")
    if args.config:
        from takedowns.config import load_config

        config: Mapping[str, Any] = load_config(*args.config)
    else:
        from takedowns.config import load_config

        config = {
            **load_config(),
            "synthetic": files_synthetic(sorted(args.root.rglob("*.parquet"))),
        }
    try:
        package = write(args.root, args.out, config, dictionary)
    except DictionaryMismatch as exc:
        print(f"takedowns datapackage: {exc}", file=sys.stderr)
        return 1
    for path in undocumented_files(args.root, dictionary):
        print(
            f"takedowns datapackage: warning: {path} is in no table of the dictionary, "
            "so not in the package",
            file=sys.stderr,
        )
    print(f"{args.out}: {len(package['resources'])} resources", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
