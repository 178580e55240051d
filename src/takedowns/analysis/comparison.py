"""Our spam-trap estimates beside the published figures that measure the same thing.

A published figure (``data/reference/published_figures.csv``) of a configured event is
*comparable* when it is a relative spam volume (``measure`` ``spam_volume``, unit
``percent_change`` or ``percent_of_pre_level``) of a population the trap samples (spam
worldwide, a vendor's customers' spam, or spam traps), at a stated ``resolution``, against a
baseline the trap can measure (``pre_cutoff_level`` or ``october_2008_average``). Every other
row is kept with ``comparable`` false and the ``reason``: all inbound mail, shares of mail,
absolute volumes (one trap gives no global message count), counts of hosts, other baselines.

Our figure is computed on the row's own resolution and baseline:

* ``hours``: the trap's hourly series aligned on the cut-off t0 (hour h holds arrivals in
  [t0 + h, t0 + h + 1) hours, from the per-second arrival times). The post window is the hours
  from t0 to the end of the figure's last day (UTC), e.g. the afternoon of a cut-off day after
  the cut-off; the ``pre_cutoff_level`` baseline is the same hours on each of the
  ``pre_days`` covered days before (so the daily cycle cancels);
* ``day`` .. ``year``: mean daily count over the covered days of the figure's period (a period
  that starts on the cut-off day uses the days after it), against the mean of the ``pre_days``
  covered days before the cut-off day;
* ``october_2008_average``: the baseline is the mean over October 2008 (every day must be
  covered and in the analysed window), per hour or per day as the resolution asks.

The interval (``our_ci_low`` .. ``our_ci_high``, 95 %) estimates the ratio of the trap's
arrival *rate* in the post window to its rate in the baseline: the exact conditional
(Clopper-Pearson) interval for a ratio of two Poisson rates, with both counts divided by the
day-to-day dispersion (variance / mean, at least 1) of the baseline units, a quasi-Poisson
allowance for the overdispersion of real spam. ``consistent`` is, for a point figure, whether
the published value lies in our interval; for a lower bound ("at least X"), whether our
interval reaches X or above; for an upper bound, whether it reaches X or below. Published
figures are global or per-vendor volumes, ours is one trap: agreement is descriptive.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import polars as pl
from scipy.stats import beta

COMPARABLE_UNITS = frozenset({"percent_change", "percent_of_pre_level"})
#: Populations whose spam a spam trap samples.
SAMPLED_POPULATIONS = frozenset({"global_estimate", "vendor_customers", "trap_spam"})
#: Baselines the trap can measure, with the fixed period of those that have one.
FIXED_BASELINES: dict[str, tuple[dt.date, dt.date]] = {
    "october_2008_average": (dt.date(2008, 10, 1), dt.date(2008, 10, 31)),
}
MEASURABLE_BASELINES = frozenset({"pre_cutoff_level", *FIXED_BASELINES})
#: Days of arrivals after each cut-off the hourly series may need (``arrival_windows``).
HOURLY_DAYS_AFTER = 3
LEVEL = 0.95

OUTPUT_SCHEMA: dict[str, Any] = {
    "figure_id": pl.Int32,
    "event_id": pl.String,
    "publisher": pl.String,
    "metric": pl.String,
    "measure": pl.String,
    "population": pl.String,
    "baseline": pl.String,
    "resolution": pl.String,
    "unit": pl.String,
    "bound": pl.String,
    "period_start": pl.Date,
    "period_end": pl.Date,
    "published_value": pl.Float64,
    "comparable": pl.Boolean,
    "reason": pl.String,
    "our_estimate": pl.Float64,
    "our_ci_low": pl.Float64,
    "our_ci_high": pl.Float64,
    "consistent": pl.Boolean,
    "difference": pl.Float64,
    "our_window": pl.String,
    "post_units": pl.Int32,
    "baseline_units": pl.Int32,
    "source_url": pl.String,
}


@dataclass(frozen=True)
class RateRatio:
    """Post/baseline rate ratio with its interval; what was counted, in words."""

    ratio: float
    low: float
    high: float
    post_units: int
    baseline_units: int
    window: str


def rate_ratio(
    post: int, post_units: float, base: int, base_units: float, dispersion: float = 1.0
) -> tuple[float, float, float]:
    """Ratio of two Poisson rates (post / baseline) and its exact conditional interval.

    Given the total, the post count is binomial with p = r a / (r a + b) (a, b: exposures);
    the Clopper-Pearson interval for p maps to r = (b / a) p / (1 - p). Both counts are
    divided by ``dispersion`` (>= 1) first. The upper end is ``inf`` when ``post`` is all.
    """
    phi = max(dispersion, 1.0)
    x, n = post / phi, (post + base) / phi
    scale = base_units / post_units
    alpha = 1 - LEVEL
    p_low = 0.0 if post == 0 else float(beta.ppf(alpha / 2, x, n - x + 1))
    p_high = 1.0 if base == 0 else float(beta.ppf(1 - alpha / 2, x + 1, n - x))

    def odds(p: float) -> float:
        return math.inf if p >= 1 else scale * p / (1 - p)

    estimate = math.inf if base == 0 else (post / post_units) / (base / base_units)
    return estimate, odds(p_low), odds(p_high)


def dispersion(counts: pl.Series) -> float:
    """Variance / mean of per-unit counts (1 when there are fewer than two units or no mail)."""
    if counts.len() < 2 or not counts.mean():
        return 1.0
    return max(float(counts.var()) / float(counts.mean()), 1.0)  # type: ignore[arg-type]


def hourly_series(
    arrivals: pl.DataFrame, t0: dt.datetime, hours_before: int, hours_after: int
) -> pl.DataFrame:
    """Arrivals per hour aligned on ``t0``: ``hour`` h counts [t0 + h, t0 + h + 1) hours.

    Every h in [-hours_before, hours_after) is present (0 when no mail arrived).
    ``arrivals`` has ``arrival_time`` (UTC datetime).
    """
    counts = (
        arrivals.select(
            ((pl.col("arrival_time") - pl.lit(t0)).dt.total_seconds() // 3600)
            .cast(pl.Int64)
            .alias("hour")
        )
        .filter(pl.col("hour").is_between(-hours_before, hours_after, closed="left"))
        .group_by("hour")
        .len("count")
    )
    return (
        pl.DataFrame({"hour": pl.int_range(-hours_before, hours_after, eager=True)})
        .join(counts, on="hour", how="left")
        .with_columns(pl.col("count").fill_null(0).cast(pl.Int64))
        .sort("hour")
    )


def arrival_windows(cutoffs: dict[str, dt.datetime], pre_days: int) -> pl.Expr:
    """Filter on ``arrival_time`` keeping what ``compare`` may read around each cut-off."""
    windows = [
        pl.col("arrival_time").is_between(
            t0 - dt.timedelta(days=pre_days + 1),
            t0 + dt.timedelta(days=HOURLY_DAYS_AFTER),
            closed="left",
        )
        for t0 in cutoffs.values()
    ]
    return pl.any_horizontal(windows) if windows else pl.lit(False)


def _hourly_ratio(
    arrivals: pl.DataFrame,
    covered: set[dt.date],
    t0: dt.datetime,
    fig: dict[str, Any],
    pre_days: int,
) -> RateRatio | str:
    """Hours from t0 to the end of the figure's last day vs the baseline; or why not."""
    end = dt.datetime.combine(fig["period_end"] + dt.timedelta(days=1), dt.time(), dt.UTC)
    start = max(t0, dt.datetime.combine(fig["period_start"], dt.time(), dt.UTC))
    hours = math.ceil((end - start).total_seconds() / 3600)
    offset = math.floor((start - t0).total_seconds() / 3600)
    if hours <= 0 or offset + hours > 24 * HOURLY_DAYS_AFTER:
        return "the figure's hours are not after the cut-off, within the analysed window"
    if t0.date() not in covered:
        return "the cut-off day is not covered by the archives"
    series = hourly_series(arrivals, t0, 24 * pre_days, offset + hours)
    post = series.filter(pl.col("hour").is_between(offset, offset + hours, closed="left"))
    window = f"{hours} h from {t0 + dt.timedelta(hours=offset):%Y-%m-%dT%H:%MZ}"
    if fig["baseline"] in FIXED_BASELINES:
        first, last = FIXED_BASELINES[fig["baseline"]]
        days = {first + dt.timedelta(days=i) for i in range((last - first).days + 1)}
        if not days <= covered or first < (t0 - dt.timedelta(days=pre_days)).date():
            return f"baseline {fig['baseline']} is not all in the covered analysed window"
        base = arrivals.filter(pl.col("arrival_time").dt.date().is_between(first, last))
        per_day = base.group_by(pl.col("arrival_time").dt.date().alias("day")).len("count")
        counts = pl.DataFrame({"day": sorted(days)}).join(per_day, on="day", how="left")
        counts = counts["count"].fill_null(0)
        label = fig["baseline"]
    else:
        counts = _same_hours_before(series, covered, t0, offset, hours, pre_days)
        label = f"the same hours of {counts.len()} days before"
    if counts.len() == 0 or counts.sum() == 0:
        return "no covered baseline days with mail"
    per_unit = 24 if fig["baseline"] in FIXED_BASELINES else hours
    ratio = rate_ratio(
        int(post["count"].sum()),
        hours,
        int(counts.sum()),
        per_unit * counts.len(),
        dispersion(counts),
    )
    return RateRatio(*ratio, hours, per_unit * counts.len(), f"{window} vs {label}")


