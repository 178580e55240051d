"""Jobs of workflow/rules/analysis.smk: the study tables, the SQL results and the statistics."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from takedowns.joblog import LOGGER, logged_job
from takedowns.jobs._common import _cutoffs
from takedowns.provenance import SYNTHETIC_LABEL, is_synthetic, parquet_metadata
from takedowns.qc import qc_table
from takedowns.study import events, events_frame, watched_asns_frame
from takedowns.tables import write_parquet

# The calibration study's verdict as the answer names it (make calibrate writes it there).
CALIBRATION_VERDICT = "data/calibration/verdict.csv"


@logged_job
def study_tables(*, watched_out: Path, events_out: Path, config: Mapping[str, Any]) -> None:
    """Write the configured events (with their windows) and watched ASNs as tables."""
    meta = parquet_metadata(config)
    write_parquet(watched_asns_frame(config), Path(watched_out), metadata=meta)
    write_parquet(events_frame(config), Path(events_out), metadata=meta)


@logged_job
def gather_qc(*, qc_paths: Sequence[Path], out: Path, config: Mapping[str, Any]) -> None:
    """Gather every QC record into ``qc_files.parquet``.

    Inputs that are not QC records are passed over: Snakemake adds the manifest of a
    checkpoint to the inputs of every rule whose input function reads it.
    """
    records = [Path(p) for p in qc_paths if str(p).endswith(".json")]
    write_parquet(qc_table(records), Path(out), metadata=parquet_metadata(config))


@logged_job
def sql_table(*, views: Path, query: Path, out: Path, config: Mapping[str, Any]) -> None:
    """Run one analysis SQL file and write its result (CSV, or Parquet by the name)."""
    from takedowns.analysis import duckdb_runner as analysis

    frame = analysis.query_file(
        Path(views),
        Path(query),
        analysis.sql_variables(config),
        analysis.reference_tables(config),
    )
    if Path(out).suffix == ".parquet":
        write_parquet(frame, Path(out), metadata=parquet_metadata(config))
    else:
        analysis.write_result(frame, Path(out), config)
    LOGGER.info("%s -> %s: %d rows", query, out, frame.height)


@dataclass(frozen=True)
class _EventFit:
    """What the volume fit of one event needs beyond the config: its t0 (measured, else
    nominal), where its post window must end (the next event's t0), its washout and shocks."""

    event_id: str
    name: str
    t0: dt.datetime
    end_date: dt.date | None
    donut_days: int
    pulse_dates: tuple[dt.date, ...]


def _event_fits(config: Mapping[str, Any], cutoffs: Path) -> list[_EventFit]:
    """The events in t0 order, each with the post-window end, washout and shock dates."""
    t0s = _cutoffs(Path(cutoffs))
    ordered = sorted(events(config), key=lambda e: t0s.get(e.event_id, e.nominal_cutoff))
    shocks = _shock_dates(config)
    out = []
    for i, event in enumerate(ordered):
        following = ordered[i + 1] if i + 1 < len(ordered) else None
        end = t0s.get(following.event_id, following.nominal_cutoff).date() if following else None
        out.append(
            _EventFit(
                event_id=event.event_id,
                name=event.name,
                t0=t0s.get(event.event_id, event.nominal_cutoff),
                end_date=end,
                donut_days=int(config["events"][event.event_id]["donut_days"]),
                pulse_dates=shocks.get(event.event_id, ()),
            )
        )
    return out


def _effect_kwargs(
    config: Mapping[str, Any], fit: _EventFit | None, *, family: str, post_days: int
) -> dict[str, Any]:
    """The keyword arguments of :func:`takedowns.analysis.effects.its_effect` that the config and
    the
    event set (``fit`` None: none of the event's own, as for a placebo date)."""
    cfg = config["effects"]
    kwargs: dict[str, Any] = {
        "pre_days": config["windows"]["pre_days"],
        "post_days": post_days,
        "family": family,
        "covered_col": "covered",
        "confidence": 1.0 - config["verdict"]["alpha"],
        "hac_maxlags": cfg["hac_maxlags"],
        # effects.hac_maxlags null: model-based intervals, as configured
        "cov_type": "model" if cfg["hac_maxlags"] is None else "hac",
        "holidays": cfg["holidays"],
        "outage_share": cfg["outage_share"],
        "outage_window_days": cfg["outage_window_days"],
        "min_days_pre": cfg["min_days_pre"],
        "min_days_post": cfg["min_days_post"],
    }
    if fit is not None:
        kwargs.update(pulse_dates=fit.pulse_dates, end_date=fit.end_date, donut_days=fit.donut_days)
    return kwargs


def _read_table(path: Path) -> pl.DataFrame:
    """A results table written by the workflow (CSV, or Parquet by its name)."""
    if str(path).endswith(".parquet"):
        return pl.read_parquet(path)
    return pl.read_csv(path, try_parse_dates=True, infer_schema_length=None)


def _noise_baseline(
    study_daily: pl.DataFrame, fits: Sequence[_EventFit], config: Mapping[str, Any]
) -> pl.DataFrame:
    """The trap's days outside every event's windows: where the log-ARMA fit learns the
    noise's autocorrelation (a day without any mail is a trap outage, not a zero)."""
    pre, post = config["windows"]["pre_days"], max(config["windows"]["post_days"])
    outside = pl.lit(True)
    for fit in fits:
        d0 = fit.t0.date()
        outside = outside & ~pl.col("day").is_between(
            d0 - dt.timedelta(days=pre), d0 + dt.timedelta(days=post), closed="left"
        )
    return study_daily.filter(outside).with_columns(
        covered=pl.col("covered") & (pl.col("count") > 0)
    )


def _fit_effect(
    series: pl.DataFrame,
    fit: _EventFit,
    kwargs: dict[str, Any],
    baseline: pl.DataFrame | None,
) -> tuple[Any, str]:
    """One volume fit, and the error model it used.

    ``log_arma`` learns its noise on ``baseline`` (the calibrated estimator) when it holds
    enough days; otherwise it falls back to the window alone, and says so.
    """
    from takedowns.analysis import effects

    if kwargs["family"] != "log_arma" or baseline is None:
        return effects.its_effect(series, fit.t0, **kwargs), "window"
    try:
        return effects.its_effect(series, fit.t0, noise_baseline=baseline, **kwargs), "baseline"
    except effects.InsufficientDataError as exc:
        if "noise baseline" not in str(exc):
            raise
        return effects.its_effect(series, fit.t0, **kwargs), f"window ({exc})"


@logged_job
def spam_effects(
    *,
    daily: Path,
    study_daily: Path,
    cutoffs: Path,
    out_effects: Path,
    out_recovery: Path,
    config: Mapping[str, Any],
) -> None:
    """ITS effect per event, post window and family; recovery times per event.

    ``daily``: CSV/Parquet of analysis/spam_event_daily.sql (event_id, day, count, covered);
    ``study_daily``: analysis/spam_study_daily.sql, whose days outside every event window are
    the noise baseline of the ``log_arma`` fit (``error_model`` says whether it was used).
    Each post window ends before the next event's t0; the shocks that
    ``data/reference/events.csv`` dates inside a window (an upstream that restored the target
    for a while) get a one-day pulse dummy; ``events.<id>.donut_days`` after t0 are left out
    (a phased cut-off's washout).
    """
    from takedowns.analysis import duckdb_runner as analysis
    from takedowns.analysis import effects

    counts = _read_table(Path(daily))
    cfg = config["effects"]
    plans = _event_fits(config, Path(cutoffs))
    baseline = _noise_baseline(_read_table(Path(study_daily)), plans, config)
    fits, recoveries = [], []
    for fit in plans:
        series = counts.filter(pl.col("event_id") == fit.event_id).drop("event_id")
        for k in config["windows"]["post_days"]:
            for family in cfg["families"]:
                row: dict[str, Any] = {"event_id": fit.event_id, "t0": fit.t0, "post_days": k}
                kwargs = _effect_kwargs(config, fit, family=family, post_days=k)
                try:
                    effect, error_model = _fit_effect(series, fit, kwargs, baseline)
                    row.update(effect.as_row())
                    row.update(error_model=error_model, note="")
                except effects.InsufficientDataError as exc:
                    row.update({"family": family, "note": str(exc)})
                LOGGER.info(
                    "%s k=%d %s: %s",
                    fit.event_id,
                    k,
                    family,
                    row.get("relative_change", row["note"]),
                )
                fits.append(row)
        rec = effects.recovery_times(
            series,
            fit.t0,
            tuple(cfg["recovery_thresholds"]),
            pre_days=config["windows"]["pre_days"],
            post_days=max(config["windows"]["post_days"]),
            covered_col="covered",
            window_days=cfg["recovery_window_days"],
            min_covered_days=cfg["recovery_min_covered_days"],
        )
        recoveries.append(rec.select(pl.lit(fit.event_id).alias("event_id"), pl.all()))
    analysis.write_result(pl.DataFrame(fits, infer_schema_length=None), Path(out_effects), config)
    analysis.write_result(pl.concat(recoveries), Path(out_recovery), config)


@logged_job
def sensitivity(
    *,
    daily: Path,
    study_daily: Path,
    cutoffs: Path,
    out: Path,
    config: Mapping[str, Any],
) -> None:
    """Per event, the primary volume fit and one change of it at a time
    (:mod:`takedowns.analysis.sensitivity`): pre window, slope, pre-trend, HAC lags, family, outage
    days, holiday dummies."""
    from takedowns.analysis import duckdb_runner as analysis
    from takedowns.analysis.sensitivity import default_variants, sensitivity_table

    counts = _read_table(Path(daily))
    rule = config["verdict"]
    tables = []
    plans = _event_fits(config, Path(cutoffs))
    baseline = _noise_baseline(_read_table(Path(study_daily)), plans, config)
    for fit in plans:
        series = counts.filter(pl.col("event_id") == fit.event_id).drop("event_id")
        primary = _effect_kwargs(config, fit, family=rule["family"], post_days=rule["post_days"])
        _, error_model = _fit_effect(series, fit, primary, baseline)
        if error_model == "baseline":  # the primary fit as the answer reads it
            primary["noise_baseline"] = baseline
        table = sensitivity_table(series, fit.t0, variants=default_variants(primary))
        tables.append(table.select(pl.lit(fit.event_id).alias("event_id"), pl.all()))
        LOGGER.info("%s: %d variants", fit.event_id, table.height)
    analysis.write_result(pl.concat(tables, how="diagonal_relaxed"), Path(out), config)


@logged_job
def placebo(
    *,
    study_daily: Path,
    cutoffs: Path,
    effects_csv: Path,
    out_placebo: Path,
    out_ranks: Path,
    config: Mapping[str, Any],
) -> None:
    """The primary volume fit at every placebo cut-off (``placebo.step_days`` apart, windows
    clear of every event) and each real effect's rank among them
    (:mod:`takedowns.analysis.placebo`)."""
    from takedowns.analysis import duckdb_runner as analysis
    from takedowns.analysis.placebo import placebo_effects, placebo_ranks

    daily = _read_table(Path(study_daily))
    rule = config["verdict"]
    fits = _event_fits(config, Path(cutoffs))
    kwargs = _effect_kwargs(config, None, family=rule["family"], post_days=rule["post_days"])
    kwargs.pop("post_days")
    kwargs.pop("pre_days")
    kwargs.pop("family")
    placebos = placebo_effects(
        daily,
        {f.event_id: f.t0 for f in fits},
        pre_days=config["windows"]["pre_days"],
        post_days=rule["post_days"],
        family=rule["family"],
        step_days=config["placebo"]["step_days"],
        exclusion_days=config["placebo"]["exclusion_days"],
        **kwargs,
    )
    real = _read_table(Path(effects_csv)).filter(
        (pl.col("family") == rule["family"]) & (pl.col("post_days") == rule["post_days"])
    )
    ranks = placebo_ranks(placebos, real)
    LOGGER.info("%d placebo dates, %d fitted", placebos.height, (placebos["status"] == "ok").sum())
    analysis.write_result(placebos, Path(out_placebo), config)
    analysis.write_result(ranks, Path(out_ranks), config)


@logged_job
def threats(
    *,
    event_daily: Path,
    cutoffs: Path,
    spam_messages: Sequence[Path],
    blocklist_snapshots: Sequence[Path],
    routed_space: Path,
    as_relationships: Sequence[Path],
    out: Path,
    config: Mapping[str, Any],
    spam_exchangers: Sequence[Path] = (),
) -> None:
    """A number for each threat to validity that the data can bound
    (:mod:`takedowns.analysis.threats`):
    trap churn, outage days, Wayback capture gaps, the pfx2as collector switch, monthly
    AS-relationship snapshots, overlapping event windows, and (from ``spam_exchangers``)
    the lowest monthly share of messages with the trap's own Received header."""
    from takedowns.analysis import duckdb_runner as analysis
    from takedowns.analysis.threats import threats_table

    daily = _read_table(Path(event_daily))
    daily = daily.group_by("day").agg(pl.col("count").first(), pl.col("covered").all())
    months = pl.concat([pl.read_parquet(p, columns=["month"]) for p in as_relationships])
    space = _read_table(Path(routed_space))
    switched = space.height > 0 and space["collector"].n_unique() > 1
    if not switched:
        LOGGER.info("one pfx2as collector in the days read: no switch to test")
    table = threats_table(
        {f.event_id: f.t0 for f in _event_fits(config, Path(cutoffs))},
        pre_days=config["windows"]["pre_days"],
        post_days=max(config["windows"]["post_days"]),
        daily=daily.sort("day"),
        spam_messages=pl.scan_parquet([str(p) for p in spam_messages]),
        blocklist_snapshots=pl.concat([pl.read_parquet(p) for p in blocklist_snapshots]),
        address_space=space if switched else None,
        asrel_snapshots=months.unique().rename({"month": "snapshot_date"}),
        spam_exchangers=(
            pl.concat([pl.read_parquet(p) for p in spam_exchangers]) if spam_exchangers else None
        ),
    )
    LOGGER.info("%d threat rows", table.height)
    analysis.write_result(table, Path(out), config)


def _shock_dates(config: Mapping[str, Any]) -> dict[str, tuple[dt.date, ...]]:
    """Per event, the days the events table (config ``reference.events``) dates a temporary
    restoration of the target (``upstream_change`` rows with role ``restored``)."""
    from takedowns.reference import load_events, table_path

    rows = load_events(table_path(config, "events")).filter(
        (pl.col("fact") == "upstream_change") & (pl.col("role") == "restored")
    )
    out: dict[str, list[dt.date]] = {}
    for r in rows.iter_rows(named=True):
        out.setdefault(r["event_id"], []).append(r["date_utc"])
    return {k: tuple(sorted(set(v))) for k, v in out.items()}


CONCENTRATION_GROUPS = ["event_id", "measure", "owner_kind", "post_days"]


@logged_job
def concentration(
    *,
    frame_path: Path,
    out_indices: Path,
    out_changes: Path,
    out_gainers: Path,
    config: Mapping[str, Any],
) -> None:
    """Indices per window, bootstrap pre/post changes, and share gainers.

    ``frame_path``: Parquet of analysis/concentration_input.sql (event_id, measure, owner_kind,
    post_days, window, unit, owner, weight).
    """
    from takedowns.analysis import duckdb_runner as analysis
    from takedowns.analysis.concentration import (
        bootstrap_change_by,
        concentration_by,
        share_gainers,
    )

    frame = pl.read_parquet(frame_path)
    boot = config["bootstrap"]
    indices = concentration_by(frame, [*CONCENTRATION_GROUPS, "window"], "owner", "weight")
    changes = bootstrap_change_by(
        frame,
        CONCENTRATION_GROUPS,
        unit_col="unit",
        owner_col="owner",
        weight_col="weight",
        n_resamples=boot["resamples"],
        seed=boot["seed"],
        confidence=1.0 - config["verdict"]["alpha"],
        min_units=boot["min_units"],
    )
    gainers = share_gainers(
        frame,
        owner_col="owner",
        weight_col="weight",
        group_cols=CONCENTRATION_GROUPS,
        top=boot["top_gainers"],
    )
    LOGGER.info(
        "%d windows, %d changes, %d gainers", indices.height, changes.height, gainers.height
    )
    analysis.write_result(indices, Path(out_indices), config)
    analysis.write_result(changes, Path(out_changes), config)
    analysis.write_result(gainers, Path(out_gainers), config)


@logged_job
def displacement(
    *,
    frame_path: Path,
    out_summary: Path,
    out_buffers: Path,
    config: Mapping[str, Any],
) -> None:
    """The displacement axis per event, measure and post window: the WDQ with its day-block
    bootstrap interval, the buffer networks' gains and the displacement class
    (:func:`takedowns.analysis.displacement.displacement_by`).

    ``frame_path``: Parquet of analysis/displacement_input.sql (event_id, measure, post_days,
    window, day, owner, role, weight).
    """
    from takedowns.analysis import duckdb_runner as analysis
    from takedowns.analysis.displacement import BootstrapPlan, displacement_by

    frame = pl.read_parquet(frame_path)
    boot, rule = config["bootstrap"], config["verdict"]
    plan = BootstrapPlan(
        n_resamples=boot["resamples"],
        block_days=boot["block_days"],
        scheme=boot["block_scheme"],
        confidence=1.0 - rule["alpha"],
        persistence_correction=boot["persistence_correction"],
    )
    summary, buffers = displacement_by(
        frame,
        ["event_id", "measure", "post_days"],
        plan=plan,
        seed=boot["seed"],
        max_gainers=rule["displaced_if_gainers_at_most"],
        min_gains_hhi=rule["displaced_if_gains_hhi_at_least"],
    )
    LOGGER.info("%d comparisons, %d buffer rows", summary.height, buffers.height)
    analysis.write_result(summary, Path(out_summary), config)
    analysis.write_result(buffers, Path(out_buffers), config)


@logged_job
def verdicts(
    *,
    effects_csv: Path,
    displacement_csv: Path,
    calibration_csv: Path,
    out_csv: Path,
    out_txt: Path,
    out_calibration: Path,
    config: Mapping[str, Any],
) -> None:
    """Per event, the two-axis answer (:mod:`takedowns.analysis.verdicts`) from the primary volume
    fit
    and the primary displacement comparison, with the numbers that decided it; estimators
    that did not pass the calibration study (``calibration_csv``) are kept out, and the
    study's verdict is written beside the answer (``out_calibration``, with the rows the
    answer reads marked)."""
    from takedowns.analysis import duckdb_runner as analysis
    from takedowns.analysis import verdicts as vd

    rule = vd.rule_from_config(config)
    fits = pl.read_csv(effects_csv, infer_schema_length=None).filter(
        (pl.col("post_days") == rule.post_days) & (pl.col("family") == rule.family)
    )
    moves = pl.read_csv(displacement_csv, infer_schema_length=None).filter(
        (pl.col("post_days") == rule.post_days) & (pl.col("measure") == rule.displacement_measure)
    )
    evidence = vd.gather_evidence(fits, moves, events(config))
    calibration = vd.read_calibration(calibration_csv, source=CALIBRATION_VERDICT)
    answers = vd.decide_all(evidence, rule, calibration)
    for answer in answers:
        LOGGER.info("%s", answer.explanation())
    analysis.write_result(vd.answers_frame(answers, rule), Path(out_csv), config)
    table = vd.calibration_table(pl.read_csv(calibration_csv), rule)
    analysis.write_result(table, Path(out_calibration), config)
    text = "\n\n".join(a.explanation() for a in answers) + "\n"
    if is_synthetic(config):
        text = f"{SYNTHETIC_LABEL}\n\n{text}"
    Path(out_txt).write_text(text, encoding="utf-8")


@logged_job
def attribute_blocklists(
    *,
    entries: Sequence[Path],
    episodes: Path,
    ip_country: Path,
    out: Path,
    config: Mapping[str, Any],
) -> None:
    """Listed entries x origin AS as of the snapshot day (a NULL origin holds unrouted space),
    with the registry country of each entry's first address that day.

    The most specific announcement wins inside an entry (takedowns.prefix2as.attribution).
    """
    rows = _blocklist_attribution(entries, Path(episodes), Path(ip_country))
    write_parquet(rows, Path(out), metadata=parquet_metadata(config))
    LOGGER.info("%d entry-origin rows from %d lists", rows.height, len(entries))


def _blocklist_attribution(
    entries: Sequence[Path], episodes: Path, ip_country: Path
) -> pl.DataFrame:
    from takedowns.prefix2as.attribution import attribute_country, attribute_ranges

    frame = pl.concat([pl.read_parquet(p) for p in entries]).with_columns(
        day=pl.col("snapshot_time").dt.date()
    )
    att = attribute_ranges(frame, pl.read_parquet(episodes))
    keys = ["list", "snapshot_id", "snapshot_time", "prefix", "start_ip", "end_ip"]
    routed = (
        att.select(*keys, "origins", "origin_addresses")
        .explode("origins", "origin_addresses")
        .drop_nulls("origins")
        .select(
            *keys,
            pl.col("origins").alias("origin_asn"),
            pl.col("origin_addresses").alias("addresses"),
        )
    )
    unrouted = att.filter(pl.col("range_addresses") > pl.col("routed_addresses")).select(
        *keys,
        pl.lit(None, dtype=pl.UInt32).alias("origin_asn"),
        (pl.col("range_addresses") - pl.col("routed_addresses")).alias("addresses"),
    )
    rows = pl.concat([routed, unrouted]).with_columns(day=pl.col("snapshot_time").dt.date())
    located = attribute_country(rows, pl.read_parquet(ip_country), ip="start_ip", day="day")
    return located.drop("day")


@logged_job
def published_comparison(
    *,
    daily: Path,
    messages: Sequence[Path],
    cutoffs: Path,
    out: Path,
    config: Mapping[str, Any],
) -> None:
    """Our trap estimates beside the published figures (takedowns.analysis.comparison).

    ``messages``: the spam_messages Parquet files; only their arrival times around the
    cut-offs are read (the hourly series).
    """
    from takedowns.analysis import duckdb_runner as analysis
    from takedowns.analysis.comparison import arrival_windows, compare
    from takedowns.reference import load_published_figures, table_path

    t0s = _cutoffs(Path(cutoffs))
    pre_days = config["windows"]["pre_days"]
    arrivals = (
        pl.scan_parquet([str(p) for p in messages])
        .select("arrival_time")
        .filter(arrival_windows(t0s, pre_days))
        .collect()
    )
    frame = compare(
        load_published_figures(
            table_path(config, "published_figures"), table_path(config, "events")
        ),
        pl.read_csv(daily, try_parse_dates=True),
        arrivals,
        t0s,
        pre_days,
    )
    analysis.write_result(frame, Path(out), config)
    LOGGER.info(
        "%d published figures, %d comparable, %d compared",
        frame.height,
        frame["comparable"].sum(),
        frame["our_estimate"].is_not_null().sum(),
    )
