"""The config: the committed files validate; bad values stop the run with one clear line."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest

from takedowns.config import REPO_ROOT as REPO
from takedowns.config import ConfigError, load_config, validate_config
from takedowns.study import events, selected_days, selected_months


@pytest.fixture(scope="module")
def config() -> dict:
    return load_config()


def test_committed_configs_validate(config: dict) -> None:
    demo = load_config(REPO / "config" / "demo.yaml")
    assert demo["synthetic"] is True and config["synthetic"] is False
    assert [e.event_id for e in events(config)] == ["rbn", "intercage", "mccolo"]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (("profile",), "fast", r"config key 'profile': 'fast' is not one of 'core', 'full'"),
        (("windows", "pre_days"), 0, r"config key 'windows.pre_days': 0 is less than the minimum"),
        (("windows", "post_days"), [7, "x"], r"config key 'windows.post_days\[1\]': 'x' is not"),
        (("mirror",), "ftp://h", r"config key 'mirror': 'ftp://h' must be null or an http"),
        (("events", "mccolo", "asns"), [], r"config key 'events.mccolo.asns': \[\] should be non"),
        (("events", "mccolo", "nominal_cutoff"), "2008-11-11", r"'events.mccolo.nominal_cutoff'"),
        (("events", "mccolo", "nominal_cutoff"), "2012-01-01T00:00Z", r"outside the study"),
        (("period", "end"), "2006-12-31", r"config key 'period.end': 2006-12-31 is before"),
        (("period", "start"), "2008-02-30", r"'period.start': '2008-02-30' is not a valid date"),
        (("download", "retries"), 1.5, r"config key 'download.retries': 1.5 is not of type"),
        (("sources", "ripe_ris", "collectors"), ["rrc0"], r"'sources.ripe_ris.collectors\[0\]'"),
        (("qc", "surprise"), True, r"config key 'qc': Additional properties are not allowed"),
    ],
)
def test_bad_value_names_the_key(config: dict, key: tuple, value: object, message: str) -> None:
    bad = copy.deepcopy(config)
    node = bad
    for part in key[:-1]:
        node = node[part]
    node[key[-1]] = value
    with pytest.raises(ConfigError, match=message) as info:
        validate_config(bad)
    assert "\n" not in str(info.value)


def test_workflow_refuses_bad_config_before_any_job(tmp_path: Path) -> None:
    """The Snakefile validates first: one line naming the key, exit non-zero, nothing run."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(tmp_path),
            "--cores",
            "1",
            "--config",
            "profile=fast",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode != 0
    lines = [ln for ln in result.stderr.splitlines() if "config key" in ln]
    assert lines == ["takedowns: config key 'profile': 'fast' is not one of 'core', 'full'"]
    assert not (tmp_path / "data").exists()


def test_profiles_select_days(config: dict) -> None:
    core = selected_days(config)
    # three events, each [t0 - 90, t0 + 90] days; Intercage and McColo overlap
    assert core[0].isoformat() == "2007-08-09" and core[-1].isoformat() == "2009-02-09"
    assert len(core) == len(set(core)) and len(core) < 700
    full = selected_days({**config, "profile": "full"})
    assert len(full) == 1096 and full[0].isoformat() == "2007-01-01"
    sparse = copy.deepcopy(config)
    sparse["profiles"]["full"]["prefix2as_every_days"] = 7
    assert len(selected_days({**sparse, "profile": "full"})) == 157
    assert selected_months(config)[0].isoformat() == "2007-08-01"


def test_config_events_agree_with_the_cited_reference(config: dict) -> None:
    """The configured cut-offs and watched ASNs are the cited ones in events.csv."""
    from takedowns.reference import event_asns, nominal_cutoffs

    cited = nominal_cutoffs()
    targets = event_asns("target")
    for ev in events(config):
        assert ev.nominal_cutoff == cited[ev.event_id], ev.event_id
        assert sorted(ev.asns) == sorted(targets[ev.event_id]), ev.event_id


def test_defaults_live_in_the_schema_and_fill_a_sparse_config(config: dict) -> None:
    from takedowns.config import schema_defaults

    sparse = {
        key: copy.deepcopy(config[key])
        for key in ("period", "events", "windows", "profiles", "sources", "blocklists")
    }
    sparse["verdict"] = {"post_days": config["verdict"]["post_days"]}
    validate_config(sparse)
    defaults = schema_defaults()
    assert sparse["spamtrap"] == defaults["spamtrap"]
    assert sparse["verdict"]["alpha"] == 0.05 and sparse["routing"]["keep_all"] is False
    assert sparse["mirror"] is None and sparse["synthetic"] is False
    # the committed study config states every default it relies on with the same value
    for section, values in defaults.items():
        if isinstance(values, dict):
            for key, value in values.items():
                assert config[section][key] == value, (section, key)


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "overlay.yaml"
    bad.write_text("windows:\n  pre_days: 21\n  post_days: [7, 14\nqc: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"overlay\.yaml: line 4, column 3: YAML syntax error"):
        load_config(bad)
    result = subprocess.run(
        [sys.executable, "-m", "takedowns.config", str(bad)], capture_output=True, text=True
    )
    assert result.returncode == 1 and "overlay.yaml: line 4" in result.stderr


def test_an_empty_mirror_on_the_command_line_is_an_error_not_the_internet() -> None:
    from takedowns.config import check_command_line

    for empty in (None, ""):
        with pytest.raises(ConfigError, match=r"config key 'mirror': an empty value"):
            check_command_line({"mirror": empty})
    check_command_line({"mirror": "http://127.0.0.1:8765"})
    check_command_line({})


def test_pruned_config_keeps_only_the_named_keys(config: dict) -> None:
    from takedowns.config import pruned_config

    cut = pruned_config(config, ["qc", "sources.untroubled", "verdict.alpha"])
    assert cut == {
        "qc": config["qc"],
        "sources": {"untroubled": config["sources"]["untroubled"]},
        "verdict": {"alpha": config["verdict"]["alpha"]},
    }
    assert list(cut) == sorted(cut)  # a stable repr: Snakemake compares params by repr
    with pytest.raises(ConfigError, match=r"config key 'verdict.alfa' is not in the config"):
        pruned_config(config, ["verdict.alfa"])


def test_a_query_reading_an_unset_variable_is_refused(tmp_path: Path) -> None:
    from takedowns.analysis.duckdb_runner import query_file, sql_variables

    views = tmp_path / "views.sql"
    views.write_text("CREATE OR REPLACE VIEW one AS SELECT 1 AS x;\n", encoding="utf-8")
    query = tmp_path / "q.sql"
    query.write_text("SELECT getvariable('pre_days')::INTEGER AS pre_days\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"q\.sql: reads the variable\(s\) pre_days"):
        query_file(views, query, sql_variables({"synthetic": False}))
    got = query_file(views, query, sql_variables({"windows": {"pre_days": 21}}))
    assert got["pre_days"].to_list() == [21]


def test_an_overlay_leaves_events_out_with_null(tmp_path: Path) -> None:
    # config files merge key by key: null is how an overlay takes an event out of a run
    overlay = tmp_path / "one.yaml"
    overlay.write_text("events:\n  rbn: null\n  intercage: ~\n", encoding="utf-8")
    config = load_config(overlay)
    assert [e.event_id for e in events(config)] == ["mccolo"]
    assert list(config["events"]) == ["mccolo"]
    overlay.write_text("events: {rbn: ~, intercage: ~, mccolo: ~}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"'events': every event is set to null"):
        load_config(overlay)
