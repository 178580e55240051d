"""Jobs of the Snakefile: the data package."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from takedowns.joblog import job_log


def datapackage(out: Path, config: Mapping[str, Any], log: Path | None = None) -> None:
    """Write data/processed/datapackage.json over every processed Parquet file."""
    from takedowns import datapackage as dp

    with job_log(log) as logger:
        package = dp.write(Path(out).parent, Path(out), config)
        logger.info("%d resources", len(package["resources"]))