def _same_hours_before(
    series: pl.DataFrame,
    covered: set[dt.date],
    t0: dt.datetime,
    offset: int,
    hours: int,
    pre_days: int,
) -> pl.Series:
    """Counts of the post hours shifted back by k = 1 .. pre_days days, one per covered day.

    A day k counts only when every one of its hours falls on a covered day.
    """
    shifted = (
        pl.DataFrame({"k": pl.int_range(1, pre_days + 1, eager=True)})
        .join(pl.DataFrame({"j": pl.int_range(offset, offset + hours, eager=True)}), how="cross")
        .with_columns((pl.col("j") - 24 * pl.col("k")).alias("hour"))
        .join(series, on="hour", how="inner")
        .with_columns((pl.lit(t0) + pl.duration(hours=pl.col("hour"))).dt.date().alias("day"))
        .with_columns(pl.col("day").is_in(list(covered)).alias("ok"))
        .group_by("k")
        .agg(pl.col("count").sum(), pl.col("ok").all(), pl.len().alias("n"))
        .filter(pl.col("ok") & (pl.col("n") == hours))
        .sort("k")
    )
    return shifted["count"]


def _daily_ratio(
    daily: pl.DataFrame, t0: dt.date, fig: dict[str, Any], pre_days: int
) -> RateRatio | str:
    """Mean covered daily count over the figure's period vs the baseline days; or why not."""
    covered = daily.filter(pl.col("covered"))
    start, end = fig["period_start"], fig["period_end"]
    if start <= t0 <= end:
        start = t0 + dt.timedelta(days=1)
        end = max(end, start)
    period = covered.filter(pl.col("day").is_between(start, end))
    if fig["baseline"] in FIXED_BASELINES:
        first, last = FIXED_BASELINES[fig["baseline"]]
        base = covered.filter(pl.col("day").is_between(first, last))
        if base.height != (last - first).days + 1:
            return f"baseline {fig['baseline']} is not all in the covered analysed window"
        label = fig["baseline"]
    else:
        lo = t0 - dt.timedelta(days=pre_days)
        base = covered.filter(pl.col("day").is_between(lo, t0, closed="left"))
        label = f"{base.height} days before"
    if base.height == 0 or base["count"].sum() == 0:
        return "no covered baseline days with mail"
    if period.height == 0:
        return "period outside the analysed window or not covered by the archives"
    ratio = rate_ratio(
        int(period["count"].sum()),
        period.height,
        int(base["count"].sum()),
        base.height,
        dispersion(base["count"]),
    )
    window = f"{period.height} days {period['day'].min()}..{period['day'].max()} vs {label}"
    return RateRatio(*ratio, period.height, base.height, window)


