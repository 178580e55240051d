"""Jobs of the Snakefile: the data package."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from takedowns.joblog import LOGGER, logged_job


@logged_job
def datapackage(*, out: Path, config: Mapping[str, Any]) -> None:
    """Write data/processed/datapackage.json over every processed Parquet file."""
    from takedowns import datapackage as dp

    package = dp.write(Path(out).parent, Path(out), config)
    LOGGER.info("%d resources", len(package["resources"]))
