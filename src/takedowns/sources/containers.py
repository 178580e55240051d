"""What a downloaded body must be before it counts as downloaded (:func:`check_content`), and
the one 7z reader of the package (:func:`iter_member_heads`).

Guarantees:

* **Containers are decoded in full, with their checksums.** gzip, bzip2 and xz files are
  decompressed to the end (every member or stream; gzip CRC-32 and ISIZE, bzip2 block CRCs,
  xz check), streaming in :data:`CHECK_CHUNK` pieces, so memory stays bounded whatever the
  size. A 7z archive has every member decoded and its CRC checked by
  :func:`iter_member_heads` (not only its headers). A body that fails raises
  :class:`CorruptContent`, so the fetch is retried and nothing is recorded.
* **An early end is told apart from corruption.** A gzip/bzip2/xz stream whose bytes all
  decode but that stops before its end marker raises :class:`TruncatedContent`: its complete
  records are usable, and when the source serves the same bytes again the fetch records the
  file ``truncated_at_source``. A 7z archive cut short has lost its header (stored at the
  end), so it is corrupt, never truncated-at-source.
* **An HTML page never passes as data** (the error page of a busy archive), whatever the
  name promises, unless HTML is expected.

Reading 7z archives (:func:`iter_member_heads`): the 32-byte signature header is read and
checked here (signature, CRC, the end header lies inside the file and matches its CRC), so a
cut or foreign file gets a plain message; the members are then decoded by the system
libarchive through ``libarchive-c``, one member at a time, in blocks: only the first
``max_head_bytes`` of each member are kept, the rest is counted and dropped, and libarchive
checks every member's CRC. Coders that libarchive 3.6 does not decode (Deflate64, ARM64,
RISC-V) are decoded by the 7-Zip program when it is installed (``7zz`` or ``7z``), streamed
from its standard output; without it they are refused, naming the coder, the archive and
the command that installs 7-Zip. Encrypted archives (AES content or an encrypted header) are
refused. ``docs/source-formats.md`` has the table of coders and how each is tested.
"""

from __future__ import annotations

import bz2
import ctypes
import gzip
import itertools
import json
import lzma
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal
from urllib.parse import unquote, urlsplit

from takedowns.errors import ContentError, CorruptContent, TruncatedContent
from takedowns.qc import MalformedInput

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
    """Decode every member of a 7z archive, checking every CRC; return the member count."""
    count = 0
    try:
        for _ in iter_member_heads(path, 0):
            count += 1
    except SevenZipError as exc:
        message = str(exc).removeprefix(f"{path}: ")
        raise CorruptContent(f"{url}: {message}") from exc
    return count


# --------------------------------------------------------------------------------------------
# 7z archives

SEVEN_ZIP_SIGNATURE = b"7z\xbc\xaf\x27\x1c"
#: Bytes of an archive read at a time (libarchive's reads and the end-header CRC).
READ_BLOCK = 1 << 20
#: The one command that installs what is missing, per platform (``sys.platform``).
INSTALL_COMMANDS: dict[str, dict[str, str]] = {
    "libarchive": {"darwin": "brew install libarchive", "": "apt-get install libarchive13"},
    "7-Zip": {"darwin": "brew install sevenzip", "": "apt-get install 7zip"},
}
#: 7-Zip program names, in order of preference (the ``7zip`` and ``p7zip-full`` packages).
SEVEN_ZIP_PROGRAMS = ("7zz", "7z")
#: 7z coder ids (hexadecimal, as libarchive prints them) of coders libarchive 3.6 refuses.
CODEC_NAMES = {
    "40109": "Deflate64",
    "a": "ARM64",
    "b": "RISC-V",
    "4f71101": "Zstandard",
    "4f71102": "Brotli",
    "4f71104": "LZ4",
}
#: How libarchive 3.6 names a coder it does not decode (the id in hexadecimal).
_CODEC_ID = re.compile(r"(?:(?:Unknown|Unexpected) codec ID:|Unsupported filter) ([0-9a-fA-F]+)\b")
_ARCHIVE_OK, _ARCHIVE_EOF, _ARCHIVE_WARN = 0, 1, -20
_S_IFMT, _S_IFDIR = 0o170000, 0o040000


class SevenZipError(MalformedInput):
    """A 7z archive is truncated or corrupt, or a member fails its CRC; names the file."""


class SevenZipRefused(SevenZipError):
    """A 7z archive that is not read: encrypted, or a coder that nothing installed decodes."""


class LibarchiveMissing(ImportError):
    """The system libarchive, which decodes 7z archives, cannot be loaded."""