def not_comparable_reason(fig: dict[str, Any]) -> str | None:
    """Why a published figure does not measure what the trap measures (None: it does)."""
    if fig["measure"] != "spam_volume":
        return f"measures {fig['measure']} of {fig['population']}, not spam volume"
    if fig["population"] not in SAMPLED_POPULATIONS:
        return f"population {fig['population']} is not one the trap samples"
    if fig["unit"] not in COMPARABLE_UNITS:
        return f"an absolute level ({fig['unit']}): one trap measures relative change only"
    if fig["baseline"] not in MEASURABLE_BASELINES:
        return f"baseline {fig['baseline']} is not one the trap's window measures"
    if fig["resolution"] == "unstated":
        return "the source states no time resolution"
    return None


def _as_figure(ratio: float, unit: str) -> float | None:
    """A rate ratio in the published unit (percent change or percent of the pre level)."""
    if math.isinf(ratio):
        return None
    return round(100 * (ratio - 1) if unit == "percent_change" else 100 * ratio, 1)


def _consistent(fig: dict[str, Any], low: float | None, high: float | None) -> bool:
    """Whether our interval agrees with the published point or bound (None: no upper end)."""
    top = math.inf if high is None else high
    if fig["bound"] == "lower":
        return top >= fig["value_low"]
    if fig["bound"] == "upper":
        return low is not None and low <= fig["value_high"]
    return low is not None and low <= fig["value"] <= top


