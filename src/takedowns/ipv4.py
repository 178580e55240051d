"""Vectorized IPv4 address and prefix arithmetic on polars columns (no per-address loops).

Addresses are ``UInt32``; a prefix is its first and last address plus its length, so range
queries and longest-prefix matches are plain integer comparisons in polars or DuckDB.
"""

from __future__ import annotations

import polars as pl

_OCTETS = r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$"


def address_to_int(text: pl.Expr) -> pl.Expr:
    """Dotted-quad text to ``UInt32``; null where the text is not a valid IPv4 address."""
    octets = text.str.split_exact(".", 3)
    parts = [octets.struct.field(f"field_{i}").cast(pl.UInt32, strict=False) for i in range(4)]
    valid = text.str.contains(_OCTETS) & pl.all_horizontal([p <= 255 for p in parts])
    value = (
        parts[0].cast(pl.UInt64) * (1 << 24)
        + parts[1].cast(pl.UInt64) * (1 << 16)
        + parts[2].cast(pl.UInt64) * (1 << 8)
        + parts[3].cast(pl.UInt64)
    )
    return pl.when(valid).then(value.cast(pl.UInt32, strict=False)).otherwise(None)


def int_to_address(value: pl.Expr) -> pl.Expr:
    """``UInt32`` to dotted-quad text."""
    v = value.cast(pl.UInt64)
    octets = [((v // (1 << s)) % 256).cast(pl.String) for s in (24, 16, 8, 0)]
    return pl.concat_str(octets, separator=".")


def prefix_size(length: pl.Expr) -> pl.Expr:
    """Number of addresses in a prefix of ``length`` (as ``UInt64``: a /0 holds 2**32)."""
    exponent = pl.lit(32, dtype=pl.Int64) - length.cast(pl.Int64).clip(0, 32)
    return pl.lit(2, dtype=pl.UInt64).pow(exponent)


def prefix_end(start: pl.Expr, length: pl.Expr) -> pl.Expr:
    """Last address of the prefix ``start/length`` as ``UInt32``."""
    return (start.cast(pl.UInt64) + prefix_size(length) - 1).cast(pl.UInt32)


def host_bits_set(start: pl.Expr, length: pl.Expr) -> pl.Expr:
    """True where ``start`` is not the first address of a ``/length`` block."""
    return (start.cast(pl.UInt64) % prefix_size(length)) != 0


def network_of(start: pl.Expr, length: pl.Expr) -> pl.Expr:
    """``start`` with its host bits cleared (the network address of ``start/length``)."""
    size = prefix_size(length)
    return (start.cast(pl.UInt64) - start.cast(pl.UInt64) % size).cast(pl.UInt32)
