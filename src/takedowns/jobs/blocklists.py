"""Jobs of workflow/rules/blocklists.smk: Wayback captures of the blocklists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from takedowns.joblog import LOGGER, logged_job
from takedowns.jobs._common import CHECKSUMS, RAW_ROOT
from takedowns.jobs.manifests import blocklist_manifest

# --------------------------------------------------------------------------------------------
# Blocklists (Wayback snapshots of Spamhaus DROP and the Emerging Threats RBN lists)


@logged_job
def blocklist_cdx(
    *,
    list_name: str,
    url_index: int,
    manifest_out: Path,
    qc_out: Path,
    config: Mapping[str, Any],
) -> None:
    """Checkpoint: one CDX query (fetched, or reused after SHA256SUMS) -> manifest + QC."""
    from takedowns.blocklists import wayback

    manifest, qc = wayback.discover(
        list_name, int(url_index), config, raw_root=RAW_ROOT, checksums=CHECKSUMS
    )
    wayback.write_manifest(manifest, Path(manifest_out))
    qc.write(Path(qc_out))
    LOGGER.info(
        "%s: %d captures listed, %d kept (%s)",
        qc.source_file,
        qc.records_read,
        qc.records_kept,
        qc.status,
    )


@logged_job
def blocklist_snapshot(
    *,
    manifests: Sequence[Path],
    snapshot_id: str,
    entries_out: Path,
    qc_out: Path,
    config: Mapping[str, Any],
) -> None:
    """Download one snapshot (a 404 is recorded as 'missing'), parse it, write entries + QC."""
    from takedowns.blocklists import snapshots as blocklists

    qc = blocklists.process_snapshot(
        blocklist_manifest(manifests),
        snapshot_id,
        Path(entries_out),
        Path(qc_out),
        config,
        raw_root=RAW_ROOT,
        checksums=CHECKSUMS,
    )
    LOGGER.info("%s: %s, kept %d %s", qc.source_file, qc.status, qc.records_kept, qc.note)


@logged_job
def blocklist_check(
    *,
    list_name: str,
    manifests: Sequence[Path],
    entries: Sequence[Path],
    qc_paths: Sequence[Path],
    snapshots_out: Path,
    entries_out: Path,
    qc_out: Path,
    config: Mapping[str, Any],
) -> None:
    """Per list: the snapshots table with the neighbour check, all entries, the list's QC."""
    from takedowns.blocklists import snapshots as blocklists

    qc = blocklists.check_list(
        list_name,
        blocklist_manifest(manifests),
        [Path(p) for p in entries],
        [Path(p) for p in qc_paths],
        Path(snapshots_out),
        Path(qc_out),
        config,
        entries_out=Path(entries_out),
    )
    LOGGER.info(
        "%s: %d snapshots, %d ok; %s",
        list_name,
        qc.records_read,
        qc.records_kept,
        qc.note or "none flagged",
    )
