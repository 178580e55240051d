"""Who held an address on a given day: origin AS(es) and country, vectorized.

One index serves every stage (the spam trap's relays, the blocklists' prefixes):

* :func:`attribute_addresses` -- longest-prefix match of (ip, day) pairs against the
  ``prefix_origin`` episodes valid on that day: the most specific announced prefix and its
  origins (all of them for MOAS; an empty list when nothing covered the address that day);
* :func:`attribute_ranges` -- for address ranges (blocklist prefixes) on a day, the origins
  whose announced space overlaps the range and how many of its addresses each one covers
  (inside overlaps the most specific announcement wins);
* :func:`attribute_country` -- the registry country of (ip, day) from the ``ip_country``
  ranges of the RIR delegated files (:mod:`takedowns.spamtrap.delegations`).

How (:class:`PrefixIndex`): IP prefixes are laminar (two prefixes are disjoint or nested),
so the distinct prefixes of all episodes, sorted by (start, length), form a forest. Its
elementary intervals (between consecutive prefix boundaries) each have one innermost prefix;
a table over the 2**24 /24 blocks answers most addresses with one array lookup (a binary
search only inside /24s that hold a boundary). An address's innermost prefix is then checked
against the episodes of that prefix valid on the day (a sorted search), and addresses whose
prefix was not announced that day move to the parent prefix, level by level. Everything is
a numpy operation over all rows at once; the only Python loops run over nesting levels and
over the bits of an address (never over addresses). Measured: ``benchmarks/bench_attribution``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from takedowns.ipv4 import int_to_address

_BUCKET_BITS = 24
_DAY_BITS = 23  # day numbers (days since 1970) are stored offset by 2**22 in search keys
_DAY_OFFSET = 1 << (_DAY_BITS - 1)
_NO_END_DAY = (1 << (_DAY_BITS - 1)) - 1  # an open-ended validity (valid_to null)
_LEVEL_SHIFT = 33


@dataclass
class PrefixIndex:
    """A time-aware longest-prefix-match index over prefix validity rows ("episodes").

    Build it with :meth:`build` from arrays of (start, length, first_day, last_day), one row
    per episode. :meth:`lookup` maps (ip, day) to a *segment*: a maximal period in which the
    same set of episode rows covers one prefix (``segment_rows`` lists them), or -1.
    """

    p_start: np.ndarray  # distinct prefixes, sorted by (start, length): uint64
    p_length: np.ndarray  # uint8
    parent: np.ndarray  # int64 index of the innermost enclosing prefix, -1 for none
    bounds: np.ndarray  # uint64 elementary-interval starts (first is 0)
    inner: np.ndarray  # int64 innermost prefix of each elementary interval, -1 for none
    table: np.ndarray  # int32 per /24 block: innermost prefix, -1 none, -2 mixed
    seg_pid: np.ndarray  # int64 prefix of each segment (segments sorted by prefix, first day)
    seg_first: np.ndarray  # int64 day numbers
    seg_last: np.ndarray
    seg_key: np.ndarray  # int64 search key (prefix, first day)
    first_seg: np.ndarray  # int64 first segment of each prefix
    n_seg: np.ndarray  # int64 number of segments of each prefix
    segment_rows: pl.DataFrame  # (segment: Int64, row: Int64): the episode rows of a segment

    @classmethod
    def build(
        cls,
        start: np.ndarray,
        length: np.ndarray,
        first_day: np.ndarray,
        last_day: np.ndarray,
    ) -> PrefixIndex:
        """Index episode rows; a start with host bits set or a length > 32 is an error."""
        start = np.asarray(start, dtype=np.uint64)
        length = np.asarray(length, dtype=np.int64)
        if length.size and (length.min() < 0 or length.max() > 32):
            raise ValueError("prefix length outside 0..32")
        size = np.left_shift(np.uint64(1), (32 - length).astype(np.uint64))
        if np.any(start % size) or np.any(start > 0xFFFFFFFF):
            bad = int(np.flatnonzero((start % size) | (start > 0xFFFFFFFF))[0])
            raise ValueError(f"episode row {bad}: start {int(start[bad])} is not a /{length[bad]}")
        key = (start << np.uint64(6)) | length.astype(np.uint64)
        by_key = np.argsort(key, kind="stable")
        sorted_key = key[by_key]
        new = np.ones(sorted_key.size, dtype=bool)
        new[1:] = sorted_key[1:] != sorted_key[:-1]
        uniq = sorted_key[new]
        pid = np.empty(key.size, dtype=np.int64)
        pid[by_key] = np.cumsum(new) - 1
        p_start = uniq >> np.uint64(6)
        p_length = (uniq & np.uint64(63)).astype(np.uint8)
        p_end = (
            p_start
            + np.left_shift(np.uint64(1), (32 - p_length.astype(np.int64)).astype(np.uint64))
            - np.uint64(1)
        )
        n = p_start.size

        # Depth of each prefix (1 = outermost) and the prefixes of each depth by start.
        ends_sorted = np.sort(p_end)
        depth = np.arange(1, n + 1, dtype=np.int64) - np.searchsorted(ends_sorted, p_start, "left")
        level_key = (depth.astype(np.uint64) << np.uint64(_LEVEL_SHIFT)) | p_start
        order = np.argsort(level_key, kind="stable")
        level_sorted, level_id = level_key[order], order.astype(np.int64)

        def innermost(points: np.ndarray, level: np.ndarray) -> np.ndarray:
            """The last prefix of ``level`` starting at or before each point (-1: level 0)."""
            q = (np.maximum(level, 0).astype(np.uint64) << np.uint64(_LEVEL_SHIFT)) | points
            j = np.searchsorted(level_sorted, q, "right") - 1
            return np.where(level > 0, level_id[np.maximum(j, 0)], -1)

        parent = innermost(p_start, depth - 1) if n else np.zeros(0, np.int64)
        limit = np.uint64(1 << 32)
        cuts = np.concatenate([np.zeros(1, np.uint64), p_start, p_end + np.uint64(1)])
        bounds = np.unique(cuts[cuts < limit])
        b_depth = np.searchsorted(p_start, bounds, "right") - np.searchsorted(
            ends_sorted, bounds, "left"
        )
        inner = innermost(bounds, b_depth.astype(np.int64)) if n else np.full(bounds.size, -1)

        # One entry per /24: the innermost prefix when no boundary falls inside the block.
        first_block = (bounds + np.uint64(255)) >> np.uint64(32 - _BUCKET_BITS)
        counts = np.diff(np.append(first_block, np.uint64(1 << _BUCKET_BITS))).astype(np.int64)
        table = np.repeat(inner.astype(np.int32), counts)
        unaligned = bounds[(bounds & np.uint64(255)) != 0]
        table[(unaligned >> np.uint64(32 - _BUCKET_BITS)).astype(np.int64)] = -2

        segs, seg_rows = _segments(pid.astype(np.int64), first_day, last_day)
        seg_pid, seg_first, seg_last = segs
        seg_key = (seg_pid << _DAY_BITS) | (seg_first + _DAY_OFFSET)
        first_seg = np.searchsorted(seg_pid, np.arange(n), "left")
        n_seg = np.searchsorted(seg_pid, np.arange(n), "right") - first_seg
        return cls(
            p_start, p_length, parent, bounds, inner.astype(np.int64), table,
            seg_pid, seg_first, seg_last, seg_key, first_seg.astype(np.int64),
            n_seg.astype(np.int64), seg_rows,
        )  # fmt: skip

    @property
    def n_segments(self) -> int:
        return int(self.seg_pid.size)

    def innermost(self, ip: np.ndarray) -> np.ndarray:
        """The innermost prefix (any day) containing each address, -1 for none."""
        ip = np.asarray(ip, dtype=np.uint64)
        cand = self.table[(ip >> np.uint64(32 - _BUCKET_BITS)).astype(np.int64)].astype(np.int64)
        mixed = np.flatnonzero(cand == -2)
        if mixed.size:
            k = np.searchsorted(self.bounds, ip[mixed], "right") - 1
            cand[mixed] = self.inner[k]
        return cand

    def resolve(self, cand: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Segment of the most specific prefix at or above ``cand`` valid on ``day``."""
        cand = np.array(cand, dtype=np.int64)
        day = np.asarray(day, dtype=np.int64)
        result = np.full(cand.size, -1, dtype=np.int64)
        todo = np.flatnonzero(cand >= 0)
        while todo.size:
            c, d = cand[todo], day[todo]
            j = self.first_seg[c].copy()
            multi = np.flatnonzero(self.n_seg[c] > 1)
            if multi.size:
                key = (c[multi] << _DAY_BITS) | (d[multi] + _DAY_OFFSET)
                j[multi] = np.maximum(np.searchsorted(self.seg_key, key, "right") - 1, 0)
            hit = (self.seg_pid[j] == c) & (self.seg_first[j] <= d) & (self.seg_last[j] >= d)
            result[todo[hit]] = j[hit]
            miss = todo[~hit]
            up = self.parent[cand[miss]]
            cand[miss] = up
            todo = miss[up >= 0]
        return result

    def lookup(self, ip: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Segment (or -1) of the longest prefix containing ``ip`` valid on ``day``."""
        return self.resolve(self.innermost(ip), day)

    def prefix_text(self) -> pl.Series:
        """``a.b.c.d/len`` of every distinct prefix."""
        frame = pl.DataFrame({"s": self.p_start.astype(np.uint32), "l": self.p_length})
        return frame.select(
            pl.concat_str(int_to_address(pl.col("s")), pl.lit("/"), pl.col("l").cast(pl.String))
        ).to_series()

    def pieces(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Split ranges [lo, hi] at the elementary boundaries.

        Returns (range index, innermost prefix, addresses) per piece; within a piece the
        chain of covering prefixes is the same at every address.
        """
        lo = np.asarray(lo, dtype=np.uint64)
        hi = np.asarray(hi, dtype=np.uint64)
        k0 = np.searchsorted(self.bounds, lo, "right") - 1
        k1 = np.searchsorted(self.bounds, hi, "right") - 1
        count = (k1 - k0 + 1).astype(np.int64)
        row = np.repeat(np.arange(lo.size), count)
        offset = np.arange(row.size) - np.repeat(np.cumsum(count) - count, count)
        k = np.repeat(k0, count) + offset
        nxt = np.append(self.bounds[1:], np.uint64(1 << 32))
        p_lo = np.maximum(self.bounds[k], lo[row])
        p_hi = np.minimum(nxt[k] - np.uint64(1), hi[row])
        return row, self.inner[k], (p_hi - p_lo + np.uint64(1)).astype(np.int64)


def _segments(
    pid: np.ndarray, first_day: np.ndarray, last_day: np.ndarray
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], pl.DataFrame]:
    """Time segments per prefix in which the same episode rows hold.

    Without overlapping episodes of one prefix a segment is an episode. Where episodes of a
    prefix overlap (two collectors, or two sources), the prefix's time line is cut at every
    episode start and end so each segment has one fixed set of rows.
    """
    first = np.asarray(first_day, dtype=np.int64)
    last = np.asarray(last_day, dtype=np.int64)
    order = np.lexsort((last, first, pid))
    p, f, la = pid[order], first[order], last[order]
    # Latest end among the earlier episodes of the same prefix: a running maximum that
    # restarts at each prefix (prefix numbers dominate the shifted key).
    running = np.maximum.accumulate((p << 24) + (la + _DAY_OFFSET)) - (p << 24) - _DAY_OFFSET
    reach = np.full(p.size, np.iinfo(np.int64).min)
    same = np.flatnonzero(p[1:] == p[:-1]) + 1
    reach[same] = running[same - 1]
    if not np.any(f <= reach):
        seg = np.arange(p.size, dtype=np.int64)
        rows = pl.DataFrame({"segment": seg, "row": order.astype(np.int64)})
        return (p, f, la), rows
    eps = pl.DataFrame({"pid": pid, "first": first, "last": last}).with_row_index("row")
    eps = eps.with_columns(pl.col("row").cast(pl.Int64))
    cuts = (
        pl.concat([eps.select("pid", day="first"), eps.select("pid", day=pl.col("last") + 1)])
        .unique()
        .sort("pid", "day")
    )
    spans = (
        cuts.with_columns(last=pl.col("day").shift(-1).over("pid") - 1)
        .filter(pl.col("last").is_not_null())
        .rename({"day": "first"})
    )
    covered = spans.join(eps.rename({"first": "e_first", "last": "e_last"}), on="pid").filter(
        (pl.col("e_first") <= pl.col("first")) & (pl.col("e_last") >= pl.col("last"))
    )
    segs = (
        covered.select("pid", "first", "last")
        .unique()
        .sort("pid", "first")
        .with_row_index("segment")
        .with_columns(pl.col("segment").cast(pl.Int64))
    )
    rows = covered.join(segs, on=["pid", "first", "last"]).select("segment", "row")
    arrays = tuple(segs[c].to_numpy().astype(np.int64) for c in ("pid", "first", "last"))
    return arrays, rows.sort("segment", "row")  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------
