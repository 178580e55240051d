"""CITATION.cff is valid CFF 1.2.0 and cites every upstream dataset the workflow downloads."""

from __future__ import annotations

import json

import jsonschema
import yaml

from takedowns.config import REPO_ROOT

SCHEMA = REPO_ROOT / "tests" / "data" / "citation-file-format-1.2.0.schema.json"


def load_cff() -> dict:
    # CFF dates are YAML dates; the schema expects the ISO text.
    text = (REPO_ROOT / "CITATION.cff").read_text(encoding="utf-8")
    return json.loads(json.dumps(yaml.safe_load(text), default=str))


def test_citation_file_is_valid_cff() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    cff = load_cff()
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(cff), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]
    assert cff["type"] == "dataset" and cff["cff-version"] == "1.2.0"


def test_citation_lists_the_upstream_datasets() -> None:
    titles = " | ".join(ref["title"] for ref in load_cff()["references"])
    for source in (
        "Route Views",
        "RIPE RIS",
        "Prefix to AS",
        "AS Relationships",
        "spam trap",
        "Internet Archive",
    ):
        assert source in titles, source


def test_citation_version_matches_the_package() -> None:
    from takedowns import __version__

    assert load_cff()["version"] == __version__