@dataclass(frozen=True, slots=True)
class MemberHead:
    """One archive member as streamed: its name, full size and first bytes.

    ``is_dir`` marks directory entries (no data). ``head`` holds at most the requested
    number of bytes; ``size`` is the member's full uncompressed size.
    """

    name: str
    size: int
    head: bytes
    is_dir: bool


@dataclass(frozen=True, slots=True)
class StartHeader:
    """A 7z signature header: where the end header lies (absolute offset), its size and CRC."""

    end_offset: int
    end_length: int
    end_crc: int


def install_command(what: str) -> str:
    """The command that installs ``what`` (``libarchive`` or ``7-Zip``) on this platform."""
    commands = INSTALL_COMMANDS[what]
    return commands.get(sys.platform, commands[""])


def read_start_header(path: Path | str) -> StartHeader:
    """Read and check a 7z archive's signature header and the CRC of its end header.

    Raises :class:`SevenZipError` naming the file: not a 7z archive, a start header that
    fails its CRC, an end header past the end of the file (truncated), or one that fails
    its CRC. The end header is read in :data:`READ_BLOCK` pieces.
    """
    with open(path, "rb") as fh:
        head = fh.read(32)
        if len(head) < 32 or not head.startswith(SEVEN_ZIP_SIGNATURE):
            raise SevenZipError(f"{path}: not a 7z archive (starts with {head[:6]!r})")
        (start_crc,) = struct.unpack_from("<I", head, 8)
        if zlib.crc32(head[12:32]) != start_crc:
            raise SevenZipError(f"{path}: corrupt 7z start header (CRC mismatch)")
        offset, length, crc = struct.unpack_from("<QQI", head, 12)
        size = fh.seek(0, 2)
        if size < 32 + offset + length:
            raise SevenZipError(
                f"{path}: truncated 7z archive: its header ends at byte "
                f"{32 + offset + length}, the file has {size} bytes"
            )
        fh.seek(32 + offset)
        left, found = length, 0
        while left:
            block = fh.read(min(READ_BLOCK, left))
            found, left = zlib.crc32(block, found), left - len(block)
        if found != crc:
            raise SevenZipError(f"{path}: corrupt 7z archive (end header CRC mismatch)")
    return StartHeader(32 + offset, length, crc)


def iter_member_heads(path: Path | str, max_head_bytes: int) -> Iterator[MemberHead]:
    """Yield every member of the 7z archive at ``path`` in order, keeping ``max_head_bytes``.

    Members are decoded by libarchive one at a time, in blocks, and every member's CRC is
    checked: memory is libarchive's member index plus its decoder state, whatever the
    members' sizes. A coder libarchive does not decode is handed to the 7-Zip program from
    the first member libarchive could not read (:func:`_seven_zip_members`). Errors:
    :class:`SevenZipError` (truncated, corrupt, CRC), :class:`SevenZipRefused` (encrypted,
    or a coder nothing installed decodes), :class:`LibarchiveMissing`; each names the file.
    """
    if read_start_header(path).end_length == 0:
        return  # an empty archive: no end header, no members
    done = 0
    try:
        for member in _libarchive_members(path, max_head_bytes):
            yield member
            done += 1
    except _NeedsSevenZip as need:
        yield from _seven_zip_members(path, max_head_bytes, need, skip=done)


class _NeedsSevenZip(Exception):
    """libarchive cannot go on: a coder it does not know (``codec``), or (``codec`` None) an
    end header it calls malformed although the header passed its CRC."""

    def __init__(self, codec: str | None, said: str) -> None:
        super().__init__(codec, said)
        self.codec, self.said = codec, said


