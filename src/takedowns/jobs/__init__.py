"""One function per workflow rule: what a rule runs, with paths in and paths out.

Rules stay thin (inputs, outputs, log, one call); everything they do is here or in the
modules these functions call, so each step can be run and tested without Snakemake.

The functions live in one module per rule file (``takedowns.jobs.<stage>``, e.g.
``takedowns.jobs.analysis`` for ``workflow/rules/analysis.smk``); this package names them all,
so that a rule calls ``jobs.<name>(...)`` with named arguments.

A name is imported from its module when first used: a job that a cluster runs as a process of
its own imports only its stage's module, not every stage's dependencies.
"""

from __future__ import annotations

import importlib
from typing import Any

#: name -> the module that defines it
_WHERE: dict[str, str] = {
    "CHECKSUMS": "takedowns.jobs._common",
    "RAW_ROOT": "takedowns.jobs._common",
    "CALIBRATION_VERDICT": "takedowns.jobs.analysis",
    "CONCENTRATION_GROUPS": "takedowns.jobs.analysis",
    "attribute_blocklists": "takedowns.jobs.analysis",
    "concentration": "takedowns.jobs.analysis",
    "displacement": "takedowns.jobs.analysis",
    "gather_qc": "takedowns.jobs.analysis",
    "placebo": "takedowns.jobs.analysis",
    "published_comparison": "takedowns.jobs.analysis",
    "sensitivity": "takedowns.jobs.analysis",
    "spam_effects": "takedowns.jobs.analysis",
    "sql_table": "takedowns.jobs.analysis",
    "study_tables": "takedowns.jobs.analysis",
    "threats": "takedowns.jobs.analysis",
    "verdicts": "takedowns.jobs.analysis",
    "normalize_as_relationships": "takedowns.jobs.asrel",
    "blocklist_cdx": "takedowns.jobs.blocklists",
    "blocklist_check": "takedowns.jobs.blocklists",
    "blocklist_snapshot": "takedowns.jobs.blocklists",
    "address_space_figure": "takedowns.jobs.figures",
    "answer_figure": "takedowns.jobs.figures",
    "blocklist_space_figure": "takedowns.jobs.figures",
    "concentration_figure": "takedowns.jobs.figures",
    "forest_figure": "takedowns.jobs.figures",
    "spam_timeline_figure": "takedowns.jobs.figures",
    "upstream_timeline_figure": "takedowns.jobs.figures",
    "check_gaps": "takedowns.jobs.gaps",
    "blocklist_manifest": "takedowns.jobs.manifests",
    "read_manifest": "takedowns.jobs.manifests",
    "datapackage": "takedowns.jobs.package",
    "normalize_prefix2as_day": "takedowns.jobs.prefix2as",
    "prefix2as_manifest": "takedowns.jobs.prefix2as",
    "prefix_origin_episodes": "takedowns.jobs.prefix2as",
    "routing_gaps": "takedowns.jobs.routing",
    "routing_listing": "takedowns.jobs.routing",
    "download": "takedowns.jobs.sources",
    "write_settings": "takedowns.jobs.sources",
    "attribute_spam": "takedowns.jobs.spamtrap",
    "delegated_month": "takedowns.jobs.spamtrap",
    "ip_country": "takedowns.jobs.spamtrap",
    "normalize_delegated": "takedowns.jobs.spamtrap",
    "normalize_spam_archive": "takedowns.jobs.spamtrap",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    """Import ``name`` from its module on first use (and keep it here)."""
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
