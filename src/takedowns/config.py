"""Loading and validating the study configuration.

The schema (``config/schema.yaml``, JSON Schema 2020-12) checks shapes and ranges; a few rules
that a schema cannot express (dates that exist, a period that runs forwards, cut-offs inside
the period) are checked here. Every failure is one line naming the key and what is allowed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO_ROOT / "config" / "schema.yaml"
CONFIG_PATH = REPO_ROOT / "config" / "config.yaml"


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong type or out of range."""


def _key_path(path: Any) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in path]
    return "".join(parts).lstrip(".") or "(top level)"


def _describe(error: jsonschema.ValidationError) -> str:
    """One line for a schema violation: the key, the value and what is allowed."""
    key = _key_path(error.absolute_path)
    if error.validator == "additionalProperties":
        return f"config key '{key}': {error.message} (allowed keys are in config/schema.yaml)"
    if error.validator == "required":
        return f"config key '{key}': {error.message}"
    if error.validator == "enum":
        allowed = ", ".join(repr(v) for v in error.validator_value)
        return f"config key '{key}': {error.instance!r} is not one of {allowed}"
    if error.validator == "pattern":
        return (
            f"config key '{key}': {error.instance!r} does not have the expected form "
            f"(regular expression {error.validator_value})"
        )
    if error.validator == "oneOf" and key == "mirror":
        return f"config key 'mirror': {error.instance!r} must be null or an http(s) base URL"
    return f"config key '{key}': {error.message}"


def load_schema(path: Path = SCHEMA_PATH) -> dict[str, Any]:
    """Read the JSON Schema (written as YAML)."""
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _parse_date(value: str, key: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"config key '{key}': {value!r} is not a valid date (YYYY-MM-DD)"
        ) from None


def parse_utc(value: str, key: str = "time") -> dt.datetime:
    """Parse ``YYYY-MM-DDTHH:MM[:SS]Z`` into an aware UTC datetime."""
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(dt.UTC)
    except ValueError:
        raise ConfigError(f"config key '{key}': {value!r} is not a valid UTC time") from None


def validate_config(config: Mapping[str, Any], schema: Mapping[str, Any] | None = None) -> None:
    """Raise :class:`ConfigError` with one line for the first problem found, else return."""
    schema = load_schema() if schema is None else schema
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), e.path))
    if errors:
        deepest = max(errors, key=lambda e: len(e.absolute_path))
        raise ConfigError(_describe(deepest))
    start = _parse_date(config["period"]["start"], "period.start")
    end = _parse_date(config["period"]["end"], "period.end")
    if end < start:
        raise ConfigError(f"config key 'period.end': {end} is before period.start {start}")
    listed = config["blocklists"]["concentration_list"]
    if listed not in config["blocklists"]["lists"]:
        raise ConfigError(
            f"config key 'blocklists.concentration_list': {listed!r} is not one of the "
            f"configured lists {sorted(config['blocklists']['lists'])}"
        )
    verdict = config["verdict"]
    if verdict["post_days"] not in config["windows"]["post_days"]:
        raise ConfigError(
            f"config key 'verdict.post_days': {verdict['post_days']} is not one of "
            f"windows.post_days {config['windows']['post_days']}"
        )
    threshold = verdict.get("recovery_threshold")
    if threshold is not None and threshold not in config["effects"]["recovery_thresholds"]:
        raise ConfigError(
            f"config key 'verdict.recovery_threshold': {threshold} is not one of "
            f"effects.recovery_thresholds {config['effects']['recovery_thresholds']}"
        )
    for event_id, event in config["events"].items():
        key = f"events.{event_id}.nominal_cutoff"
        cutoff = parse_utc(event["nominal_cutoff"], key).date()
        if not start <= cutoff <= end:
            raise ConfigError(
                f"config key '{key}': {cutoff} is outside the study period {start}..{end}"
            )


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``update`` into a copy of ``base`` key by key, as Snakemake merges config files."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_config(
    *paths: Path, overrides: Mapping[str, Any] | None = None, base: Path = CONFIG_PATH
) -> dict[str, Any]:
    """Read ``config/config.yaml``, merge further config files and overrides, and validate."""
    config: dict[str, Any] = {}
    for path in (base, *paths):
        with open(path, encoding="utf-8") as fh:
            config = deep_merge(config, yaml.safe_load(fh) or {})
    config = deep_merge(config, overrides or {})
    validate_config(config)
    return config