class _Libarchive:
    """The C functions used per member, without ``libarchive-c``'s error hook (which logs a
    bad CRC, reported as a warning, and carries on), so every return code is checked here."""

    def __init__(self) -> None:
        import libarchive.ffi as ffi

        c = ctypes
        self.ffi = ffi
        version = c.CFUNCTYPE(c.c_char_p)(("archive_version_string", ffi.libarchive))()
        self.version = version.decode("ascii", "replace") if version else "libarchive"

        def proto(name: str, restype: Any, *args: Any) -> Any:
            return c.CFUNCTYPE(restype, *args)((f"archive_{name}", ffi.libarchive))

        vp, out = c.c_void_p, c.POINTER
        self.next_header = proto("read_next_header2", c.c_int, vp, vp)
        self.data_block = proto(
            "read_data_block", c.c_int, vp, out(vp), out(c.c_size_t), out(c.c_int64)
        )
        self.error_string = proto("error_string", c.c_char_p, vp)
        self.entry_new = proto("entry_new", vp)
        self.entry_free = proto("entry_free", None, vp)
        self.pathname_w = proto("entry_pathname_w", c.c_wchar_p, vp)
        self.pathname = proto("entry_pathname", c.c_char_p, vp)
        self.filetype = proto("entry_filetype", c.c_uint, vp)
        self.size = proto("entry_size", c.c_int64, vp)
        self.size_is_set = proto("entry_size_is_set", c.c_int, vp)

    def error(self, archive: int, path: Path | str, member: str | None) -> Exception:
        """The error for libarchive's last failure on ``archive``."""
        raw = self.error_string(archive)
        text = " ".join(raw.decode("utf-8", "replace").split()) if raw else ""
        where = f"{path}: member {member!r}: " if member is not None else f"{path}: "
        if "encrypted" in text.lower():
            return SevenZipRefused(
                f"{path}: encrypted 7z archive refused ({text}): the archive must be "
                "published unencrypted; no password is configured"
            )
        if codec := _CODEC_ID.search(text):
            return _NeedsSevenZip(CODEC_NAMES.get(codec[1].lower(), f"id 0x{codec[1]}"), text)
        if "bad CRC" in text:
            return SevenZipError(f"{where}CRC mismatch, corrupt 7z data (libarchive: {text})")
        if not text:
            return SevenZipError(
                f"{where}corrupt or truncated 7z archive (libarchive gives no reason)"
            )
        return SevenZipError(f"{where}corrupt 7z archive (libarchive: {text})")


_LIBARCHIVE: list[_Libarchive] = []


def load_libarchive() -> _Libarchive:
    """The system libarchive through ``libarchive-c``, loaded once; if it cannot be loaded,
    :class:`LibarchiveMissing` names the command that installs it."""
    if not _LIBARCHIVE:
        try:
            _LIBARCHIVE.append(_Libarchive())
        except (ImportError, OSError, AttributeError, TypeError) as exc:
            raise LibarchiveMissing(
                f"7z archives are read with the system libarchive, which cannot be loaded "
                f"({_one_line(exc)}); install it with: {install_command('libarchive')}"
            ) from exc
    return _LIBARCHIVE[0]


def _libarchive_members(path: Path | str, cap: int) -> Iterator[MemberHead]:
    lib = load_libarchive()
    ffi = lib.ffi
    archive = ffi.read_new()
    entry = lib.entry_new()
    block, size_out, offset_out = ctypes.c_void_p(), ctypes.c_size_t(), ctypes.c_int64()
    refs = ctypes.byref(block), ctypes.byref(size_out), ctypes.byref(offset_out)
    try:
        ffi.get_read_format_function("7zip")(archive)
        try:
            ffi.read_open_filename_w(archive, str(path), READ_BLOCK)
        except ffi.ArchiveError:
            raise lib.error(archive, path, None) from None
        first = True
        while True:
            code = lib.next_header(archive, entry)
            if code == _ARCHIVE_EOF:
                return
            if code < _ARCHIVE_WARN:  # a warning (a name not in the locale) is not fatal
                error = lib.error(archive, path, None)
                if first and "Malformed 7-Zip archive" in str(error):
                    # The end header passed its CRC: a form libarchive does not take (py7zr
                    # encodes even an empty header), or damage 7-Zip will report.
                    raise _NeedsSevenZip(None, "Malformed 7-Zip archive")
                raise error
            first = False
            name = lib.pathname_w(entry)
            if name is None:
                raw = lib.pathname(entry)
                name = raw.decode("utf-8", "replace") if raw is not None else ""
            is_dir = lib.filetype(entry) & _S_IFMT == _S_IFDIR
            if is_dir:
                name = name.rstrip("/")  # libarchive adds a slash; the archive has none
            declared = lib.size(entry) if lib.size_is_set(entry) else None
            size, kept, parts = 0, 0, []
            while (code := lib.data_block(archive, *refs)) != _ARCHIVE_EOF:
                if code != _ARCHIVE_OK:  # a bad CRC is a warning
                    raise lib.error(archive, path, name)
                n = size_out.value
                if kept < cap and n:
                    part = ctypes.string_at(block.value, min(n, cap - kept))
                    parts.append(part)
                    kept += len(part)
                size += n
            if declared is not None and size != declared:
                raise SevenZipError(
                    f"{path}: member {name!r}: {size} bytes decoded, the header says {declared}"
                )
            yield MemberHead(name, size, b"".join(parts), is_dir)
    finally:
        lib.entry_free(entry)
        ffi.read_free(archive)


