"""What a downloaded body must be before it counts as downloaded: :func:`check_content`.

Guarantees:

* **Containers are decoded in full, with their checksums.** gzip, bzip2 and xz files are
  decompressed to the end (every member or stream; gzip CRC-32 and ISIZE, bzip2 block CRCs,
  xz check), streaming in :data:`CHECK_CHUNK` pieces, so memory stays bounded whatever the
  size. A 7z archive has every folder decoded and every member's and folder's CRC checked by
  :mod:`takedowns.stream7z` (not only its headers). A body that fails raises
  :class:`CorruptContent`, so the fetch is retried and nothing is recorded.
* **An early end is told apart from corruption.** A gzip/bzip2/xz stream whose bytes all
  decode but that stops before its end marker raises :class:`TruncatedContent`: its complete
  records are usable, and when the source serves the same bytes again the fetch records the
  file ``truncated_at_source``. A 7z archive cut short has lost its header (stored at the
  end), so it is corrupt, never truncated-at-source.
* **An HTML page never passes as data** (the error page of a busy archive), whatever the
  name promises, unless HTML is expected.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import IO, Literal
from urllib.parse import unquote, urlsplit

from takedowns.errors import ContentError, CorruptContent, TruncatedContent
from takedowns.stream7z import SevenZipError, iter_member_heads

#: What a downloaded body must be; ``binary`` only refuses an HTML page.
Expect = Literal["html", "json", "text", "gzip", "bz2", "xz", "7z", "binary"]
#: Bytes read (and at most produced) per decoder call while checking a container.
CHECK_CHUNK = 1 << 20

_SUFFIX_EXPECT: dict[str, Expect] = {
    ".gz": "gzip",
    ".tgz": "gzip",
    ".bz2": "bz2",
    ".xz": "xz",
    ".7z": "7z",
    ".json": "json",
    ".html": "html",
    ".htm": "html",
    ".txt": "text",
    ".log": "text",
    ".csv": "text",
}
NOUN: dict[Expect, str] = {
    "html": "HTML",
    "json": "JSON",
    "text": "text",
    "gzip": "gzip data",
    "bz2": "bzip2 data",
    "xz": "xz data",
    "7z": "a 7z archive",
    "binary": "the file's data",
}


def infer_expect(url: str) -> Expect:
    """What the URL's file name promises (a directory URL promises an HTML listing)."""
    path = urlsplit(url).path
    if not path or path.endswith("/"):
        return "html"
    return _SUFFIX_EXPECT.get(PurePosixPath(unquote(path)).suffix.lower(), "binary")


def looks_like_html(head: bytes) -> bool:
    """Whether bytes start like an HTML document (after a UTF-8 BOM and whitespace)."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    return text.startswith((b"<!doctype html", b"<html"))


def check_content(path: Path, expect: Expect, url: str, content_type: str | None = None) -> None:
    """Raise ContentError unless ``path`` holds complete ``expect`` data (not an HTML page).

    :class:`TruncatedContent` for a stream container that ends early, :class:`CorruptContent`
    for one that does not decode, plain :class:`ContentError` for HTML, JSON or text.
    """
    with Path(path).open("rb") as handle:
        head = handle.read(1024)
    if expect != "html" and looks_like_html(head):
        raise ContentError(
            f"{url}: server returned an HTML page (Content-Type {content_type or 'not given'}) "
            f"instead of {NOUN[expect]}"
        )
    if expect in _OPENERS:
        decode_stream(path, expect, url)
    elif expect == "7z":
        decode_7z(path, url)
    elif expect == "json":
        try:
            json.loads(Path(path).read_bytes())
        except ValueError as exc:
            raise ContentError(f"{url}: not valid JSON ({_one_line(exc)})") from exc
    elif expect == "text":
        with Path(path).open("rb") as handle:
            if b"\x00" in handle.read(CHECK_CHUNK):
                raise ContentError(f"{url}: expected text, found NUL bytes")


_OPENERS: dict[str, Callable[..., IO[bytes]]] = {
    "gzip": gzip.open,
    "bz2": bz2.open,
    "xz": lzma.open,
}


def decode_stream(path: Path, expect: Expect, url: str) -> int:
    """Decompress every stream of a gzip/bzip2/xz file to its end; return the decoded size.

    Reads :data:`CHECK_CHUNK` bytes at a time (bounded memory); concatenated streams
    (multi-member gzip, multi-stream bzip2) are followed. Raises :class:`TruncatedContent`
    when the data ends inside a stream, :class:`CorruptContent` when it does not decode.
    """
    noun = NOUN[expect]
    total = 0  # decoded bytes
    try:
        with _OPENERS[expect](path, "rb") as stream:
            while block := stream.read(CHECK_CHUNK):
                total += len(block)
    except EOFError as exc:
        raise TruncatedContent(
            f"{url}: incomplete {noun}: the stream ends before its end marker ({_one_line(exc)})"
        ) from exc
    except (OSError, lzma.LZMAError, zlib.error) as exc:
        raise CorruptContent(f"{url}: incomplete or corrupt {noun} ({_one_line(exc)})") from exc
    return total


def decode_7z(path: Path, url: str) -> int:
    """Decode every folder of a 7z archive, checking every CRC; return the member count."""
    count = 0
    try:
        for _ in iter_member_heads(path, 0):
            count += 1
    except SevenZipError as exc:
        message = str(exc).removeprefix(f"{path}: ")
        raise CorruptContent(f"{url}: {message}") from exc
    return count


def _one_line(exc: BaseException | str) -> str:
    text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    return " ".join(str(text).split())
