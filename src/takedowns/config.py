"""Loading and validating the study configuration.

The schema (``config/schema.yaml``, JSON Schema 2020-12) is the one place where defaults live
(``default:``): validation fills every key a config leaves out from it, so no module carries a
default of its own. The schema checks shapes and ranges; a few rules that a schema cannot
express (dates that exist, a period that runs forwards, cut-offs inside the period) are checked
here. Every failure is one line naming the key and what is allowed; a YAML file that does not
parse is named with the line and column of the problem.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
from collections.abc import Iterable, Mapping, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jsonschema

# jsonschema and yaml are imported where they are used: a routing job that only reads
# ``parse_utc`` does not load them

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


def read_yaml(path: Path | str) -> Any:
    """Parse one YAML file; a syntax error names the file, line and column.

    An empty file reads as ``{}``.
    """
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown place"
        what = " ".join(filter(None, [exc.context, exc.problem]))
        raise ConfigError(f"{path}: {where}: YAML syntax error: {what}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: YAML syntax error: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from None
    return {} if data is None else data


def load_schema(path: Path = SCHEMA_PATH) -> dict[str, Any]:
    """Read the JSON Schema (written as YAML)."""
    return read_yaml(path)


def _with_defaults(validator_class: type[jsonschema.protocols.Validator]) -> Any:
    """A validator class that fills a missing property from its schema ``default`` first.

    Defaults are deep-copied, and an object default is filled (and checked) like any value.
    """
    validate_properties = validator_class.VALIDATORS["properties"]

    def fill_then_validate(validator: Any, properties: Any, instance: Any, schema: Any) -> Any:
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    import jsonschema

    return jsonschema.validators.extend(validator_class, {"properties": fill_then_validate})


@functools.cache
def _filling_validator() -> Any:
    """The Draft 2020-12 validator that fills defaults (built on first use)."""
    import jsonschema

    return _with_defaults(jsonschema.Draft202012Validator)


def __getattr__(name: str) -> Any:
    if name == "_FillingValidator":
        return _filling_validator()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def schema_defaults(schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every default of the schema, as the config an empty file would give (for documentation
    and tests: the workflow fills defaults through :func:`validate_config`)."""
    schema = load_schema() if schema is None else schema
    filled: dict[str, Any] = {}
    for error in _filling_validator()(schema).iter_errors(filled):
        del error  # required keys without defaults are reported by validate_config, not here
    return filled


def filled(instance: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``instance`` with the defaults of ``schema`` (a part of the config schema)
    filled in, for a value the config may leave out altogether (e.g. an event's entry under
    ``scenario``)."""
    out = copy.deepcopy(dict(instance))
    for error in _filling_validator()(schema).iter_errors(out):
        raise ConfigError(f"{error.message} (in {dict(instance)!r})")
    return out


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


def _leave_out_null_events(config: MutableMapping[str, Any]) -> None:
    """Drop the events an overlay config sets to null (``events: {rbn: ~}``), in place.

    Config files merge key by key, so an overlay cannot remove an event of
    ``config/config.yaml``; setting it to null leaves it out of the run (one event alone, say),
    and every job sees only the events left.
    """
    events = config.get("events")
    if not isinstance(events, MutableMapping):
        return
    left_out = [event_id for event_id, spec in events.items() if spec is None]
    for event_id in left_out:
        del events[event_id]
    if left_out and not events:
        raise ConfigError(
            f"config key 'events': every event is set to null ({', '.join(left_out)}); "
            "at least one must be left in"
        )


def validate_config(
    config: MutableMapping[str, Any], schema: Mapping[str, Any] | None = None
) -> None:
    """Fill the schema's defaults into ``config`` (in place), then raise :class:`ConfigError`
    with one line for the first problem found, else return."""
    schema = load_schema() if schema is None else schema
    _leave_out_null_events(config)
    validator = _filling_validator()(schema)
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
    if config["blocklists"]["lists"][listed].get("optional"):
        raise ConfigError(
            f"config key 'blocklists.lists.{listed}.optional': the concentration_list "
            "cannot be optional (the study depends on it)"
        )
    verdict = config["verdict"]
    if verdict["post_days"] not in config["windows"]["post_days"]:
        raise ConfigError(
            f"config key 'verdict.post_days': {verdict['post_days']} is not one of "
            f"windows.post_days {config['windows']['post_days']}"
        )
    if verdict["family"] not in config["effects"]["families"]:
        raise ConfigError(
            f"config key 'verdict.family': {verdict['family']!r} is not one of "
            f"effects.families {config['effects']['families']}"
        )
    for event_id, event in config["events"].items():
        key = f"events.{event_id}.nominal_cutoff"
        cutoff = parse_utc(event["nominal_cutoff"], key).date()
        if not start <= cutoff <= end:
            raise ConfigError(
                f"config key '{key}': {cutoff} is outside the study period {start}..{end}"
            )


def check_command_line(overrides: Mapping[str, Any]) -> None:
    """Refuse command-line values that YAML reads as null but that cannot mean it.

    ``--config mirror=`` arrives as null, which would send the run to the real archives; an
    empty mirror on the command line is a mistake, never a request for the Internet.
    """
    if "mirror" in overrides and overrides["mirror"] in (None, ""):
        raise ConfigError(
            "config key 'mirror': an empty value was given on the command line; give a base URL "
            "(e.g. --config mirror=http://127.0.0.1:8765) or leave the key out to use the real "
            "archives"
        )


def _sorted_tree(value: Any) -> Any:
    """``value`` with every mapping's keys in sorted order (a stable repr for Snakemake)."""
    if isinstance(value, Mapping):
        return {k: _sorted_tree(value[k]) for k in sorted(value)}
    if isinstance(value, list | tuple):
        return [_sorted_tree(v) for v in value]
    return value


def pruned_config(config: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """A copy of ``config`` holding only ``keys`` (dotted paths for nested keys), same shape.

    ``pruned_config(c, ["qc", "sources.untroubled"])`` is
    ``{"qc": c["qc"], "sources": {"untroubled": c["sources"]["untroubled"]}}``. A key the
    config does not have is an error naming it.
    """
    out: dict[str, Any] = {}
    for dotted in keys:
        parts = dotted.split(".")
        source: Any = config
        target = out
        for i, part in enumerate(parts):
            if not isinstance(source, Mapping) or part not in source:
                raise ConfigError(f"config key '{'.'.join(parts[: i + 1])}' is not in the config")
            source = source[part]
            if i < len(parts) - 1:
                target = target.setdefault(part, {})
        target[parts[-1]] = copy.deepcopy(source)
    return _sorted_tree(out)


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
        data = read_yaml(path)
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: a config file must be a mapping of keys, not {data!r}")
        config = deep_merge(config, data)
    config = deep_merge(config, overrides or {})
    validate_config(config)
    return config


def main(argv: list[str] | None = None) -> int:
    """``python -m takedowns.config [FILE ...]``: read config/config.yaml and the given config
    files as the workflow would, and say in one line what is wrong (file and line for YAML
    errors, the key for bad values). Snakemake reads ``--configfile`` files itself, with a
    message that names neither; ``make check-config`` runs this first."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("files", nargs="*", type=Path, help="config files merged in this order")
    args = parser.parse_args(argv)
    try:
        load_config(*args.files)
    except ConfigError as error:
        print(f"takedowns: {error}", file=sys.stderr)
        return 1
    print("config ok: " + ", ".join(str(p) for p in [CONFIG_PATH, *args.files]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
