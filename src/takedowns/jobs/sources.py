"""Jobs of workflow/rules/sources.smk: the one download rule and the per-rule settings files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from takedowns.joblog import LOGGER, logged_job
from takedowns.jobs._common import CHECKSUMS
from takedowns.sources.fetch import fetch
from takedowns.sources.fetch_policy import policy_for_url
from takedowns.sources.ledger import truncated_at_source_error


@logged_job
def download(*, url: str, out: Path, config: Mapping[str, Any]) -> None:
    """Download ``url`` to its raw path (through the mirror when configured).

    Reads ``download``, ``mirror``, ``qc`` and ``routing``. A file the source serves truncated
    is kept and recorded ``truncated_at_source``; the job then fails, naming
    ``qc.allow_partial_files`` and ``routing.allow_missing_files``, unless one of them allows
    it (the second only for a routing file).
    """
    policy, bucket = policy_for_url(url, config["download"])
    result = fetch(
        url,
        Path(out),
        mirror=config["mirror"],
        policy=policy,
        checksums=CHECKSUMS,
        rate_key=bucket,
    )
    LOGGER.info(
        "%s -> %s (%d bytes, sha256 %s, %s%s)",
        result.fetched_url,
        out,
        result.bytes,
        result.sha256,
        result.status,
        ", already here" if result.reused else "",
    )
    if result.status == "truncated_at_source":
        if not _truncated_allowed(url, config):
            raise truncated_at_source_error(url)
        LOGGER.warning("%s: truncated at the source; kept as the config allows", url)


def _truncated_allowed(url: str, config: Mapping[str, Any]) -> bool:
    """Whether the config lets the study use (or count as missing) a truncated file."""
    from takedowns.routing.listings import FILE_RE

    if (config.get("qc") or {}).get("allow_partial_files"):
        return True
    routing_file = FILE_RE.match(urlsplit(url).path.rsplit("/", 1)[-1]) is not None
    return routing_file and bool((config.get("routing") or {}).get("allow_missing_files"))


@logged_job
def write_settings(
    *,
    settings: Mapping[str, Any],
    out: Path,
    made_by_rule: Sequence[str] = (),
) -> None:
    """Write the config a rule behind a checkpoint reads, as JSON, and remove that rule's
    outputs (glob patterns ``made_by_rule``) unless they were made with these very settings.

    Snakemake reruns a job behind a checkpoint only when an output is missing, so outputs
    made with other settings, or with settings no longer known, are removed here.
    """
    import json

    text = json.dumps(settings, sort_keys=True, indent=1) + "\n"
    out = Path(out)
    if out.exists() and out.read_text(encoding="utf-8") == text:
        LOGGER.info("%s: settings unchanged", out)
        return
    removed = 0
    for pattern in made_by_rule:
        for path in Path().glob(pattern):
            if path.is_file():
                path.unlink()
                removed += 1
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    LOGGER.info("%s: new settings; %d outputs made with others removed", out, removed)
