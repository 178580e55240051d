"""Stream the members of a (solid) 7z archive one at a time, in bounded memory.

Why not ``py7zr.SevenZipFile`` directly: its readers either load every member into memory
(``read(targets)``) or push members into writer objects that it keeps for the whole
extraction (``extract(factory=...)``: measured 1.7 GB RSS for 400,000 small members, about
9,000 members/s), and its index holds a Python dict per member (~650 bytes each). The
spam-trap archives are solid 7z files of hundreds of thousands to millions of messages, so
this module reads the format itself (7-Zip's ``7zFormat.txt``):

* the signature header and the (possibly LZMA-encoded) end header are read and checked
  against their CRCs; the member index is kept compactly (the UTF-16 name blob, sizes in an
  ``array('Q')``, CRCs in an ``array('I')``): ~80-100 bytes per member, the only part of the
  memory that grows with the archive;
* each folder (solid block) is decompressed as one stream, read from the file in 1 MiB
  pieces and decoded in bounded chunks; members are cut from the stream in order; only the
  first ``max_head_bytes`` of each member are kept, the rest is counted, checksummed and
  dropped.

Coders: Copy, LZMA, LZMA2 (optionally behind BCJ/Delta filters, through :mod:`lzma`),
PPMd (``pyppmd``, a py7zr dependency), BZip2 and Deflate. Anything else (AES encryption,
BCJ2, Zstandard...) is an error naming the archive and the coder.

A truncated file, a bad CRC or a corrupt stream raises :class:`SevenZipError` naming the
archive (and the member, where known).
"""

from __future__ import annotations

import bz2
import lzma
import re
import struct
import zlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from takedowns.qc import MalformedInput

SIGNATURE = b"7z\xbc\xaf\x27\x1c"
#: Compressed bytes read from the file at a time.
READ_CHUNK = 1 << 20
#: Decompressed bytes produced per decoder call (bounds memory whatever a member's size).
OUT_CHUNK = 1 << 20

# Property ids of 7zFormat.txt
_END, _HEADER, _ARCHIVE_PROPERTIES, _ADDITIONAL_STREAMS, _MAIN_STREAMS = 0, 1, 2, 3, 4
_FILES_INFO, _PACK_INFO, _UNPACK_INFO, _SUBSTREAMS_INFO, _SIZE, _CRC = 5, 6, 7, 8, 9, 10
_FOLDER, _CODERS_UNPACK_SIZE, _NUM_UNPACK_STREAM = 11, 12, 13
_EMPTY_STREAM, _EMPTY_FILE, _NAME, _ENCODED_HEADER, _DUMMY = 14, 15, 17, 23, 25

_LZMA_FILTERS = {
    b"\x21": lzma.FILTER_LZMA2,
    b"\x03\x01\x01": lzma.FILTER_LZMA1,
    b"\x03": lzma.FILTER_DELTA,
    b"\x04": lzma.FILTER_X86,
    b"\x03\x03\x01\x03": lzma.FILTER_X86,
    b"\x05": lzma.FILTER_POWERPC,
    b"\x03\x03\x02\x05": lzma.FILTER_POWERPC,
    b"\x06": lzma.FILTER_IA64,
    b"\x03\x03\x04\x01": lzma.FILTER_IA64,
    b"\x07": lzma.FILTER_ARM,
    b"\x03\x03\x05\x01": lzma.FILTER_ARM,
    b"\x08": lzma.FILTER_ARMTHUMB,
    b"\x03\x03\x07\x01": lzma.FILTER_ARMTHUMB,
    b"\x09": lzma.FILTER_SPARC,
    b"\x03\x03\x08\x05": lzma.FILTER_SPARC,
}
_COPY, _PPMD, _BZIP2, _DEFLATE = b"\x00", b"\x03\x04\x01", b"\x04\x02\x02", b"\x04\x01\x08"
_CODER_NAMES = {b"\x06\xf1\x07\x01": "AES-256 (encrypted)", b"\x03\x03\x01\x1b": "BCJ2"}


class SevenZipError(MalformedInput):
    """The archive is truncated, corrupt, or uses a feature this reader does not support."""


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


@dataclass(frozen=True)
class _Coder:
    method: bytes
    props: bytes
    n_in: int
    n_out: int


