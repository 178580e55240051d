"""One function per workflow rule: what a rule runs, with paths in and paths out.

Rules stay thin (inputs, outputs, log, one call); everything they do is here or in the
modules these functions call, so each step can be run and tested without Snakemake.

The functions live in one module per rule file (``takedowns.jobs.<stage>``, e.g.
``takedowns.jobs.analysis`` for ``workflow/rules/analysis.smk``); this package names them all,
so that a rule calls ``jobs.<name>(...)`` with named arguments.
"""

from takedowns.jobs._common import (
    CHECKSUMS,
    RAW_ROOT,
)
from takedowns.jobs.analysis import (
    CALIBRATION_VERDICT,
    CONCENTRATION_GROUPS,
    attribute_blocklists,
    concentration,
    displacement,
    gather_qc,
    placebo,
    published_comparison,
    sensitivity,
    spam_effects,
    sql_table,
    study_tables,
    threats,
    verdicts,
)
from takedowns.jobs.asrel import (
    normalize_as_relationships,
)
from takedowns.jobs.blocklists import (
    blocklist_cdx,
    blocklist_check,
    blocklist_snapshot,
)
from takedowns.jobs.figures import (
    address_space_figure,
    answer_figure,
    blocklist_space_figure,
    concentration_figure,
    forest_figure,
    spam_timeline_figure,
    upstream_timeline_figure,
)
from takedowns.jobs.gaps import (
    check_gaps,
)
from takedowns.jobs.manifests import (
    blocklist_manifest,
    read_manifest,
)
from takedowns.jobs.package import (
    datapackage,
)
from takedowns.jobs.prefix2as import (
    normalize_prefix2as_day,
    prefix2as_manifest,
    prefix_origin_episodes,
)
from takedowns.jobs.routing import (
    routing_gaps,
    routing_listing,
)
from takedowns.jobs.sources import (
    download,
    write_settings,
)
from takedowns.jobs.spamtrap import (
    attribute_spam,
    delegated_month,
    ip_country,
    normalize_delegated,
    normalize_spam_archive,
)

__all__ = [
    "CALIBRATION_VERDICT",
    "CHECKSUMS",
    "CONCENTRATION_GROUPS",
    "RAW_ROOT",
    "address_space_figure",
    "answer_figure",
    "attribute_blocklists",
    "attribute_spam",
    "blocklist_cdx",
    "blocklist_check",
    "blocklist_manifest",
    "blocklist_snapshot",
    "blocklist_space_figure",
    "check_gaps",
    "concentration",
    "concentration_figure",
    "datapackage",
    "delegated_month",
    "displacement",
    "download",
    "forest_figure",
    "gather_qc",
    "ip_country",
    "normalize_as_relationships",
    "normalize_delegated",
    "normalize_prefix2as_day",
    "normalize_spam_archive",
    "placebo",
    "prefix2as_manifest",
    "prefix_origin_episodes",
    "published_comparison",
    "read_manifest",
    "routing_gaps",
    "routing_listing",
    "sensitivity",
    "spam_effects",
    "spam_timeline_figure",
    "sql_table",
    "study_tables",
    "threats",
    "upstream_timeline_figure",
    "verdicts",
    "write_settings",
]