def seven_zip_program() -> str | None:
    """The path of the 7-Zip program (:data:`SEVEN_ZIP_PROGRAMS`), or None."""
    for name in SEVEN_ZIP_PROGRAMS:
        if found := shutil.which(name):
            return found
    return None


def _seven_zip_members(
    path: Path | str, cap: int, need: _NeedsSevenZip, skip: int
) -> Iterator[MemberHead]:
    """Members decoded by the 7-Zip program, from member ``skip`` on.

    Two processes read the archive: ``l -slt`` lists names and sizes, ``x -so`` writes the
    members' bytes one after the other; both are read in step, a block at a time. 7-Zip
    checks the CRCs and reports a failure in its exit status, which is checked once the
    last member is read: a bad member is an error before the caller finishes.
    """
    program, codec = seven_zip_program(), need.codec or "header"
    if program is None and need.codec is None:
        raise SevenZipError(
            f"{path}: corrupt 7z archive or a header form libarchive does not read "
            f"(libarchive: {need.said}); the 7-Zip program, which reads such headers, is not "
            f"installed; install it with: {install_command('7-Zip')}"
        )
    if program is None:
        raise SevenZipRefused(
            f"{path}: 7z coder {codec} is not decoded by the system libarchive "
            f"({load_libarchive().version}) and the 7-Zip program is not installed; "
            f"install it with: {install_command('7-Zip')}"
        )
    options = ["-p", "-bd", "--", str(path)]  # -p: an empty password, never a prompt
    with tempfile.TemporaryFile() as list_err, tempfile.TemporaryFile() as data_err:
        listing = subprocess.Popen(
            [program, "l", "-slt", "-ba", *options],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=list_err,
        )  # fmt: skip
        data = subprocess.Popen(
            [program, "x", "-so", *options],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=data_err,
        )  # fmt: skip
        assert listing.stdout is not None and data.stdout is not None
        try:
            short = False
            for i, (name, declared, is_dir) in enumerate(_listed(listing.stdout, path)):
                size, kept, parts = 0, 0, []
                while size < declared:
                    piece = data.stdout.read(min(READ_BLOCK, declared - size))
                    if not piece:
                        short = True
                        break
                    if kept < cap:
                        parts.append(piece[: cap - kept])
                        kept += len(parts[-1])
                    size += len(piece)
                if short:
                    break
                if i >= skip:
                    yield MemberHead(name, size, b"".join(parts), is_dir)
            extra = data.stdout.read(1)
            for pipe in (listing.stdout, data.stdout):
                pipe.close()  # a process still writing stops (SIGPIPE) instead of blocking
            codes = (listing.wait(), data.wait())
        finally:
            for proc in (listing, data):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        if codes != (0, 0) or short or extra:
            list_err.seek(0)
            data_err.seek(0)
            said = _one_line((list_err.read() + data_err.read()).decode("utf-8", "replace"))
            if "Unsupported Method" in said:
                raise SevenZipRefused(
                    f"{path}: 7z coder {codec} is decoded neither by the system libarchive "
                    f"nor by {program} ({said}); install a current 7-Zip with: "
                    f"{install_command('7-Zip')}"
                )
            if "CRC Failed" in said:
                raise SevenZipError(f"{path}: CRC mismatch, corrupt 7z data (7-Zip: {said})")
            what = "its data ends early" if short else "more data than its members" if extra else ""
            raise SevenZipError(
                f"{path}: corrupt 7z archive ({what or f'7-Zip exit status {codes[1]}'}; "
                f"7-Zip: {said or 'no message'})"
            )


def _listed(lines: IO[bytes], path: Path | str) -> Iterator[tuple[str, int, bool]]:
    """(name, size, is_dir) of each member in a ``7z l -slt -ba`` listing, in archive order."""
    item: dict[str, str] = {}
    for raw in itertools.chain(lines, [b""]):
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if line.startswith("Path = ") and item:
            raise SevenZipError(f"{path}: unreadable 7-Zip listing near {line!r}")
        key, sep, value = line.partition(" = ")
        if sep:
            item[key] = value
        elif item:  # a blank line ends an item
            if "Path" not in item:
                raise SevenZipError(f"{path}: unreadable 7-Zip listing (an item without a path)")
            directory = item.get("Folder") == "+" or item.get("Attributes", "").startswith("D")
            yield item["Path"], 0 if directory else int(item.get("Size") or 0), directory
            item = {}


def _one_line(exc: BaseException | str) -> str:
    text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    return " ".join(str(text).split())