@dataclass
class _Folder:
    coders: list[_Coder]
    bind_pairs: list[tuple[int, int]]
    packed: list[int]
    unpack_sizes: list[int]
    crc: int | None = None
    pack_offset: int = 0  # absolute file offset of the folder's packed stream
    pack_size: int = 0

    @property
    def main_out(self) -> int:
        """Index of the output stream that is not bound to another coder's input."""
        bound = {out for _, out in self.bind_pairs}
        total = sum(c.n_out for c in self.coders)
        free = [i for i in range(total) if i not in bound]
        return free[0] if free else 0

    @property
    def unpack_size(self) -> int:
        return self.unpack_sizes[self.main_out]


@dataclass
class _Index:
    folders: list[_Folder]
    streams_per_folder: list[int]
    sizes: array  # one per non-empty stream, in order
    crcs: array
    crc_defined: bytearray
    n_files: int
    empty_stream: bytes  # bit vector over files (MSB first); b"" = none empty
    empty_file: bytes  # bit vector over empty streams
    names: bytes | memoryview  # UTF-16LE, each name NUL-terminated


class _Reader:
    """A cursor over header bytes with the 7z number encodings."""

    __slots__ = ("buf", "path", "pos")

    def __init__(self, buf: bytes | memoryview, path: str) -> None:
        # A memoryview: fields are sliced without copying the (possibly large) header.
        self.buf, self.pos, self.path = memoryview(buf), 0, path

    def fail(self, what: str) -> SevenZipError:
        return SevenZipError(f"{self.path}: corrupt 7z header ({what} at header byte {self.pos})")

    def byte(self) -> int:
        if self.pos >= len(self.buf):
            raise self.fail("unexpected end")
        value = self.buf[self.pos]
        self.pos += 1
        return value

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise self.fail(f"field of {n} bytes runs past the end")
        value = self.buf[self.pos : self.pos + n]
        self.pos += n
        return value

    def number(self) -> int:
        first = self.byte()
        mask, value = 0x80, 0
        for i in range(8):
            if first & mask == 0:
                return value | ((first & (mask - 1)) << (8 * i))
            value |= self.byte() << (8 * i)
            mask >>= 1
        return value

    def uint32(self) -> int:
        return struct.unpack("<I", self.take(4))[0]

    def bits(self, n: int) -> bytes:
        return bytes(self.take((n + 7) // 8))

    def bits_or_all(self, n: int) -> bytes:
        """``AllAreDefined`` byte then, when 0, a bit vector of ``n`` bits."""
        if self.byte():
            return b"\xff" * ((n + 7) // 8)
        return self.bits(n)

    def expect(self, prop: int, what: str) -> None:
        found = self.byte()
        if found != prop:
            self.pos -= 1
            raise self.fail(f"expected {what} (id {prop}), found id {found}")


def _bit(vector: bytes, i: int) -> bool:
    return bool(vector and vector[i >> 3] & (0x80 >> (i & 7)))


def _digests(r: _Reader, n: int) -> tuple[bytearray, array]:
    defined = bytearray(r.bits_or_all(n))
    crcs = array("I", [0] * n)
    for i in range(n):
        if _bit(defined, i):
            crcs[i] = r.uint32()
    return defined, crcs


def _pack_info(r: _Reader) -> tuple[int, list[int]]:
    pack_pos = r.number()
    n = r.number()
    sizes = [0] * n
    while True:
        prop = r.byte()
        if prop == _END:
            return pack_pos, sizes
        if prop == _SIZE:
            sizes = [r.number() for _ in range(n)]
        elif prop == _CRC:
            _digests(r, n)
        else:
            raise r.fail(f"unexpected property {prop} in PackInfo")


def _folder(r: _Reader) -> _Folder:
    coders = []
    for _ in range(r.number()):
        flags = r.byte()
        if flags & 0x80:
            raise r.fail("alternative coder methods are not supported")
        method = bytes(r.take(flags & 0x0F))
        n_in, n_out = (r.number(), r.number()) if flags & 0x10 else (1, 1)
        props = bytes(r.take(r.number())) if flags & 0x20 else b""
        coders.append(_Coder(method, props, n_in, n_out))
    total_out = sum(c.n_out for c in coders)
    total_in = sum(c.n_in for c in coders)
    pairs = [(r.number(), r.number()) for _ in range(total_out - 1)]
    n_packed = total_in - len(pairs)
    if n_packed == 1:
        bound_in = {i for i, _ in pairs}
        packed = [next(i for i in range(total_in) if i not in bound_in)]
    else:
        packed = [r.number() for _ in range(n_packed)]
    return _Folder(coders, pairs, packed, [])


def _unpack_info(r: _Reader) -> list[_Folder]:
    r.expect(_FOLDER, "Folder")
    n = r.number()
    if r.byte():
        raise r.fail("external folder data is not supported")
    folders = [_folder(r) for _ in range(n)]
    r.expect(_CODERS_UNPACK_SIZE, "CodersUnpackSize")
    for f in folders:
        f.unpack_sizes = [r.number() for _ in range(sum(c.n_out for c in f.coders))]
    while True:
        prop = r.byte()
        if prop == _END:
            return folders
        if prop == _CRC:
            defined, crcs = _digests(r, n)
            for i, f in enumerate(folders):
                f.crc = crcs[i] if _bit(defined, i) else None
        else:
            raise r.fail(f"unexpected property {prop} in UnpackInfo")


def _streams_info(
    r: _Reader, base: int
) -> tuple[list[_Folder], list[int], array, array, bytearray]:
    """PackInfo, UnpackInfo, SubStreamsInfo; returns folders and per-stream sizes and CRCs."""
    pack_pos, pack_sizes, folders = 0, [], []
    per_folder: list[int] | None = None
    sub_sizes: list[int] | None = None
    sub_crc: tuple[bytearray, array] | None = None
    while True:
        prop = r.byte()
        if prop == _END:
            break
        if prop == _PACK_INFO:
            pack_pos, pack_sizes = _pack_info(r)
        elif prop == _UNPACK_INFO:
            folders = _unpack_info(r)
        elif prop == _SUBSTREAMS_INFO:
            per_folder = [1] * len(folders)
            while True:
                sp = r.byte()
                if sp == _END:
                    break
                if sp == _NUM_UNPACK_STREAM:
                    per_folder = [r.number() for _ in folders]
                elif sp == _SIZE:
                    sub_sizes = []
                    for f, k in zip(folders, per_folder, strict=True):
                        if k == 0:
                            continue
                        part = [r.number() for _ in range(k - 1)]
                        rest = f.unpack_size - sum(part)
                        if rest < 0:
                            raise r.fail("member sizes exceed their folder's size")
                        sub_sizes += [*part, rest]
                elif sp == _CRC:
                    unknown = sum(
                        k
                        for f, k in zip(folders, per_folder, strict=True)
                        if not (k == 1 and f.crc is not None)
                    )
                    sub_crc = _digests(r, unknown)
                else:
                    raise r.fail(f"unexpected property {sp} in SubStreamsInfo")
        else:
            raise r.fail(f"unexpected property {prop} in StreamsInfo")
    # Each folder's packed streams follow one another from base + pack_pos.
    offset, stream = base + pack_pos, 0
    for f in folders:
        f.pack_offset = offset
        f.pack_size = sum(pack_sizes[stream : stream + len(f.packed)])
        offset += f.pack_size
        stream += len(f.packed)
    if per_folder is None:
        per_folder = [1] * len(folders)
    if sub_sizes is None:
        sub_sizes = [f.unpack_size for f, k in zip(folders, per_folder, strict=True) if k]
    n_streams = len(sub_sizes)
    sizes = array("Q", sub_sizes)
    defined, crcs = bytearray((n_streams + 7) // 8), array("I", [0] * n_streams)
    unknown_i, stream = 0, 0
    for f, k in zip(folders, per_folder, strict=True):
        if k == 1 and f.crc is not None:
            defined[stream >> 3] |= 0x80 >> (stream & 7)
            crcs[stream] = f.crc
            stream += 1
            continue
        for _ in range(k):
            if sub_crc is not None and _bit(sub_crc[0], unknown_i):
                defined[stream >> 3] |= 0x80 >> (stream & 7)
                crcs[stream] = sub_crc[1][unknown_i]
            unknown_i += 1
            stream += 1
    return folders, per_folder, sizes, crcs, defined


def _files_info(r: _Reader) -> tuple[int, bytes, bytes, bytes | memoryview]:
    n = r.number()
    empty_stream, empty_file, names = b"", b"", b""
    while True:
        prop = r.byte()
        if prop == _END:
            return n, empty_stream, empty_file, names
        size = r.number()
        body = _Reader(r.take(size), r.path)
        if prop == _EMPTY_STREAM:
            empty_stream = body.bits(n)
        elif prop == _EMPTY_FILE:
            empty_file = bytes(body.buf)
        elif prop == _NAME:
            if body.byte():
                raise r.fail("external names are not supported")
            names = body.buf[1:]  # a view: the header stays in memory once, not twice
        # times, attributes, kDummy padding and the rest are not needed


class _Decoder(Protocol):
    def decompress(self, data: bytes, max_length: int) -> bytes: ...


class _ZlibDecoder:
    def __init__(self) -> None:
        self._d = zlib.decompressobj(-15)

    @property
    def needs_input(self) -> bool:
        return not self._d.unconsumed_tail

    def decompress(self, data: bytes, max_length: int) -> bytes:
        return self._d.decompress(self._d.unconsumed_tail + data, max_length)


class _PpmdDecoder:
    def __init__(self, props: bytes) -> None:
        import pyppmd

        order, mem = struct.unpack_from("<BI", props)
        self._d = pyppmd.Ppmd7Decoder(order, mem)

    @property
    def needs_input(self) -> bool:
        return self._d.needs_input

    def decompress(self, data: bytes, max_length: int) -> bytes:
        # PPMd in 7z has no end marker: at the end of input it is fed a padding byte.
        return self._d.decode(data if data or not self._d.needs_input else b"\0", max_length)


class _CopyDecoder:
    needs_input = True

    def decompress(self, data: bytes, max_length: int) -> bytes:
        return data


def _chain(folder: _Folder) -> list[_Coder]:
    """The folder's coders from the output side to the packed stream (a simple chain only)."""
    if any(c.n_in != 1 or c.n_out != 1 for c in folder.coders) or len(folder.packed) != 1:
        raise ValueError("a coder with several streams")
    # With one stream per coder, stream indices are coder indices: (in, out) means coder
    # ``out`` feeds coder ``in``.
    feeds = dict(folder.bind_pairs)
    order, coder = [], folder.main_out
    while True:
        order.append(folder.coders[coder])
        if coder not in feeds:
            return order
        coder = feeds[coder]
        if len(order) > len(folder.coders):
            raise ValueError("coders bound in a cycle")


def _lzma_filter(coder: _Coder) -> dict[str, int]:
    """A :mod:`lzma` filter spec from a 7z coder (LZMA/LZMA2/Delta or a branch filter)."""
    fid = _LZMA_FILTERS[coder.method]
    if fid in (lzma.FILTER_LZMA1, lzma.FILTER_LZMA2, lzma.FILTER_DELTA):
        if not coder.props:
            raise ValueError("missing coder properties")
        return lzma._decode_filter_properties(fid, coder.props)  # type: ignore[attr-defined]
    # Branch filters: no properties, or a 4-byte start offset. (CPython's property decoder
    # crashes on empty properties for these, so they are decoded here.)
    if len(coder.props) == 4:
        return {"id": fid, "start_offset": struct.unpack("<I", coder.props)[0]}
    if coder.props:
        raise ValueError(f"unexpected {len(coder.props)}-byte branch filter properties")
    return {"id": fid}


def _decoder(folder: _Folder, path: str) -> _Decoder:
    try:
        chain = _chain(folder)
    except ValueError as exc:
        names = ", ".join(_CODER_NAMES.get(c.method, c.method.hex()) for c in folder.coders)
        raise SevenZipError(f"{path}: unsupported 7z coder chain ({names}): {exc}") from exc
    methods = [c.method for c in chain]
    if all(m in _LZMA_FILTERS for m in methods):
        try:
            filters = [_lzma_filter(c) for c in chain]
            return lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=filters)
        except (lzma.LZMAError, ValueError, struct.error) as exc:
            raise SevenZipError(f"{path}: bad 7z coder properties ({exc})") from exc
    if len(chain) == 1:
        method = methods[0]
        if method == _COPY:
            return _CopyDecoder()
        if method == _BZIP2:
            return bz2.BZ2Decompressor()
        if method == _DEFLATE:
            return _ZlibDecoder()
        if method == _PPMD:
            return _PpmdDecoder(chain[0].props)
    names = ", ".join(_CODER_NAMES.get(m, m.hex()) for m in methods)
    raise SevenZipError(f"{path}: unsupported 7z coder(s): {names}")


def _folder_chunks(fh: BinaryIO, folder: _Folder, path: str) -> Iterator[bytes]:
    """Decompressed bytes of one folder, in chunks of at most :data:`OUT_CHUNK` bytes."""
    decoder = _decoder(folder, path)
    fh.seek(folder.pack_offset)
    left_in, left_out = folder.pack_size, folder.unpack_size
    crc, stalls = 0, 0
    check = folder.crc is not None
    while left_out > 0:
        data = b""
        if getattr(decoder, "needs_input", True) and left_in > 0:
            data = fh.read(min(READ_CHUNK, left_in))
            if not data:
                raise SevenZipError(f"{path}: truncated 7z archive (packed data ends early)")
            left_in -= len(data)
        try:
            out = decoder.decompress(data, min(OUT_CHUNK, left_out))
        except (lzma.LZMAError, OSError, EOFError, ValueError, zlib.error) as exc:
            raise SevenZipError(f"{path}: corrupt 7z data stream ({exc})") from exc
        if not out:
            stalls = 0 if data else stalls + 1
            if stalls > 1 or (not data and left_in <= 0 and getattr(decoder, "eof", False)):
                raise SevenZipError(
                    f"{path}: corrupt or truncated 7z data stream "
                    f"({left_out} bytes of a folder missing)"
                )
            continue
        stalls = 0
        if len(out) > left_out:
            out = out[:left_out]
        left_out -= len(out)
        if check:
            crc = zlib.crc32(out, crc)
        yield out
    if check and crc != folder.crc:
        raise SevenZipError(f"{path}: corrupt 7z archive (folder CRC mismatch)")


def _read_start(fh: BinaryIO, path: str, size: int) -> tuple[int, int, int]:
    head = fh.read(32)
    if len(head) < 32 or not head.startswith(SIGNATURE):
        raise SevenZipError(f"{path}: not a 7z archive (starts with {head[:6]!r})")
    (start_crc,) = struct.unpack_from("<I", head, 8)
    if zlib.crc32(head[12:32]) != start_crc:
        raise SevenZipError(f"{path}: corrupt 7z start header (CRC mismatch)")
    offset, length, crc = struct.unpack_from("<QQI", head, 12)
    if size < 32 + offset + length:
        raise SevenZipError(
            f"{path}: truncated 7z archive: its header ends at byte {32 + offset + length}, "
            f"the file has {size} bytes"
        )
    return offset, length, crc


def read_index(fh: BinaryIO, path: str) -> _Index:
    """Read and check the archive's end header (decoding it when it is LZMA-encoded)."""
    fh.seek(0, 2)
    size = fh.tell()
    fh.seek(0)
    offset, length, crc = _read_start(fh, path, size)
    empty = _Index([], [], array("Q"), array("I"), bytearray(), 0, b"", b"", b"")
    if length == 0:
        return empty
    fh.seek(32 + offset)
    raw = fh.read(length)
    if zlib.crc32(raw) != crc:
        raise SevenZipError(f"{path}: corrupt 7z archive (end header CRC mismatch)")
    r = _Reader(raw, path)
    kind = r.byte()
    while kind == _ENCODED_HEADER:
        folders, _, _, _, _ = _streams_info(r, 32)
        if len(folders) != 1:
            raise r.fail("an encoded header must have one folder")
        decoded = bytearray(folders[0].unpack_size)  # filled in place: no second copy
        at = 0
        for chunk in _folder_chunks(fh, folders[0], path):
            decoded[at : at + len(chunk)] = chunk
            at += len(chunk)
        r = _Reader(decoded, path)
        kind = r.byte()
    if kind != _HEADER:
        raise r.fail(f"expected Header (id 1), found id {kind}")
    index = empty
    folders: list[_Folder] = []
    per_folder: list[int] = []
    sizes, crcs, defined = array("Q"), array("I"), bytearray()
    files = (0, b"", b"", b"")
    while True:
        prop = r.byte()
        if prop == _END:
            break
        if prop == _ARCHIVE_PROPERTIES:
            while r.byte() != _END:
                r.take(r.number())
        elif prop == _ADDITIONAL_STREAMS:
            raise r.fail("additional streams are not supported")
        elif prop == _MAIN_STREAMS:
            folders, per_folder, sizes, crcs, defined = _streams_info(r, 32)
        elif prop == _FILES_INFO:
            files = _files_info(r)
        else:
            raise r.fail(f"unexpected property {prop} in Header")
    n_files, empty_stream, empty_file, names = files
    index = _Index(
        folders, per_folder, sizes, crcs, defined, n_files, empty_stream, empty_file, names
    )
    n_empty = sum(_bit(empty_stream, i) for i in range(n_files)) if empty_stream else 0
    if n_files - n_empty != len(sizes):
        raise SevenZipError(
            f"{path}: corrupt 7z header ({n_files - n_empty} members with data, "
            f"{len(sizes)} data streams)"
        )
    return index


_NUL2 = re.compile(rb"\x00\x00")


def _names(blob: bytes | memoryview, count: int, path: str) -> Iterator[str]:
    """Decode ``count`` NUL-terminated UTF-16LE names (2-byte aligned) from ``blob``."""
    pos = 0
    for _ in range(count):
        m = _NUL2.search(blob, pos)
        while m is not None and (m.start() - pos) % 2:
            m = _NUL2.search(blob, m.start() + 1)
        if m is None:
            raise SevenZipError(f"{path}: corrupt 7z header (member names end early)")
        yield bytes(blob[pos : m.start()]).decode("utf-16-le", errors="replace")
        pos = m.start() + 2


def iter_member_heads(path: Path | str, max_head_bytes: int) -> Iterator[MemberHead]:
    """Yield every member of the archive at ``path`` in order, keeping ``max_head_bytes``.

    Memory: the compact index plus a few MiB of buffers, whatever the members' sizes.
    Every member's CRC is checked; any inconsistency raises :class:`SevenZipError`.
    """
    name_for_errors = str(path)
    with open(path, "rb") as fh:
        index = read_index(fh, name_for_errors)
        names = _names(index.names, index.n_files, name_for_errors)
        if not index.names and index.n_files:
            names = iter(f"<unnamed {i}>" for i in range(index.n_files))
        streams = _stream_heads(fh, index, max_head_bytes, name_for_errors)
        empty_i = 0
        for i in range(index.n_files):
            name = next(names)
            if _bit(index.empty_stream, i):
                is_dir = not _bit(index.empty_file, empty_i)
                empty_i += 1
                yield MemberHead(name, 0, b"", is_dir)
                continue
            try:
                size, head, crc, expected = next(streams)
            except StopIteration:
                raise SevenZipError(
                    f"{name_for_errors}: corrupt 7z header (too few streams)"
                ) from None
            if expected is not None and crc != expected:
                raise SevenZipError(
                    f"{name_for_errors}: member {name!r}: CRC mismatch (corrupt data)"
                )
            yield MemberHead(name, size, head, False)


def _stream_heads(
    fh: BinaryIO, index: _Index, cap: int, path: str
) -> Iterator[tuple[int, bytes, int, int | None]]:
    """(size, head, crc, expected crc) for every data stream, folder after folder."""
    stream = 0
    for folder, count in zip(index.folders, index.streams_per_folder, strict=True):
        if count == 0:
            continue
        chunks = _folder_chunks(fh, folder, path)
        buf, pos = memoryview(b""), 0
        for _ in range(count):
            size = index.sizes[stream]
            expected = index.crcs[stream] if _bit(index.crc_defined, stream) else None
            stream += 1
            need, crc, parts, kept = size, 0, [], 0
            while need:
                if pos >= len(buf):
                    try:
                        buf, pos = memoryview(next(chunks)), 0
                    except StopIteration:
                        raise SevenZipError(f"{path}: truncated 7z data stream") from None
                take = min(need, len(buf) - pos)
                piece = buf[pos : pos + take]
                if expected is not None:
                    crc = zlib.crc32(piece, crc)
                if kept < cap:
                    part = piece[: cap - kept]
                    parts.append(bytes(part))
                    kept += len(part)
                pos += take
                need -= take
            yield size, b"".join(parts), crc, expected
        for rest in chunks:  # drains the folder and checks its CRC
            if rest:
                raise SevenZipError(f"{path}: corrupt 7z archive (folder longer than its members)")
