"""Time of the concentration bootstrap per window: vectorized vs loops and scipy.

    python -m benchmarks.bench_bootstrap [--units 90] [--owners 500] [--resamples 2000]

A window is ``units`` days x ``owners`` ASNs of spam counts (heavy-tailed owner shares,
most owners absent on most days, as for spam-trap relays). Compared, per window of
``resamples`` resamples:

- vectorized: :func:`takedowns.analysis.concentration.bootstrap_indices` (all seven indices);
- numpy loop: one resample at a time, ``W[idx].sum(0)`` and the scalar indices;
- polars loop: one resample at a time through the grouped polars function (timed on a
  fraction of the resamples and scaled);
- scipy: ``scipy.stats.bootstrap`` (percentile, vectorized, batched) of the HHI alone.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import polars as pl
from scipy import stats

from benchmarks._common import report
from takedowns.analysis.concentration import (
    bootstrap_change,
    bootstrap_indices,
    concentration_by,
    concentration_indices,
)


def window_matrix(rng: np.random.Generator, units: int, owners: int) -> np.ndarray:
    """Spam counts per day and ASN: Pareto owner shares, Poisson day totals, sparse."""
    shares = rng.pareto(1.1, size=owners) + 1e-3
    shares /= shares.sum()
    totals = rng.poisson(2000, size=units)
    return np.stack([rng.multinomial(t, shares) for t in totals]).astype(np.float64)


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def numpy_loop(w: np.ndarray, n_resamples: int, rng: np.random.Generator) -> list[dict]:
    out = []
    for _ in range(n_resamples):
        idx = rng.integers(0, w.shape[0], size=w.shape[0])
        out.append(concentration_indices(w[idx].sum(axis=0)))
    return out


def polars_loop(frame: pl.DataFrame, units: int, n: int, rng: np.random.Generator) -> None:
    by_unit = frame.partition_by("day", as_dict=True)
    keys = sorted(by_unit)
    for _ in range(n):
        idx = rng.integers(0, units, size=units)
        picked = pl.concat([by_unit[keys[i]] for i in idx])
        concentration_by(picked, [], "asn", "w")


def scipy_hhi(w: np.ndarray, n_resamples: int, seed: int) -> None:
    def hhi(x: np.ndarray, axis: int) -> np.ndarray:
        # scipy hands over (owners, batch, units) with axis=-1: owners stay on axis 0
        t = x.sum(axis=axis)
        s = t / t.sum(axis=0, keepdims=True)
        return (s * s).sum(axis=0)

    stats.bootstrap(
        (w,),
        hhi,
        n_resamples=n_resamples,
        method="percentile",
        vectorized=True,
        axis=0,
        batch=max(1, (1 << 22) // (w.shape[0] * w.shape[1])),
        random_state=seed,
    )


def long_frame(pre: np.ndarray, post: np.ndarray) -> pl.DataFrame:
    parts = []
    for label, m in (("pre", pre), ("post", post)):
        u, o = np.nonzero(m)
        parts.append(pl.DataFrame({"window": label, "day": u, "asn": o, "w": m[u, o]}))
    return pl.concat(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=90)
    parser.add_argument("--owners", type=int, default=500)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--polars-fraction", type=float, default=0.05)
    args = parser.parse_args()
    rng = np.random.default_rng(2008)
    w = window_matrix(rng, args.units, args.owners)
    w_post = window_matrix(rng, args.units, args.owners)
    present = int((w.sum(axis=0) > 0).sum())
    print(
        f"window: {args.units} units x {args.owners} owners ({present} present, "
        f"{np.count_nonzero(w)} non-zero cells); {args.resamples} resamples"
    )

    vec = best_of(args.repeat, lambda: bootstrap_indices(w, args.resamples, rng))
    loop = best_of(1, lambda: numpy_loop(w, args.resamples, rng))
    n_pl = max(1, int(args.resamples * args.polars_fraction))
    frame = long_frame(w, w_post)
    pre_frame = frame.filter(pl.col("window") == "pre")
    pl_loop = best_of(1, lambda: polars_loop(pre_frame, args.units, n_pl, rng))
    pl_loop *= args.resamples / n_pl
    sp = best_of(args.repeat, lambda: scipy_hhi(w, args.resamples, 1))
    full = best_of(
        args.repeat,
        lambda: bootstrap_change(
            frame, unit_col="day", owner_col="asn", weight_col="w", n_resamples=args.resamples
        ),
    )

    print(f"{'method':<62} {'s/window':>9} {'x slower':>9}")
    rows = [
        ("vectorized bootstrap_indices (7 indices)", vec),
        ("numpy loop over resamples (7 indices)", loop),
        (f"polars loop over resamples (7 indices; {n_pl} timed, scaled)", pl_loop),
        ("scipy.stats.bootstrap, vectorized+batched (HHI only)", sp),
    ]
    for name, seconds in rows:
        print(f"{name:<62} {seconds:>9.3f} {seconds / vec:>9.1f}")
    report(
        "bootstrap",
        {
            "units": args.units,
            "owners": args.owners,
            "resamples": args.resamples,
            "vectorized_s_per_window": round(vec, 4),
            "numpy_loop_s_per_window": round(loop, 4),
            "polars_loop_s_per_window_scaled": round(pl_loop, 3),
            "scipy_bootstrap_hhi_only_s_per_window": round(sp, 4),
            "ratio_numpy_loop_to_vectorized": round(loop / vec, 1),
            "ratio_polars_loop_to_vectorized": round(pl_loop / vec, 1),
            "ratio_scipy_to_vectorized": round(sp / vec, 1),
            "bootstrap_change_both_windows_s": round(full, 4),
        },
    )


if __name__ == "__main__":
    main()
