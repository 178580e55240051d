"""numpy <-> Arrow through buffers (takedowns.arrow_buffers): the values, the nulls, and no
pandas loaded on the way."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from takedowns.arrow_buffers import constant, from_numpy, strings, text, to_numpy


@pytest.mark.parametrize(
    ("dtype", "kind"),
    [("int64", pa.int64()), ("uint32", pa.uint32()), ("uint8", pa.uint8()), ("int32", pa.int32())],
)
def test_numbers_round_trip_with_nulls(dtype: str, kind: pa.DataType) -> None:
    values = np.arange(19, dtype=dtype)
    valid = values % 3 != 0
    array = from_numpy(values, kind, valid=valid)
    assert array.type == kind and array.null_count == int((~valid).sum())
    assert array.to_pylist() == [
        int(v) if ok else None for v, ok in zip(values, valid, strict=True)
    ]
    assert np.array_equal(to_numpy(array, dtype), values)
    sliced = array.slice(5, 7)  # an offset into the buffer
    assert np.array_equal(to_numpy(sliced, dtype), values[5:12])
    chunked = pa.chunked_array([array.slice(0, 4), array.slice(4)])
    assert np.array_equal(to_numpy(chunked, dtype), values)


def test_booleans_timestamps_and_strings() -> None:
    flags = np.array([True, False, True, True, False, False, False, False, True])
    assert from_numpy(flags, pa.bool_()).to_pylist() == flags.tolist()
    stamps = from_numpy(np.array([0, 1_000_000], dtype=np.int64), pa.timestamp("us", tz="UTC"))
    assert [s.isoformat() for s in stamps.to_pylist()] == [
        "1970-01-01T00:00:00+00:00",
        "1970-01-01T00:00:01+00:00",
    ]
    words = ["", "as", "ünïcode", "12.0.0.0/8"]
    assert strings(words).to_pylist() == words and strings(words).type == pa.large_string()
    assert strings([]).to_pylist() == []
    assert constant("rrc00", 3).to_pylist() == ["rrc00"] * 3
    assert constant("x", 0).to_pylist() == []
    assert text("/").as_py() == "/"


def test_no_pandas_is_loaded() -> None:
    code = (
        "import sys, numpy as np, pyarrow as pa, pyarrow.compute as pc\n"
        "from takedowns.arrow_buffers import constant, from_numpy, strings, text, to_numpy\n"
        "a = from_numpy(np.arange(5), pa.int64(), valid=np.arange(5) > 1)\n"
        "to_numpy(a, 'int64')\n"
        "s = pc.binary_join_element_wise(strings(['a']), constant('b', 1), text('.'))\n"
        "assert s.to_pylist() == ['a.b'], s\n"
        "print('pandas' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
