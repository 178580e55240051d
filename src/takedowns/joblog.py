"""Per-job log files for rules that run in the Snakemake process.

Jobs run as threads of one process, so a job's handler keeps only the records logged by its
own thread: two jobs running side by side never write into each other's log.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

LOGGER = logging.getLogger("takedowns")
R = TypeVar("R")


@contextlib.contextmanager
def job_log(path: str | Path | None) -> Iterator[logging.Logger]:
    """Send this thread's ``takedowns.*`` log records to ``path`` while the block runs."""
    if path is None:
        yield LOGGER
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    thread = threading.get_ident()
    handler.addFilter(lambda record: record.thread == thread)
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.INFO)
    try:
        yield LOGGER
    except Exception as exc:
        LOGGER.error("%s", exc)
        raise
    finally:
        LOGGER.removeHandler(handler)
        handler.close()


def logged_job(func: Callable[..., R]) -> Callable[..., R]:
    """A job function that takes ``log=`` (the rule's log file): its run, any error, and a
    closing line with the time it took go there (see :func:`job_log`)."""

    @functools.wraps(func)
    def run(*args: Any, log: str | Path | None = None, **kwargs: Any) -> R:
        with job_log(log) as logger:
            started = time.monotonic()
            result = func(*args, **kwargs)
            logger.info("%s finished in %.2f s", func.__name__, time.monotonic() - started)
            return result

    return run
