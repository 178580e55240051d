"""Fast decompression of the raw routing files (gzip, bzip2), standard library as fallback.

* gzip goes through ``isal.isal_zlib`` (the same streaming API as :mod:`zlib`, several times
  faster), or :mod:`zlib` when isal is not installed.
* bzip2 goes through ``indexed_bzip2`` with ``parallelization`` threads: it decompresses
  blocks ahead in the background while the caller walks the output, so the two overlap.
  It is used only for a file whose last bytes hold the bzip2 end-of-stream marker
  (:func:`bz2_tail_complete`, a check of a few bytes): a truncated file is known before
  anything is decompressed, and goes through :mod:`bz2`, whose output ends exactly after
  the last complete block. If indexed_bzip2 fails mid-file (corrupt data), the standard
  decompressor takes over at the same output offset, so the bytes handed on are the same
  as with :mod:`bz2` alone.
"""

from __future__ import annotations

import bz2
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: The 48-bit bzip2 end-of-stream magic (sqrt(pi)), followed by a 32-bit combined CRC and
#: 0-7 bits of padding to the byte boundary.
_BZ2_EOS = 0x177245385090
_MASK48 = (1 << 48) - 1


def gzip_decompressor() -> Any:
    """A ``decompressobj(47)`` (gzip or zlib header, auto-detected): isal's when available."""
    try:
        from isal import isal_zlib
    except ImportError:  # pragma: no cover - isal is a dependency
        return zlib.decompressobj(47)
    return isal_zlib.decompressobj(47)


def gzip_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a gzip decompressor raises on corrupt data."""
    try:
        from isal import isal_zlib
    except ImportError:  # pragma: no cover
        return (zlib.error,)
    return (zlib.error, isal_zlib.error)


def bz2_tail_complete(path: Path) -> bool:
    """True when the file's last bytes are a bzip2 end-of-stream marker (then the last
    stream is complete unless its blocks are corrupt; False for a truncated stream or
    trailing bytes after it)."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size < 14:  # "BZh9" + the 10-byte end-of-stream marker of an empty stream
            return False
        fh.seek(size - 11)
        tail = int.from_bytes(fh.read(11), "big")
    for pad in range(8):
        if tail & ((1 << pad) - 1):
            continue  # the padding bits are zero
        if (tail >> (pad + 32)) & _MASK48 == _BZ2_EOS:
            return True
    return False


def default_threads() -> int:
    """bzip2 threads: the cores this process may use, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def bz2_parallel_chunks(path: Path, chunk: int, threads: int) -> Iterator[bytes]:
    """The decompressed bytes of a complete bzip2 file (all its streams) from
    indexed_bzip2, ``chunk`` bytes at a time. Raises :class:`Bz2Fallback` (with the number
    of bytes already yielded) when indexed_bzip2 cannot go on."""
    try:
        import indexed_bzip2
    except ImportError as exc:  # pragma: no cover - indexed_bzip2 is a dependency
        raise Bz2Fallback(0) from exc
    done = 0
    try:
        handle = indexed_bzip2.open(str(path), parallelization=threads)
    except Exception as exc:
        raise Bz2Fallback(0) from exc
    try:
        while True:
            try:
                block = handle.read(chunk)
            except Exception as exc:
                raise Bz2Fallback(done) from exc
            if not block:
                return
            done += len(block)
            yield block
    finally:
        handle.close()


class Bz2Fallback(Exception):
    """indexed_bzip2 stopped after ``done`` output bytes: the standard decompressor must
    take over from there."""

    def __init__(self, done: int) -> None:
        super().__init__(f"indexed_bzip2 stopped after {done} bytes")
        self.done = done


def skip_output(chunks: Iterator[bytes], skip: int) -> Iterator[bytes]:
    """``chunks`` without their first ``skip`` bytes."""
    for block in chunks:
        if skip >= len(block):
            skip -= len(block)
            continue
        yield block[skip:] if skip else block
        skip = 0


def new_decompressor(kind: str) -> Any:
    """A streaming decompressor for ``gzip`` or ``bz2``."""
    return gzip_decompressor() if kind == "gzip" else bz2.BZ2Decompressor()
