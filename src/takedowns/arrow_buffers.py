"""numpy arrays to Arrow arrays and back through their buffers, without pandas.

pyarrow imports pandas (0.3 s, when it is installed) the first time it converts a Python or
numpy object: ``pa.array``, ``pa.scalar``, ``Array.to_numpy``, a ``str`` argument to a
compute function. A job that should start fast (:mod:`takedowns.routing.mrt`) hands over
buffers with these functions instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa


def _bits(valid: np.ndarray) -> pa.Buffer:
    return pa.py_buffer(np.packbits(valid.astype(bool), bitorder="little"))


def from_numpy(values: np.ndarray, kind: pa.DataType, valid: np.ndarray | None = None) -> pa.Array:
    """``values`` (already of ``kind``'s width) as an Arrow array; null where not ``valid``."""
    data = np.ascontiguousarray(values)
    if kind == pa.bool_():
        return pa.Array.from_buffers(kind, len(data), [None, _bits(data)])
    bitmap = None if valid is None else _bits(valid)
    return pa.Array.from_buffers(kind, len(data), [bitmap, pa.py_buffer(data)])


def to_numpy(array: pa.Array | pa.ChunkedArray, dtype: str) -> np.ndarray:
    """The values of a primitive Arrow array (nulls give whatever their slots hold)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    width = np.dtype(dtype).itemsize
    buffer = array.buffers()[1]
    if buffer is None:
        return np.zeros(0, dtype=dtype)
    values = np.frombuffer(buffer, dtype=dtype, count=buffer.size // width)
    return values[array.offset : array.offset + len(array)]


def strings(texts: Sequence[str], kind: pa.DataType | None = None) -> pa.Array:
    """Python strings as an Arrow ``large_string`` (or ``kind``) array."""
    encoded = [t.encode() for t in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    array = pa.Array.from_buffers(
        pa.large_string(),
        len(encoded),
        [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))],
    )
    return array if kind is None else array.cast(kind)


def constant(text: str, n: int) -> pa.Array:
    """``text`` ``n`` times (large_string)."""
    return strings([text]).take(from_numpy(np.zeros(n, dtype=np.int64), pa.int64()))


def text(value: str) -> pa.Scalar:
    """A string scalar, for the separators of compute functions."""
    return strings([value])[0]
