"""The data dictionary, its Markdown rendering and the data package built from it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from takedowns import asrel
from takedowns.blocklists import snapshots as blocklists
from takedowns.config import REPO_ROOT, load_config
from takedowns.datapackage import (
    DICTIONARY,
    README,
    ColumnTypeMismatch,
    MissingColumn,
    UndocumentedColumn,
    build,
    check_schema,
    files_synthetic,
    load_dictionary,
    main,
    render_markdown,
    type_name,
    undocumented_files,
)
from takedowns.prefix2as import caida as prefix2as
from takedowns.provenance import SYNTHETIC_LABEL, parquet_metadata
from takedowns.qc import qc_table
from takedowns.routing import mrt
from takedowns.spamtrap import archive as spamtrap
from takedowns.spamtrap import delegations
from takedowns.study import events_frame, watched_asns_frame

UTC = dt.UTC


# The config keys the package reads: the synthetic flag and the events (for its title).
CONFIG = {
    "synthetic": False,
    "events": {"ev": {"name": "Event", "asns": [64496], "nominal_cutoff": "2008-11-11T22:00Z"}},
}


@pytest.fixture(scope="module")
def dictionary() -> dict:
    return load_dictionary()


# --------------------------------------------------------------------------------------------
# The committed dictionary and README


def test_readme_is_the_rendered_dictionary(dictionary: dict) -> None:
    expected = render_markdown(dictionary)
    assert README.read_text(encoding="utf-8") == expected, (
        "data/processed/README.md is stale: run "
        "`python -m takedowns.datapackage --markdown > data/processed/README.md`"
    )


def test_cli_markdown_prints_the_rendering(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--markdown"]) == 0
    assert capsys.readouterr().out == render_markdown(load_dictionary(DICTIONARY))


def test_dictionary_is_well_formed(dictionary: dict) -> None:
    paths = [spec["path"] for spec in dictionary.values()]
    assert len(paths) == len(set(paths)), "a path glob is used by two tables"
    for name, spec in dictionary.items():
        assert set(spec) <= {"path", "title", "description", "columns", "types"}, name
        assert spec["title"].strip() and spec["description"].strip(), name
        assert not spec["path"].startswith("/") and spec["path"].endswith(".parquet"), name
        assert spec["columns"], f"table {name} has no columns"
        for column, text in spec["columns"].items():
            assert isinstance(text, str) and text.strip(), f"{name}.{column} has no description"
        assert set(spec.get("types", {})) == set(spec["columns"]), (
            f"table {name}: types and columns name different columns"
        )


def test_views_are_documented_under_their_names(dictionary: dict) -> None:
    """Every table analysis/views.sql reads is in the dictionary, named like its view."""
    views = (REPO_ROOT / "analysis" / "views.sql").read_text(encoding="utf-8")
    found = re.findall(
        r"VIEW\s+(\w+)\s+AS\s+SELECT \* FROM read_parquet\('data/processed/([^']+)'\)", views
    )
    assert found
    by_path = {spec["path"]: name for name, spec in dictionary.items()}
    for view, path in found:
        assert path in by_path, f"view {view} reads {path}, which the dictionary lacks"
        assert by_path[path] == view, f"{path} is table {by_path[path]!r}, but view {view!r}"


def _arrow(schema: dict) -> pa.Schema:
    return pl.DataFrame(schema=schema).to_arrow().schema


def test_dictionary_matches_the_writers_schemas(dictionary: dict) -> None:
    """Columns (in order) and types of each table as the modules that write them define."""
    config = load_config()
    spam = spamtrap.SPAM_SCHEMA
    attributed = {
        **spam,
        "matched_prefix": pl.String(),
        "origins": pl.List(pl.UInt32()),
        "country": pl.String(),
        "registry": pl.String(),
    }
    schemas = {
        "watched_asns": watched_asns_frame(config).to_arrow().schema,
        "events": events_frame(config).to_arrow().schema,
        "prefix2as_daily": _arrow(prefix2as.DAILY_SCHEMA),
        "prefix_origin": _arrow(prefix2as.EPISODE_SCHEMA),
        "as_relationships": _arrow(asrel.SCHEMA),
        "routing_elements": _arrow(mrt.ELEMENT_SCHEMA),
        "routing_peers": _arrow(mrt.PEER_SCHEMA),
        "spam_messages": _arrow(spam),
        "spam_messages_attributed": _arrow(attributed),
        "delegations": _arrow(delegations.IP_COUNTRY_SCHEMA),
        "ip_country": _arrow(delegations.IP_COUNTRY_SCHEMA),
        "blocklist_snapshot_entries": _arrow(blocklists.ENTRY_SCHEMA),
        "blocklist_entries": _arrow(blocklists.ENTRY_SCHEMA),
        "blocklist_snapshots": _arrow(blocklists.SNAPSHOT_SCHEMA),
        "qc_files": qc_table([]).to_arrow().schema,
    }
    for name, schema in schemas.items():
        check_schema(schema, Path(name), name, dictionary[name])
        assert list(dictionary[name]["columns"]) == schema.names, name


# --------------------------------------------------------------------------------------------
# Building a package from small files


def _write(path: Path, table: pa.Table, **meta: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if meta:
        table = table.replace_schema_metadata(meta)
    pq.write_table(table, path, compression="zstd")
    return path


DICT = {
    "things": {
        "path": "things.parquet",
        "title": "Things",
        "description": "One row per\n  thing.",
        "columns": {"ip": "An address.", "seen": "When.", "asns": "Origins.", "ok": "Fine."},
        "types": {"ip": "uint32", "seen": "timestamp[us, UTC]", "asns": "list<uint32>"},
    },
    "daily": {
        "path": "daily/*/*.parquet",
        "title": "Per day",
        "description": "A file per day.",
        "columns": {"day": "The day.", "n": "A count."},
        "types": {"day": "date", "n": "int64"},
    },
}


def _things() -> pa.Table:
    return pa.table(
        {
            "ip": pa.array([1, 2, 3], pa.uint32()),
            "seen": pa.array(
                [dt.datetime(2008, 11, 11, tzinfo=UTC)] * 3, pa.timestamp("us", "UTC")
            ),
            "asns": pa.array([[26780], [], None], pa.large_list(pa.uint32())),
            "ok": pa.array([True, False, None]),
        }
    )


def _daily(days: int) -> pa.Table:
    return pa.table(
        {
            "day": pa.array([dt.date(2008, 11, d + 1) for d in range(days)], pa.date32()),
            "n": pa.array(range(days), pa.int64()),
        }
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "processed"
    _write(root / "things.parquet", _things())
    _write(root / "daily" / "a" / "2008-11-01.parquet", _daily(2))
    _write(root / "daily" / "b" / "2008-11-02.parquet", _daily(5))
    return root


def test_build_describes_every_file(root: Path) -> None:
    package = build(root, CONFIG, DICT)
    assert package["title"].endswith("the takedowns of Event")
    resources = {r["path"]: r for r in package["resources"]}
    assert list(resources) == [
        "things.parquet",
        "daily/a/2008-11-01.parquet",
        "daily/b/2008-11-02.parquet",
    ]
    for rel, res in resources.items():
        data = (root / rel).read_bytes()
        assert res["bytes"] == len(data)
        assert res["hash"] == f"sha256:{hashlib.sha256(data).hexdigest()}"
        assert res["format"] == "parquet" and res["type"] == "table"
    things = resources["things.parquet"]
    assert things["name"] == "things"
    assert things["rows"] == 3
    assert things["title"] == "Things" and things["description"] == "One row per thing."
    assert [
        (f["name"], f["type"], f["arrowType"], f["description"]) for f in things["schema"]["fields"]
    ] == [
        ("ip", "integer", "uint32", "An address."),
        ("seen", "datetime", "timestamp[us, tz=UTC]", "When."),
        ("asns", "array", "large_list<element: uint32>", "Origins."),
        ("ok", "boolean", "bool", "Fine."),
    ]
    day = resources["daily/b/2008-11-02.parquet"]
    assert day["name"] == "daily-b-2008-11-02" and day["rows"] == 5
    assert [(f["name"], f["type"]) for f in day["schema"]["fields"]] == [
        ("day", "date"),
        ("n", "integer"),
    ]
    assert json.loads(json.dumps(package)) == package
    assert package["$schema"].endswith("/2.0/datapackage.json")


def test_undocumented_column_names_file_and_column(root: Path) -> None:
    bad = _write(root / "daily" / "c" / "x.parquet", _daily(1).append_column("extra", [["?"]]))
    with pytest.raises(UndocumentedColumn) as err:
        build(root, CONFIG, DICT)
    assert str(bad) in str(err.value) and "'extra'" in str(err.value)
    assert "'daily'" in str(err.value)


def test_wrong_type_and_missing_column_are_errors(root: Path) -> None:
    _write(root / "daily" / "c" / "x.parquet", _daily(1).set_column(1, "n", [["1"]]))
    with pytest.raises(ColumnTypeMismatch, match=r"x\.parquet: column 'n' .* is string, but"):
        build(root, CONFIG, DICT)
    _write(root / "daily" / "c" / "x.parquet", _daily(1).drop_columns(["n"]))
    with pytest.raises(MissingColumn, match=r"x\.parquet: .*'n'"):
        build(root, CONFIG, DICT)


def test_overlapping_globs_and_undocumented_files(root: Path) -> None:
    overlapping = {**DICT, "all_daily": {**DICT["daily"], "path": "daily/a/*.parquet"}}
    with pytest.raises(ValueError, match="matched by the paths of tables 'daily' and 'all_daily'"):
        build(root, {"synthetic": False}, overlapping)
    assert undocumented_files(root, DICT) == []
    stray = _write(root / "elsewhere" / "y.parquet", _daily(1))
    assert undocumented_files(root, DICT) == [stray]
    assert len(build(root, CONFIG, DICT)["resources"]) == 3


def test_synthetic_flag_goes_into_title_and_description(root: Path) -> None:
    real = build(root, CONFIG, DICT)
    assert SYNTHETIC_LABEL not in real["title"] and "description" not in real
    fake = build(root, {**CONFIG, "synthetic": True}, DICT)
    assert fake["title"].startswith(f"{SYNTHETIC_LABEL}: ")
    assert fake["description"] == SYNTHETIC_LABEL
    assert fake["resources"] == real["resources"]


def test_cli_writes_the_package_and_detects_synthetic_files(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dictionary = tmp_path / "dictionary.yaml"
    dictionary.write_text(json.dumps({"tables": DICT}), encoding="utf-8")  # JSON is YAML
    out = tmp_path / "datapackage.json"
    assert main([str(root), str(out), "--dictionary", str(dictionary)]) == 0
    package = json.loads(out.read_text(encoding="utf-8"))
    assert len(package["resources"]) == 3 and "description" not in package
    assert not files_synthetic(sorted(root.rglob("*.parquet")))

    _write(root / "things.parquet", _things(), **parquet_metadata({"synthetic": True}))
    assert main([str(root), str(out), "--dictionary", str(dictionary)]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["description"] == SYNTHETIC_LABEL

    _write(root / "daily" / "c" / "x.parquet", _daily(1).append_column("extra", [["?"]]))
    assert main([str(root), str(out), "--dictionary", str(dictionary)]) == 1
    assert "'extra'" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# Rendering


def test_render_markdown_sections_and_escaping() -> None:
    spec = {
        "t": {
            "path": "t/*/*.parquet",
            "title": "T",
            "description": "Files `t/<list>/<id>.parquet`, one per <thing> | pipe.",
            "columns": {"a": "A or b | c.", "b": "Untyped."},
            "types": {"a": "list<uint32>"},
        }
    }
    text = render_markdown(spec)
    assert text.endswith("\n") and "\n## t\n" in text
    assert "| [t](#t) | `t/*/*.parquet` | T |" in text
    assert "`t/*/*.parquet`: T." in text
    assert "Files `t/<list>/<id>.parquet`, one per \\<thing> \\| pipe." in text
    assert "| `a` | `list<uint32>` | A or b \\| c. |" in text
    assert "| `b` |  | Untyped. |" in text


def test_type_names() -> None:
    assert type_name(pa.large_string()) == type_name(pa.string()) == "string"
    assert type_name(pa.timestamp("us", "UTC")) == "timestamp[us, UTC]"
    assert type_name(pa.timestamp("s")) == "timestamp[s]"
    assert type_name(pa.large_list(pa.uint32())) == "list<uint32>"
    assert type_name(pa.float64()) == "float64" and type_name(pa.date32()) == "date"
    assert type_name(pa.bool_()) == "bool" and type_name(pa.int8()) == "int8"