def compare(
    published: pl.DataFrame,
    daily: pl.DataFrame,
    arrivals: pl.DataFrame,
    cutoffs: dict[str, dt.datetime],
    pre_days: int,
) -> pl.DataFrame:
    """One row per published figure of a configured event, with our estimate where comparable.

    ``daily``: event_id, day, count, covered (analysis/spam_event_daily.sql);
    ``arrivals``: arrival_time (UTC) of the trap's messages around the cut-offs.
    """
    rows = []
    for fig in published.filter(pl.col("event_id").is_in(list(cutoffs))).iter_rows(named=True):
        reason = not_comparable_reason(fig)
        row: dict[str, Any] = {
            **{k: fig[k] for k in OUTPUT_SCHEMA if k in fig},
            "published_value": fig["value"],
            "comparable": reason is None,
            "reason": reason,
        }
        if reason is None:
            t0 = cutoffs[fig["event_id"]]
            series = daily.filter(pl.col("event_id") == fig["event_id"])
            covered = set(series.filter(pl.col("covered"))["day"].to_list())
            result = (
                _hourly_ratio(arrivals, covered, t0, fig, pre_days)
                if fig["resolution"] == "hours"
                else _daily_ratio(series, t0.date(), fig, pre_days)
            )
            if isinstance(result, str):
                row["reason"] = f"no estimate: {result}"
            else:
                ours = _as_figure(result.ratio, fig["unit"])
                low = _as_figure(result.low, fig["unit"])
                high = _as_figure(result.high, fig["unit"])
                row.update(
                    our_estimate=ours,
                    our_ci_low=low,
                    our_ci_high=high,
                    consistent=_consistent(fig, low, high),
                    difference=None if ours is None else round(ours - fig["value"], 1),
                    our_window=result.window,
                    post_units=result.post_units,
                    baseline_units=result.baseline_units,
                )
        rows.append(row)
    return pl.DataFrame(rows, schema=OUTPUT_SCHEMA).sort("event_id", "figure_id")
