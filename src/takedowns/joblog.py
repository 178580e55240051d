"""Per-job log files for rules that run in the Snakemake process.

Jobs run as threads of one process, so a job's handler keeps only the records logged by its
own thread: two jobs running side by side never write into each other's log.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
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


def _path_parameters(func: Callable[..., Any]) -> tuple[frozenset[str], frozenset[str]]:
    """The parameters of ``func`` annotated as a path, and those annotated as paths."""
    single, many = set(), set()
    for name, param in inspect.signature(func).parameters.items():
        note = param.annotation
        if not isinstance(note, str):  # annotations evaluated: a class or a typing form
            note = getattr(note, "__name__", str(note))
        if "[Path]" in note:  # Sequence[Path], list[Path]
            many.add(name)
        elif note.startswith("Path"):  # Path, Path | None
            single.add(name)
    return frozenset(single), frozenset(many)


def logged_job(func: Callable[..., R]) -> Callable[..., R]:
    """A job function that takes ``log=`` (the rule's log file): its run, any error, and a
    closing line with the time it took go there (see :func:`job_log`).

    Rules hand over file names as strings: arguments annotated ``Path`` become a
    :class:`~pathlib.Path`, and those annotated ``Sequence[Path]`` a list of them, so the job
    itself sees the types it declares.
    """
    single, many = _path_parameters(func)

    @functools.wraps(func)
    def run(*args: Any, log: str | Path | None = None, **kwargs: Any) -> R:
        for name in single & kwargs.keys():
            if isinstance(kwargs[name], str):
                kwargs[name] = Path(kwargs[name])
        for name in many & kwargs.keys():
            if not isinstance(kwargs[name], str | Path):
                kwargs[name] = [Path(p) if isinstance(p, str) else p for p in kwargs[name]]
        with job_log(log) as logger:
            started = time.monotonic()
            result = func(*args, **kwargs)
            logger.info("%s finished in %.2f s", func.__name__, time.monotonic() - started)
            return result

    return run