# Episodes and frames


def _day_numbers(expr: pl.Expr, open_end: bool = False) -> pl.Expr:
    days = expr.cast(pl.Date).cast(pl.Int64)
    return days.fill_null(_NO_END_DAY) if open_end else days


def origin_index(episodes: pl.DataFrame) -> Attribution:
    """Index ``prefix_origin`` episodes; returns the index and its per-segment payload.

    The payload has one row per segment (in segment order) plus a final empty row used for
    "no match": ``matched_prefix`` and ``origins`` (sorted, distinct; the union over the
    segment's episode rows).
    """
    cols = episodes.select(
        pl.col("start_ip").cast(pl.UInt32),
        pl.col("length").cast(pl.UInt8),
        _day_numbers(pl.col("first_day")).alias("first"),
        _day_numbers(pl.col("last_day"), open_end=True).alias("last"),
        pl.col("origins").cast(pl.List(pl.UInt32)),
    )
    index = PrefixIndex.build(
        cols["start_ip"].to_numpy(),
        cols["length"].to_numpy(),
        cols["first"].to_numpy(),
        cols["last"].to_numpy(),
    )
    text = index.prefix_text()
    rows = index.segment_rows
    if rows.height == cols.height and rows["segment"].equals(
        pl.Series("segment", np.arange(rows.height, dtype=np.int64))
    ):  # one episode per segment: its origins as they are (prefix2as sorts them)
        origins = cols["origins"].gather(rows["row"])
    else:
        merged = (
            rows.join(
                cols.select("origins")
                .with_row_index("row")
                .with_columns(pl.col("row").cast(pl.Int64)),
                on="row",
            )
            .explode("origins")
            .group_by("segment")
            .agg(pl.col("origins").drop_nulls().unique().sort())
        )
        origins = pl.DataFrame({"segment": np.arange(index.n_segments, dtype=np.int64)}).join(
            merged, on="segment", how="left", maintain_order="left"
        )["origins"]
    payload = pl.DataFrame(
        {
            "matched_prefix": text.gather(pl.Series(index.seg_pid, dtype=pl.Int64)),
            "origins": origins.fill_null(pl.lit([], dtype=pl.List(pl.UInt32))),
        },
        schema={"matched_prefix": pl.String, "origins": pl.List(pl.UInt32)},
    )
    empty = pl.DataFrame(
        {"matched_prefix": [None], "origins": [[]]},
        schema={"matched_prefix": pl.String, "origins": pl.List(pl.UInt32)},
    )
    return Attribution(index, pl.concat([payload, empty]))


