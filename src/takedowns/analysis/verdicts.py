"""The answer per event, on two axes: did the spam stay down (V), and did it move (D)?

**Axis V (volume)** reads the primary spam-volume fit of the event (``verdict.family`` over the
``verdict.post_days`` post window; see :mod:`takedowns.analysis.effects`): the *immediate* effect
``exp(b_level) - 1`` at t0 and the effect at the *end of the window*, each with its interval at
confidence ``1 - verdict.alpha``.

1. ``inconclusive``  when there is no usable fit (refused, or an interval that is not finite);
2. ``no effect``     when there is no drop: a drop needs both the immediate effect's p-value to
   pass Holm's step-down test across the events (``verdict.holm``; family-wise error
   ``alpha``) with a negative estimate, and the immediate effect's upper bound below
   ``verdict.drop_if_immediate_ci_high_below`` (a material drop, e.g. -0.2);
3. ``stayed down``   when, after a drop, the end-of-window effect's upper bound is still below
   that threshold;
4. ``recovered``     when its interval lies within +-``verdict.recovered_if_end_within`` of 0
   (an equivalence test: back to the counterfactual level);
5. ``inconclusive``  otherwise.

**Axis D (displacement)** is asked only after a drop (whatever the end of the window says),
for the primary measure ``verdict.displacement_measure`` (spam sources or blocklisted space by
origin AS) from :func:`takedowns.analysis.displacement.displacement_by`: the buffer networks' pooled
share of the non-target activity rose (its bootstrap interval lies above 0), and the number of
buffer networks that gained and the HHI of the gains tell ``displaced`` (at most
``verdict.displaced_if_gainers_at_most`` gainers, or a gain concentrated whatever the number of
small gainers beside: HHI of the gains >= ``verdict.displaced_if_gains_hhi_at_least``) from
``dispersed``; else ``none``. The Weighted
Displacement Quotient is reported beside it, with the sign of Bowers & Johnson (2003): WDQ < 0
means that part of the target's loss reappeared in the buffer networks (a WDQ of -0.5: half of
it), WDQ > 0 a diffusion of benefit.

**The reading** combines the two: ``stayed down`` & ``none`` = *contained*; ``stayed down`` &
moved = *partially displaced*; ``recovered`` & moved = *relocated*; ``recovered`` & ``none`` =
*no lasting effect*; ``no effect`` = *no measurable effect*; ``inconclusive`` = *inconclusive*.
Every answer is printed with the numbers that decided it and the config keys they were compared
with.

**Calibration.** An answer rests only on estimators that passed the calibration study
(``make calibrate``, :mod:`takedowns.analysis.calibration`; its per-estimator status is
``data/calibration/verdict.csv``): the immediate effect decides the drop, the end-of-window
effect decides ``stayed down`` or ``recovered``, the WDQ study stands for axis D. An estimator
whose status is ``not calibrated``, or that the study did not cover (a family other than the
primary ``log_arma`` with its noise baseline), is kept out: the axis it decides is answered
``inconclusive`` and the explanation names the estimator and its status. ``calibrated within
Monte Carlo error`` (some cell misses the goal by less than two simulation standard errors) is
used, and said. A volume estimator that holds its goal only up to some persistence of the noise
(``calibrated_up_to_rho``, e.g. 0.7 but not 0.9) is used for an event whose own noise
persistence (``noise_persistence`` of the fit: the AR coefficient of the noise tail learnt on
the trap's days outside every event window) is at most that, and kept out otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

VOLUME_ANSWERS: tuple[str, ...] = ("stayed down", "recovered", "inconclusive", "no effect")
DISPLACEMENT_ANSWERS: tuple[str, ...] = (
    "displaced",
    "dispersed",
    "none",
    "not asked",
    "inconclusive",
)
#: Calibration statuses under which an estimator may decide an answer (verdict.csv ``status``).
USABLE_STATUSES: tuple[str, ...] = ("calibrated", "calibrated within Monte Carlo error")
#: The displacement estimator of the calibration study that stands for axis D.
DISPLACEMENT_ESTIMATOR = "wdq"
READINGS: tuple[str, ...] = (
    "contained",
    "partially displaced",
    "relocated",
    "no lasting effect",
    "no measurable effect",
    "inconclusive",
)


@dataclass(frozen=True)
class AnswerRule:
    """The thresholds of the answer (config ``verdict``; meanings in the module docstring)."""

    alpha: float
    post_days: int
    family: str
    displacement_measure: str
    drop_if_immediate_ci_high_below: float
    recovered_if_end_within: float
    holm: bool
    displaced_if_gainers_at_most: int
    displaced_if_gains_hhi_at_least: float

    @property
    def confidence(self) -> float:
        return 1.0 - self.alpha


def rule_from_config(config: Mapping[str, Any]) -> AnswerRule:
    """The rule from ``config['verdict']`` (validated against ``config/schema.yaml``, which
    holds the keys' defaults and allowed ranges)."""
    v = config["verdict"]
    return AnswerRule(
        alpha=float(v["alpha"]),
        post_days=int(v["post_days"]),
        family=str(v["family"]),
        displacement_measure=str(v["displacement_measure"]),
        drop_if_immediate_ci_high_below=float(v["drop_if_immediate_ci_high_below"]),
        recovered_if_end_within=float(v["recovered_if_end_within"]),
        holm=bool(v["holm"]),
        displaced_if_gainers_at_most=int(v["displaced_if_gainers_at_most"]),
        displaced_if_gains_hhi_at_least=float(v["displaced_if_gains_hhi_at_least"]),
    )


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


@dataclass(frozen=True)
class VolumeEvidence:
    """The primary volume fit of one event (relative changes, intervals at ``confidence``)."""

    immediate: float
    immediate_low: float
    immediate_high: float
    end_of_window: float
    end_low: float
    end_high: float
    p_value: float
    confidence: float
    family: str = ""
    error_model: str = ""  # log_arma: "baseline" (calibrated) or "window (why)"
    persistence: float = math.nan  # the noise tail's AR coefficient (noise baseline only)

    @property
    def usable(self) -> bool:
        return all(math.isfinite(x) for x in (self.immediate_low, self.immediate_high))


def volume_from_effect(row: Mapping[str, Any]) -> VolumeEvidence:
    """Volume evidence from a row of the effects table (``ItsEffect.as_row()``)."""
    return VolumeEvidence(
        immediate=_float(row.get("relative_change")),
        immediate_low=_float(row.get("ci_low")),
        immediate_high=_float(row.get("ci_high")),
        end_of_window=_float(row.get("end_of_window")),
        end_low=_float(row.get("end_of_window_ci_low")),
        end_high=_float(row.get("end_of_window_ci_high")),
        p_value=_float(row.get("level_p_value")),
        confidence=_float(row.get("confidence")),
        family=str(row.get("family") or ""),
        error_model=str(row.get("error_model") or ""),
        persistence=_float(row.get("noise_persistence")),
    )


@dataclass(frozen=True)
class DisplacementEvidence:
    """The primary displacement comparison of one event (a ``displacement_by`` summary row)."""

    measure: str
    displacement: str  # displaced | dispersed | none (the class displacement_by gives)
    wdq: float
    wdq_low: float
    wdq_high: float
    buffer_share_change: float
    buffer_low: float
    buffer_high: float
    n_gainers: int
    gains_hhi: float
    n_buffers: int
    note: str = ""


def displacement_from_row(row: Mapping[str, Any]) -> DisplacementEvidence:
    """Displacement evidence from a row of the displacement table."""
    return DisplacementEvidence(
        measure=str(row["measure"]),
        displacement=str(row.get("displacement") or "none"),
        wdq=_float(row.get("wdq")),
        wdq_low=_float(row.get("wdq_low")),
        wdq_high=_float(row.get("wdq_high")),
        buffer_share_change=_float(row.get("buffer_share_change")),
        buffer_low=_float(row.get("buffer_low")),
        buffer_high=_float(row.get("buffer_high")),
        n_gainers=int(row.get("n_gainers") or 0),
        gains_hhi=_float(row.get("gains_hhi")),
        n_buffers=int(row.get("n_buffers") or 0),
        note=str(row.get("note") or ""),
    )


@dataclass(frozen=True)
class EventEvidence:
    """What the answer reads for one event."""

    event_id: str
    event_name: str
    volume: VolumeEvidence | None
    displacement: DisplacementEvidence | None


@dataclass(frozen=True)
class Answer:
    """The two-axis answer of one event, with the lines that explain it."""

    event_id: str
    event_name: str
    volume_answer: str
    displacement_answer: str
    reading: str
    holm_passed: bool | None
    volume: VolumeEvidence | None
    displacement: DisplacementEvidence | None
    lines: tuple[str, ...]
    volume_calibration: str = ""  # the immediate estimator's calibration status
    displacement_calibration: str = ""  # the WDQ's calibration status

    def explanation(self) -> str:
        head = (
            f"{self.event_name or self.event_id}: {self.reading} "
            f"(volume: {self.volume_answer}; displacement: {self.displacement_answer})"
        )
        return "\n".join([head, *(f"  {line}" for line in self.lines)])


def holm_passed(p_values: Mapping[str, float], alpha: float) -> dict[str, bool]:
    """Holm's step-down test: which hypotheses are rejected at family-wise error ``alpha``.

    A NaN p-value is never rejected and counts in the family size.
    """
    m = len(p_values)
    order = sorted(p_values, key=lambda k: (math.isnan(p_values[k]), p_values[k]))
    passed, going = {}, True
    for rank, key in enumerate(order):
        p = p_values[key]
        going = going and not math.isnan(p) and p <= alpha / (m - rank)
        passed[key] = going
    return passed


@dataclass(frozen=True)
class Calibration:
    """The calibration status of each estimator (``estimator`` -> ``status`` of verdict.csv)
    and, where it holds its goal only up to some noise persistence, that persistence
    (``up_to_rho``: ``calibrated_up_to_rho``)."""

    status: Mapping[str, str]
    source: str = "data/calibration/verdict.csv"
    up_to_rho: Mapping[str, float] = field(default_factory=dict)

    def of(self, estimator: str) -> str:
        """The estimator's status; ``not in the calibration study`` when it has none."""
        return self.status.get(estimator, "not in the calibration study")

    def usable(self, estimator: str, persistence: float = math.nan) -> bool:
        """Whether the estimator may decide an answer on data with this noise persistence
        (NaN: unknown, so only an estimator calibrated at every rho studied)."""
        if self.of(estimator) in USABLE_STATUSES:
            return True
        limit = self.up_to_rho.get(estimator, math.nan)
        return math.isfinite(persistence) and math.isfinite(limit) and persistence <= limit


def read_calibration(path: str | Path, source: str | None = None) -> Calibration:
    """The statuses of a calibration verdict.csv; a file without them is refused by name.
    ``source``: how the explanations name the file (default: ``path``)."""
    frame = pl.read_csv(path, infer_schema_length=None)
    missing = {"estimator", "status"} - set(frame.columns)
    if missing:
        raise ValueError(
            f"{path}: not a calibration verdict (no column {', '.join(sorted(missing))}); "
            "rerun make calibrate"
        )
    up_to: dict[str, float] = {}
    if "calibrated_up_to_rho" in frame.columns:
        rows = frame.select("estimator", "calibrated_up_to_rho").drop_nulls().iter_rows()
        up_to = {str(e): float(r) for e, r in rows}
    return Calibration(
        dict(zip(frame["estimator"], frame["status"], strict=True)), source or str(path), up_to
    )


def _estimator_name(family: str, error_model: str, estimand: str) -> str:
    """The calibration study's name of a volume fit's estimator: ``log_arma`` with its noise
    baseline is ``log_arma_baseline``; any other fit is named by its family."""
    if family == "log_arma":
        base = "log_arma_baseline" if error_model == "baseline" else "log_arma"
    else:
        base = family or "unknown"
    return f"{base}:{estimand}"


def volume_estimator(ev: VolumeEvidence, estimand: str) -> str:
    """The calibration study's name of the estimator behind a volume fit and estimand."""
    return _estimator_name(ev.family, ev.error_model, estimand)


def answer_estimators(rule: AnswerRule) -> tuple[str, ...]:
    """The calibration study's names of the estimators the answer reads under ``rule`` (the
    primary fit with its noise baseline; an event whose fit fell back to the window alone
    reads ``<family>:<estimand>`` instead, and its explanation says so)."""
    volume = (_estimator_name(rule.family, "baseline", e) for e in ("immediate", "end"))
    return (*volume, DISPLACEMENT_ESTIMATOR)


def calibration_table(verdict: pl.DataFrame, rule: AnswerRule) -> pl.DataFrame:
    """The calibration verdict (data/calibration/verdict.csv) with ``used_in_answer``: which
    rows the answer reads; those it reads but the study lacks are added as ``not in the
    calibration study``."""
    used = answer_estimators(rule)
    missing = [e for e in used if e not in set(verdict["estimator"])]
    extra = pl.DataFrame(
        {"estimator": missing, "status": ["not in the calibration study"] * len(missing)}
    )
    return (
        pl.concat([verdict, extra], how="diagonal_relaxed")
        .with_columns(used_in_answer=pl.col("estimator").is_in(list(used)))
        .sort(["used_in_answer", "estimator"], descending=[True, False])
    )


def _calibration_line(
    calibration: Calibration, estimator: str, axis: str, persistence: float = math.nan
) -> str:
    """What the calibration study says of an estimator, for the explanation."""
    line = f"[{axis}] {estimator}: {calibration.of(estimator)}"
    limit = calibration.up_to_rho.get(estimator, math.nan)
    if calibration.of(estimator) not in USABLE_STATUSES and math.isfinite(limit):
        line += f" at every rho; calibrated up to rho {limit:g}"
        if math.isfinite(persistence):
            line += f", and this series' noise persistence is {persistence:.2f}"
    return line


def _kept_out(
    calibration: Calibration, estimator: str, axis: str, persistence: float = math.nan
) -> str | None:
    """The explanation line of an estimator kept out of the answer, or None when usable."""
    if calibration.usable(estimator, persistence):
        return None
    status = calibration.of(estimator)
    limit = calibration.up_to_rho.get(estimator, math.nan)
    if status not in USABLE_STATUSES and math.isfinite(limit):
        status = f"calibrated only up to rho {limit:g} (noise persistence " + (
            f"{persistence:.2f})" if math.isfinite(persistence) else "unknown)"
        )
    return f"[{axis}] kept out: {estimator} is {status} ({calibration.source})"


def _pct(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{100 * x:+.1f} %"


def _volume(
    ev: VolumeEvidence | None, passed: bool | None, rule: AnswerRule, calibration: Calibration
) -> tuple[str, list, bool]:
    """Axis V: the answer, its explanation lines, and whether there was a drop."""
    if ev is None or not ev.usable:
        lines = ["[V] no usable volume fit for the primary window and family"]
        return "inconclusive", lines, False
    level = f"{100 * ev.confidence:.0f} %"
    lines = [
        f"[V] immediate effect {_pct(ev.immediate)} ({level} CI {_pct(ev.immediate_low)} to "
        f"{_pct(ev.immediate_high)}, {ev.family}, {rule.post_days}-day window; p = "
        f"{ev.p_value:.3g}"
        + (f", Holm across events: {'passed' if passed else 'not passed'})" if rule.holm else ")"),
        f"[V] end of window {_pct(ev.end_of_window)} ({level} CI {_pct(ev.end_low)} to "
        f"{_pct(ev.end_high)})",
    ]
    if ev.error_model.startswith("window") and ev.family == "log_arma":
        lines.append(
            "[V] caution: the noise model was learned on the window alone, "
            f"{ev.error_model.removeprefix('window').strip(' ()') or 'no baseline'}; the "
            "calibrated estimator learns it on the days outside every event window"
        )
    for estimand in ("immediate", "end"):
        name = volume_estimator(ev, estimand)
        lines.append(_calibration_line(calibration, name, "V", ev.persistence))
    kept_out = _kept_out(calibration, volume_estimator(ev, "immediate"), "V", ev.persistence)
    if kept_out:
        return "inconclusive", [*lines, kept_out], False
    threshold = rule.drop_if_immediate_ci_high_below
    significant = (passed if rule.holm else ev.immediate_high < 0) and ev.immediate < 0
    drop = bool(significant) and ev.immediate_high < threshold
    lines.append(
        f"[V] drop: {'yes' if drop else 'no'} (upper bound {_pct(ev.immediate_high)} vs "
        f"{_pct(threshold)}, verdict.drop_if_immediate_ci_high_below"
        + (", and Holm, verdict.holm" if rule.holm else "")
        + ")"
    )
    if not drop:
        return "no effect", lines, False
    kept_out = _kept_out(calibration, volume_estimator(ev, "end"), "V", ev.persistence)
    if kept_out:
        return "inconclusive", [*lines, kept_out], True
    eps = rule.recovered_if_end_within
    if math.isfinite(ev.end_high) and ev.end_high < threshold:
        lines.append(
            f"[V] still down at the end: upper bound {_pct(ev.end_high)} < {_pct(threshold)}"
        )
        return "stayed down", lines, True
    if math.isfinite(ev.end_low) and -eps <= ev.end_low and ev.end_high <= eps:
        lines.append(
            f"[V] back to the counterfactual: CI within +-{100 * eps:.0f} % "
            "(verdict.recovered_if_end_within)"
        )
        return "recovered", lines, True
    lines.append("[V] the end-of-window interval is neither wholly down nor wholly back")
    return "inconclusive", lines, True


def _displacement(
    ev: DisplacementEvidence | None, asked: bool, rule: AnswerRule, calibration: Calibration
) -> tuple[str, list]:
    """Axis D: the answer and its explanation lines."""
    if not asked:
        return "not asked", ["[D] not asked: no drop to look for"]
    if ev is None:
        return "none", [f"[D] no displacement evidence for {rule.displacement_measure}"]
    lines = [
        f"[D] {ev.measure}: buffer networks' share of non-target activity "
        f"{_pct(ev.buffer_share_change)} (CI {_pct(ev.buffer_low)} to {_pct(ev.buffer_high)}; "
        f"{ev.n_buffers} buffer networks)",
        f"[D] WDQ {ev.wdq:.3g} (CI {ev.wdq_low:.3g} to {ev.wdq_high:.3g}; < 0: part of the "
        "target's loss reappeared in the buffer networks)",
        f"[D] {ev.n_gainers} networks gained, HHI of the gains {ev.gains_hhi:.3g} "
        f"(displaced: at most {rule.displaced_if_gainers_at_most} gainers, "
        f"verdict.displaced_if_gainers_at_most, or HHI >= {rule.displaced_if_gains_hhi_at_least}, "
        "verdict.displaced_if_gains_hhi_at_least)",
    ]
    if ev.note:
        lines.append(f"[D] note: {ev.note}")
    lines.append(f"[D] {DISPLACEMENT_ESTIMATOR}: {calibration.of(DISPLACEMENT_ESTIMATOR)}")
    kept_out = _kept_out(calibration, DISPLACEMENT_ESTIMATOR, "D")
    if kept_out:
        return "inconclusive", [*lines, kept_out]
    answer = ev.displacement if ev.displacement in ("displaced", "dispersed") else "none"
    return answer, lines


def _reading(volume: str, displacement: str) -> str:
    moved = displacement in ("displaced", "dispersed")
    if displacement == "inconclusive" and volume in ("stayed down", "recovered"):
        return "inconclusive"
    if volume == "stayed down":
        return "partially displaced" if moved else "contained"
    if volume == "recovered":
        return "relocated" if moved else "no lasting effect"
    return "no measurable effect" if volume == "no effect" else "inconclusive"


def decide_all(
    evidence: Sequence[EventEvidence], rule: AnswerRule, calibration: Calibration
) -> list[Answer]:
    """The answer for every event (Holm's test runs across them), from calibrated estimators
    only (``calibration``)."""
    p_values = {
        e.event_id: (e.volume.p_value if e.volume is not None else math.nan) for e in evidence
    }
    passed = holm_passed(p_values, rule.alpha)
    answers = []
    for ev in evidence:
        volume, v_lines, asked = _volume(ev.volume, passed[ev.event_id], rule, calibration)
        displacement, d_lines = _displacement(ev.displacement, asked, rule, calibration)
        answers.append(
            Answer(
                event_id=ev.event_id,
                event_name=ev.event_name,
                volume_answer=volume,
                displacement_answer=displacement,
                reading=_reading(volume, displacement),
                holm_passed=passed[ev.event_id] if rule.holm else None,
                volume=ev.volume,
                displacement=ev.displacement,
                lines=(*v_lines, *d_lines),
                volume_calibration=(
                    calibration.of(volume_estimator(ev.volume, "immediate")) if ev.volume else ""
                ),
                displacement_calibration=calibration.of(DISPLACEMENT_ESTIMATOR),
            )
        )
    return answers


def gather_evidence(
    fits: pl.DataFrame, moves: pl.DataFrame, studied: Iterable[Any]
) -> list[EventEvidence]:
    """Per studied event (anything with ``event_id`` and ``name``), the evidence the answer
    reads: its primary volume fit (``fits``, one row per event; left out when it has no
    interval) and its primary displacement comparison (``moves``, one row per event)."""
    evidence = []
    for event in studied:
        fit = fits.filter(pl.col("event_id") == event.event_id)
        usable = fit.height and fit["ci_low"][0] is not None
        move = moves.filter(pl.col("event_id") == event.event_id)
        evidence.append(
            EventEvidence(
                event_id=event.event_id,
                event_name=event.name,
                volume=volume_from_effect(fit.row(0, named=True)) if usable else None,
                displacement=(
                    displacement_from_row(move.row(0, named=True)) if move.height else None
                ),
            )
        )
    return evidence


def answers_frame(answers: Iterable[Answer], rule: AnswerRule) -> pl.DataFrame:
    """One row per event: the two answers, the reading and the numbers behind them."""
    rows = []
    for a in answers:
        v, d = a.volume, a.displacement
        rows.append(
            {
                "event_id": a.event_id,
                "event_name": a.event_name,
                "volume_answer": a.volume_answer,
                "displacement_answer": a.displacement_answer,
                "reading": a.reading,
                "post_days": rule.post_days,
                "family": rule.family,
                "immediate": v.immediate if v else None,
                "immediate_ci_low": v.immediate_low if v else None,
                "immediate_ci_high": v.immediate_high if v else None,
                "end_of_window": v.end_of_window if v else None,
                "end_ci_low": v.end_low if v else None,
                "end_ci_high": v.end_high if v else None,
                "p_value": v.p_value if v else None,
                "noise_persistence": v.persistence if v else None,
                "holm_passed": a.holm_passed,
                "displacement_measure": rule.displacement_measure,
                "wdq": d.wdq if d else None,
                "wdq_ci_low": d.wdq_low if d else None,
                "wdq_ci_high": d.wdq_high if d else None,
                "buffer_share_change": d.buffer_share_change if d else None,
                "n_gainers": d.n_gainers if d else None,
                "gains_hhi": d.gains_hhi if d else None,
                "drop_if_immediate_ci_high_below": rule.drop_if_immediate_ci_high_below,
                "recovered_if_end_within": rule.recovered_if_end_within,
                "volume_calibration": a.volume_calibration,
                "displacement_calibration": a.displacement_calibration,
                "explanation": a.explanation(),
            }
        )
    frame = pl.DataFrame(rows, infer_schema_length=None)
    return frame.with_columns(pl.col(pl.Null).cast(pl.Float64)) if frame.height else frame