@dataclass(frozen=True)
class _Lists:
    """A list column as flat arrays, for fast vectorized row selection."""

    offsets: np.ndarray  # int64, one more than rows
    values: np.ndarray
    dtype: pl.DataType

    @classmethod
    def of(cls, series: pl.Series) -> _Lists:
        lengths = series.list.len().fill_null(0).to_numpy().astype(np.int64)
        offsets = np.zeros(lengths.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        values = series.explode().drop_nulls().to_numpy()
        if values.size != offsets[-1]:
            raise ValueError("list column holds nulls")
        return cls(offsets, values, series.dtype)

    def take(self, idx: np.ndarray, name: str) -> pl.Series:
        start = self.offsets[idx]
        lengths = self.offsets[idx + 1] - start
        out = np.zeros(idx.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=out[1:])
        src = np.repeat(start - out[:-1], lengths) + np.arange(out[-1])
        arrow = pa.LargeListArray.from_arrays(pa.array(out), pa.array(self.values[src]))
        return pl.Series(name, arrow).cast(self.dtype)


@dataclass
class Attribution:
    """A :class:`PrefixIndex` with one payload row per segment (plus a "no match" row)."""

    index: PrefixIndex
    payload: pl.DataFrame

    def __post_init__(self) -> None:
        self._lists = {
            name: _Lists.of(self.payload[name])
            for name, dtype in self.payload.schema.items()
            if isinstance(dtype, pl.List)
        }

    def gather(self, seg: np.ndarray) -> pl.DataFrame:
        """Payload rows for segment numbers (-1 selects the final "no match" row)."""
        idx = np.where(seg < 0, self.payload.height - 1, seg).astype(np.int64)
        return pl.DataFrame(
            [
                self._lists[name].take(idx, name)
                if name in self._lists
                else self.payload[name].gather(idx)
                for name in self.payload.columns
            ]
        )

    def lookup(self, frame: pl.DataFrame, ip: str, day: str) -> pl.DataFrame:
        """Payload columns for ``frame[ip]`` on ``frame[day]``."""
        ips, days, ok = _points(frame, ip, day)
        seg = self.index.lookup(ips, days)
        seg[~ok] = -1
        return self.gather(seg)


def _points(frame: pl.DataFrame, ip: str, day: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cols = frame.select(
        pl.col(ip).cast(pl.UInt32).fill_null(0).alias("ip"),
        pl.col(day).cast(pl.Date).cast(pl.Int64).fill_null(0).alias("day"),
        (pl.col(ip).is_not_null() & pl.col(day).is_not_null()).alias("ok"),
    )
    return cols["ip"].to_numpy(), cols["day"].to_numpy(), cols["ok"].to_numpy()


def attribute_addresses(
    frame: pl.DataFrame,
    episodes: pl.DataFrame,
    *,
    ip: str = "ip",
    day: str = "day",
    index: Attribution | None = None,
) -> pl.DataFrame:
    """``frame`` plus ``matched_prefix`` (String) and ``origins`` (List(UInt32)).

    ``frame[ip]`` (UInt32) is matched on ``frame[day]`` (Date) to the longest prefix of the
    episodes valid that day (``first_day <= day <= last_day``); ``origins`` lists all its
    origins (MOAS, AS sets flattened) and is empty when no announcement covered the address
    (or ip/day is null). ``episodes`` has the ``prefix_origin`` columns start_ip, length,
    origins, first_day, last_day; ``index`` reuses a prebuilt :func:`origin_index`.
    """
    att = index or origin_index(episodes)
    return pl.concat([frame, att.lookup(frame, ip, day)], how="horizontal")


def attribute_ranges(
    frame: pl.DataFrame,
    episodes: pl.DataFrame,
    *,
    start: str = "start_ip",
    end: str = "end_ip",
    day: str = "day",
    index: Attribution | None = None,
) -> pl.DataFrame:
    """``frame`` plus, per range and day, the origins announcing part of it.

    Added columns: ``origins`` (List(UInt32), sorted), ``origin_addresses`` (List(UInt64),
    aligned with ``origins``: addresses of the range whose most specific covering
    announcement that day has this origin; a MOAS prefix counts for each of its origins),
    ``routed_addresses`` (covered by any announcement) and ``range_addresses``.
    """
    att = index or origin_index(episodes)
    idx = att.index
    cols = frame.select(
        pl.col(start).cast(pl.UInt32).fill_null(1).alias("s"),
        pl.col(end).cast(pl.UInt32).fill_null(0).alias("e"),
        pl.col(day).cast(pl.Date).cast(pl.Int64).fill_null(0).alias("d"),
        (pl.col(start).is_not_null() & pl.col(end).is_not_null() & pl.col(day).is_not_null()).alias(
            "ok"
        ),
    )
    valid = cols["ok"].to_numpy() & (cols["s"].to_numpy() <= cols["e"].to_numpy())
    rows = np.flatnonzero(valid)
    lo = cols["s"].to_numpy()[rows]
    hi = cols["e"].to_numpy()[rows]
    piece_row, cand, addresses = idx.pieces(lo, hi)
    seg = idx.resolve(cand, cols["d"].to_numpy()[rows][piece_row])
    routed = seg >= 0
    per_piece = pl.DataFrame(
        {"row": rows[piece_row][routed], "addresses": addresses[routed]},
        schema={"row": pl.Int64, "addresses": pl.UInt64},
    ).with_columns(origins=att.gather(seg[routed])["origins"])
    routed_total = per_piece.group_by("row").agg(routed_addresses=pl.col("addresses").sum())
    by_origin = (
        per_piece.explode("origins")
        .drop_nulls("origins")
        .group_by("row", "origins")
        .agg(pl.col("addresses").sum())
        .sort("row", "origins")
        .group_by("row", maintain_order=True)
        .agg(pl.col("origins"), origin_addresses=pl.col("addresses"))
    )
    extra = (
        pl.DataFrame({"row": np.arange(frame.height, dtype=np.int64)})
        .join(by_origin, on="row", how="left")
        .join(routed_total, on="row", how="left")
        .sort("row")
        .select(
            origins=pl.col("origins").fill_null(pl.lit([], dtype=pl.List(pl.UInt32))),
            origin_addresses=pl.col("origin_addresses").fill_null(
                pl.lit([], dtype=pl.List(pl.UInt64))
            ),
            routed_addresses=pl.col("routed_addresses").fill_null(0).cast(pl.UInt64),
        )
        .with_columns(
            range_addresses=pl.when(pl.Series(valid))
            .then(
                pl.Series(cols["e"].to_numpy().astype(np.uint64))
                - pl.Series(cols["s"].to_numpy().astype(np.uint64))
                + 1
            )
            .otherwise(None)
            .cast(pl.UInt64)
        )
    )
    return pl.concat([frame, extra], how="horizontal")


# --------------------------------------------------------------------------------------------
# Countries


def ranges_to_prefixes(
    start: np.ndarray, end: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split inclusive address ranges into CIDR blocks (vectorized over ranges).

    Returns (range index, block start, block length); a range of any size (an RIR ``value``
    need not be a power of two) becomes at most 62 blocks.
    """
    s = np.asarray(start, dtype=np.uint64)
    e = np.asarray(end, dtype=np.uint64)
    row = np.arange(s.size, dtype=np.int64)
    keep = s <= e
    s, e, row = s[keep], e[keep], row[keep]
    out_row, out_start, out_len = [], [], []
    while s.size:
        align = np.where(s == 0, np.uint64(1 << 32), s & (~s + np.uint64(1)))
        room = np.minimum(align, e - s + np.uint64(1))
        _, exp = np.frexp(room.astype(np.float64))  # room = m * 2**exp with 0.5 <= m < 1
        bits = (exp - 1).astype(np.int64)
        out_row.append(row)
        out_start.append(s)
        out_len.append((32 - bits).astype(np.uint8))
        s = s + np.left_shift(np.uint64(1), bits.astype(np.uint64))
        more = s <= e
        s, e, row = s[more], e[more], row[more]
    if not out_row:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64), np.zeros(0, np.uint8)
    return np.concatenate(out_row), np.concatenate(out_start), np.concatenate(out_len)


def country_index(ip_country: pl.DataFrame) -> Attribution:
    """Index ``ip_country`` ranges (start_ip, end_ip, country, registry, valid_from, valid_to).

    Ranges become CIDR blocks so the same longest-match index applies: a more specific
    delegation wins. Where two registries list the same block on the same day, the first
    registry by name is used (such overlaps are counted by :mod:`takedowns.spamtrap.delegations`).
    """
    cols = ip_country.select(
        pl.col("start_ip").cast(pl.UInt32),
        pl.col("end_ip").cast(pl.UInt32),
        pl.col("country").cast(pl.String),
        pl.col("registry").cast(pl.String),
        _day_numbers(pl.col("valid_from")).alias("first"),
        _day_numbers(pl.col("valid_to"), open_end=True).alias("last"),
    )
    row, block, length = ranges_to_prefixes(cols["start_ip"].to_numpy(), cols["end_ip"].to_numpy())
    first = cols["first"].to_numpy()[row]
    last = cols["last"].to_numpy()[row]
    index = PrefixIndex.build(block, length, first, last)
    labels = (
        cols.select("country", "registry")
        .with_row_index("range")
        .with_columns(pl.col("range").cast(pl.Int64))
    )
    chosen = (
        index.segment_rows.join(
            pl.DataFrame({"row": np.arange(row.size, dtype=np.int64), "range": row}), on="row"
        )
        .join(labels, on="range")
        .sort("segment", "registry", "country")
        .group_by("segment", maintain_order=True)
        .agg(pl.col("country").first(), pl.col("registry").first())
    )
    payload = (
        pl.DataFrame({"segment": np.arange(index.n_segments, dtype=np.int64)})
        .join(chosen, on="segment", how="left")
        .sort("segment")
        .select("country", "registry")
    )
    empty = pl.DataFrame({"country": [None], "registry": [None]}, schema=payload.schema)
    return Attribution(index, pl.concat([payload, empty]))


def attribute_country(
    frame: pl.DataFrame,
    ip_country: pl.DataFrame,
    *,
    ip: str = "ip",
    day: str = "day",
    index: Attribution | None = None,
) -> pl.DataFrame:
    """``frame`` plus ``country`` and ``registry`` of ``frame[ip]`` on ``frame[day]``.

    From the delegated-statistics snapshot valid that day (``valid_from <= day <=
    valid_to``; a null ``valid_to`` is open-ended); null where no snapshot lists the address.
    """
    att = index or country_index(ip_country)
    return pl.concat([frame, att.lookup(frame, ip, day)], how="horizontal")
