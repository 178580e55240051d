"""Per-event verdicts: `stayed down`, `recovered`, `dispersed` or `inconclusive`.

The rule reads the config mapping ``verdict`` (defaults in ``config/schema.yaml``) and the
evidence of one event for one post window (``verdict.post_days``). Every clause below is
evaluated and printed, with its numbers and the config key it compares against; a clause is
``yes``, ``no`` or ``n/a`` (its evidence is absent or too thin).

Clauses
    ``volume``      the spam volume effect has a finite interval (``ci_low``, ``ci_high`` of
                    the relative change ``exp(level) - 1`` at confidence ``1 - alpha``).
    ``drop``        the whole interval lies below ``drop_if_relative_change_ci_high_below``
                    (a value <= 0, default -0.2): ``ci_high < threshold``. An interval that
                    spans 0 is never a drop, so it can never support `stayed down`.
    ``recovery``    the trailing 7-day mean came back to ``recovery_threshold`` x the pre
                    mean (default 0.9) within ``recovered_if_recovery_days_at_most`` days of
                    the cut-off: ``days_after_cutoff <= limit``.
    ``no_recovery`` it did not, and the search covered the limit: the last day with a
                    defined trailing mean is at least ``limit`` days after the cut-off.
    ``concentration``  for each measure in ``dispersion_measures`` with evidence: both windows
                    have at least ``min_units_per_window`` units and the whole bootstrap
                    interval of the HHI change (post - pre) lies below
                    ``dispersed_if_hhi_change_ci_below`` (default -0.01, i.e. 100 points on
                    the 0..10,000 scale): ``ci_high < threshold``. The default asks for a
                    material fall, not only a significant one: with ~90 daily units of
                    thousands of messages, changes of a few thousandths are "significant".
                    ``n/a`` when the key is null, the measure is absent or has too few units.
    ``rehoming``    at least ``dispersed_if_rehomed_share_at_least`` of the network's
                    pre-window address space was announced again by other origins within
                    ``rehoming_days`` days, by at least ``dispersed_if_new_origins_at_least``
                    distinct new origins (one new origin is a move, not a dispersion).
                    ``n/a`` when the share key is null or no re-homing evidence is given.

Verdict: the first that applies, in this order
    1. ``dispersed``     if any ``concentration`` clause or ``rehoming`` is yes;
    2. ``inconclusive``  if ``volume`` is not yes (no usable volume estimate);
    3. ``inconclusive``  if ``drop`` is no (no demonstrated drop: nothing to stay down from);
    4. ``recovered``     if ``recovery`` is yes;
    5. ``stayed down``   if ``no_recovery`` is yes;
    6. ``inconclusive``  otherwise (the post window or its coverage is too short to tell).

Dispersion comes first because it answers the study's question about where the badness went:
a volume recovery carried by more networks is a dispersion. Caveat for the inputs: when the
target network held the largest share before the cut-off, its mere disappearance lowers the
HHI over all owners. Feed concentration evidence computed *without the event's own ASNs* (and
name the measure so) when "dispersed" should mean that the remaining badness spread.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

VERDICTS: tuple[str, ...] = ("stayed down", "recovered", "dispersed", "inconclusive")


@dataclass(frozen=True)
class VerdictRule:
    """The verdict rule's thresholds (see the module docstring for their meaning)."""

    alpha: float
    post_days: int
    drop_if_relative_change_ci_high_below: float
    recovery_threshold: float
    recovered_if_recovery_days_at_most: int
    dispersion_measures: tuple[str, ...]
    dispersed_if_hhi_change_ci_below: float | None
    min_units_per_window: int
    dispersed_if_rehomed_share_at_least: float | None
    dispersed_if_new_origins_at_least: int
    rehoming_days: int

    @property
    def confidence(self) -> float:
        return 1.0 - self.alpha


def rule_from_config(config: Mapping[str, Any]) -> VerdictRule:
    """The rule from ``config['verdict']``, a config validated against ``config/schema.yaml``
    (which holds the keys' defaults and allowed ranges)."""
    v = config["verdict"]
    return VerdictRule(
        alpha=float(v["alpha"]),
        post_days=int(v["post_days"]),
        drop_if_relative_change_ci_high_below=float(v["drop_if_relative_change_ci_high_below"]),
        recovery_threshold=float(v["recovery_threshold"]),
        recovered_if_recovery_days_at_most=int(v["recovered_if_recovery_days_at_most"]),
        dispersion_measures=tuple(str(m) for m in v["dispersion_measures"]),
        dispersed_if_hhi_change_ci_below=_optional_float(v["dispersed_if_hhi_change_ci_below"]),
        min_units_per_window=int(v["min_units_per_window"]),
        dispersed_if_rehomed_share_at_least=_optional_float(
            v["dispersed_if_rehomed_share_at_least"]
        ),
        dispersed_if_new_origins_at_least=int(v["dispersed_if_new_origins_at_least"]),
        rehoming_days=int(v["rehoming_days"]),
    )


def _nan_if_none(value: Any) -> float:
    return math.nan if value is None else float(value)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


# ---------------------------------------------------------------------------------------------
# Evidence
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VolumeEvidence:
    """The relative change of spam volume at the cut-off and its interval."""

    relative_change: float
    ci_low: float
    ci_high: float
    confidence: float
    family: str = ""


@dataclass(frozen=True)
class RecoveryEvidence:
    """When the trailing mean came back to ``threshold`` x the pre mean (None: not seen)."""

    threshold: float
    days_after_cutoff: int | None
    last_evaluated_days_after_cutoff: int | None


@dataclass(frozen=True)
class ConcentrationEvidence:
    """The bootstrap result of one measure's HHI change (post - pre)."""

    measure: str
    difference: float
    ci_low: float | None
    ci_high: float | None
    confidence: float
    n_units_pre: int
    n_units_post: int
    pre: float = math.nan
    post: float = math.nan


@dataclass(frozen=True)
class RehomingEvidence:
    """Share of the network's pre-window space re-announced by others, and by how many."""

    share_rehomed: float
    new_origins: int
    within_days: int


@dataclass(frozen=True)
class EventEvidence:
    """Everything the rule reads for one event and one post window."""

    event_id: str
    post_days: int
    volume: VolumeEvidence | None = None
    recovery: RecoveryEvidence | None = None
    concentration: tuple[ConcentrationEvidence, ...] = ()
    rehoming: RehomingEvidence | None = None
    event_name: str = ""


def volume_from_effect(effect: Any) -> VolumeEvidence:
    """Volume evidence from an :class:`takedowns.effects.ItsEffect` or a row of such records.

    A row (mapping, e.g. read back from the effects table) may have null bounds: they become
    NaN, and the rule then reports the volume estimate as unusable.
    """
    get = effect.get if isinstance(effect, Mapping) else lambda k, d=None: getattr(effect, k, d)
    return VolumeEvidence(
        relative_change=_nan_if_none(get("relative_change")),
        ci_low=_nan_if_none(get("ci_low")),
        ci_high=_nan_if_none(get("ci_high")),
        confidence=float(get("confidence")),
        family=str(get("family", "") or ""),
    )


def recovery_from_frame(recoveries: pl.DataFrame, threshold: float) -> RecoveryEvidence | None:
    """The row of a :func:`takedowns.effects.recovery_times` frame for ``threshold``."""
    row = recoveries.filter((pl.col("threshold") - threshold).abs() < 1e-9)
    if row.height == 0:
        return None
    r = row.row(0, named=True)
    return RecoveryEvidence(
        threshold=float(r["threshold"]),
        days_after_cutoff=r["days_after_cutoff"],
        last_evaluated_days_after_cutoff=r["last_evaluated_days_after_cutoff"],
    )


def concentration_from_frame(
    changes: pl.DataFrame, measure_col: str = "measure"
) -> tuple[ConcentrationEvidence, ...]:
    """HHI rows of a :func:`takedowns.concentration.bootstrap_change_by` frame, per measure.

    ``changes`` holds one event and post window; ``measure_col`` names the measure
    (e.g. ``blocklisted_space``, ``spam_sources``).
    """
    rows = changes.filter(pl.col("index") == "hhi").iter_rows(named=True)
    return tuple(
        ConcentrationEvidence(
            measure=str(r[measure_col]),
            difference=_nan_if_none(r["difference"]),
            ci_low=r["ci_low"],
            ci_high=r["ci_high"],
            confidence=float(r["confidence"]),
            n_units_pre=int(r["n_units_pre"]),
            n_units_post=int(r["n_units_post"]),
            pre=_nan_if_none(r["pre"]),
            post=_nan_if_none(r["post"]),
        )
        for r in rows
    )


# ---------------------------------------------------------------------------------------------
# The verdict
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clause:
    """One evaluated clause: ``holds`` is True, False or None (not evaluated)."""

    name: str
    holds: bool | None
    text: str
    numbers: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        mark = {True: "yes", False: "no", None: "n/a"}[self.holds]
        return f"[{mark}] {self.name}: {self.text}"


@dataclass(frozen=True)
class Verdict:
    """The verdict of one event, the clauses that decided it and all that were evaluated."""

    event_id: str
    verdict: str
    decided_by: tuple[str, ...]
    reason: str
    clauses: tuple[Clause, ...]
    event_name: str = ""

    def explanation(self) -> str:
        """The verdict with every clause and its numbers, as text for the report."""
        title = self.event_name or self.event_id
        lines = [f"{title}: {self.verdict} — {self.reason}"]
        lines += [f"  {c.line()}" for c in self.clauses]
        lines.append(f"  decided by: {', '.join(self.decided_by)}")
        return "\n".join(lines)

    def numbers(self) -> dict[str, Any]:
        """Every number the clauses used, keyed ``<clause>.<name>``."""
        return {f"{c.name}.{k}": v for c in self.clauses for k, v in c.numbers.items()}


def _pct(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{100.0 * x:+.1f} %"


def _num(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:+.4f}"


def _check_confidence(rule: VerdictRule, confidence: float, what: str) -> None:
    if abs(confidence - rule.confidence) > 1e-9:
        raise ValueError(
            f"{what} interval is at confidence {confidence}, the rule expects "
            f"{rule.confidence} (verdict.alpha = {rule.alpha})"
        )


def _volume_clauses(ev: EventEvidence, rule: VerdictRule) -> list[Clause]:
    v = ev.volume
    key = "verdict.drop_if_relative_change_ci_high_below"
    threshold = rule.drop_if_relative_change_ci_high_below
    if v is None or not (math.isfinite(v.ci_low) and math.isfinite(v.ci_high)):
        why = "no volume estimate" if v is None else "the volume estimate has no finite interval"
        return [
            Clause("volume", False, why),
            Clause("drop", None, f"not evaluated ({why})"),
        ]
    _check_confidence(rule, v.confidence, "the volume effect's")
    level = f"{100 * v.confidence:g} %"
    numbers = {
        "relative_change": v.relative_change,
        "ci_low": v.ci_low,
        "ci_high": v.ci_high,
        "threshold": threshold,
    }
    estimate = (
        f"relative change {_pct(v.relative_change)} ({level} CI {_pct(v.ci_low)} to "
        f"{_pct(v.ci_high)}{', ' + v.family if v.family else ''})"
    )
    drop = v.ci_high < threshold
    cmp = "<" if drop else ">="
    return [
        Clause("volume", True, estimate, {"relative_change": v.relative_change}),
        Clause(
            "drop",
            drop,
            f"CI upper bound {_pct(v.ci_high)} {cmp} {_pct(threshold)} ({key})",
            numbers,
        ),
    ]


def _recovery_clauses(ev: EventEvidence, rule: VerdictRule) -> list[Clause]:
    limit = rule.recovered_if_recovery_days_at_most
    key = "verdict.recovered_if_recovery_days_at_most"
    share = f"{100 * rule.recovery_threshold:g} % of the pre-window mean"
    r = ev.recovery
    if r is None:
        why = f"no recovery evidence for {share}"
        return [Clause("recovery", None, why), Clause("no_recovery", None, why)]
    numbers = {
        "threshold": r.threshold,
        "days_after_cutoff": r.days_after_cutoff,
        "last_evaluated_days_after_cutoff": r.last_evaluated_days_after_cutoff,
        "limit_days": limit,
    }
    if r.days_after_cutoff is not None:
        ok = r.days_after_cutoff <= limit
        cmp = "<=" if ok else ">"
        text = (
            f"7-day mean back at {share} on day {r.days_after_cutoff} after the cut-off, "
            f"{cmp} {limit} days ({key})"
        )
        return [
            Clause("recovery", ok, text, numbers),
            Clause(
                "no_recovery",
                not ok,
                f"back on day {r.days_after_cutoff}, "
                f"{'within' if ok else 'only after'} the {limit}-day limit",
                numbers,
            ),
        ]
    last = r.last_evaluated_days_after_cutoff
    seen_enough = last is not None and last >= limit
    searched = "no day" if last is None else f"days up to {last} after the cut-off"
    cmp = ">=" if seen_enough else "<"
    return [
        Clause(
            "recovery",
            False,
            f"7-day mean not back at {share} in the post window ({searched} evaluated)",
            numbers,
        ),
        Clause(
            "no_recovery",
            seen_enough,
            f"last evaluated day {'n/a' if last is None else last} {cmp} {limit} days: the "
            f"search {'covers' if seen_enough else 'does not cover'} the limit ({key})",
            numbers,
        ),
    ]


def _concentration_clauses(ev: EventEvidence, rule: VerdictRule) -> list[Clause]:
    threshold = rule.dispersed_if_hhi_change_ci_below
    key = "verdict.dispersed_if_hhi_change_ci_below"
    by_measure = {c.measure: c for c in ev.concentration}
    out = []
    for measure in rule.dispersion_measures:
        name = f"concentration[{measure}]"
        c = by_measure.get(measure)
        if threshold is None:
            out.append(Clause(name, None, f"not evaluated ({key} is null)"))
            continue
        if c is None:
            out.append(Clause(name, None, "not evaluated (no evidence for this measure)"))
            continue
        numbers = {
            "hhi_pre": c.pre,
            "hhi_post": c.post,
            "difference": c.difference,
            "ci_low": c.ci_low,
            "ci_high": c.ci_high,
            "n_units_pre": c.n_units_pre,
            "n_units_post": c.n_units_post,
            "threshold": threshold,
        }
        estimate = (
            f"HHI {c.pre:.4f} -> {c.post:.4f}, change {_num(c.difference)} "
            f"({100 * c.confidence:g} % CI {_num(c.ci_low)} to {_num(c.ci_high)}; "
            f"{c.n_units_pre} pre / {c.n_units_post} post units)"
        )
        too_few = min(c.n_units_pre, c.n_units_post) < rule.min_units_per_window
        if too_few or c.ci_high is None:
            why = (
                f"fewer than {rule.min_units_per_window} units in a window "
                "(verdict.min_units_per_window)"
                if too_few
                else "the bootstrap gave no interval"
            )
            out.append(Clause(name, None, f"{estimate}: not evaluated, {why}", numbers))
            continue
        _check_confidence(rule, c.confidence, f"the {measure} HHI change's")
        ok = c.ci_high < threshold
        cmp = "<" if ok else ">="
        text = f"{estimate}; CI upper bound {_num(c.ci_high)} {cmp} {threshold:+.4f} ({key})"
        out.append(Clause(name, ok, text, numbers))
    return out


def _rehoming_clause(ev: EventEvidence, rule: VerdictRule) -> Clause:
    share_min = rule.dispersed_if_rehomed_share_at_least
    origins_min = rule.dispersed_if_new_origins_at_least
    if share_min is None:
        return Clause(
            "rehoming", None, "not evaluated (verdict.dispersed_if_rehomed_share_at_least is null)"
        )
    h = ev.rehoming
    if h is None:
        return Clause("rehoming", None, "not evaluated (no re-homing evidence)")
    if h.within_days != rule.rehoming_days:
        raise ValueError(
            f"re-homing evidence of event {ev.event_id} is for {h.within_days} days, the rule "
            f"reads {rule.rehoming_days} (verdict.rehoming_days)"
        )
    ok = h.share_rehomed >= share_min and h.new_origins >= origins_min
    text = (
        f"{100 * h.share_rehomed:.1f} % of the pre-window address space re-announced within "
        f"{h.within_days} days by {h.new_origins} new origin(s); the rule needs >= "
        f"{100 * share_min:g} % (verdict.dispersed_if_rehomed_share_at_least) and >= "
        f"{origins_min} origins (verdict.dispersed_if_new_origins_at_least)"
    )
    numbers = {
        "share_rehomed": h.share_rehomed,
        "new_origins": h.new_origins,
        "within_days": h.within_days,
        "share_threshold": share_min,
        "origins_threshold": origins_min,
    }
    return Clause("rehoming", ok, text, numbers)


def decide(evidence: EventEvidence, rule: VerdictRule) -> Verdict:
    """Apply the rule (module docstring) to one event's evidence."""
    if evidence.post_days != rule.post_days:
        raise ValueError(
            f"evidence of event {evidence.event_id} is for the {evidence.post_days}-day post "
            f"window, the rule reads {rule.post_days} (verdict.post_days)"
        )
    volume = _volume_clauses(evidence, rule)
    recovery = _recovery_clauses(evidence, rule)
    dispersion = [*_concentration_clauses(evidence, rule), _rehoming_clause(evidence, rule)]
    clauses = (*volume, *recovery, *dispersion)
    held = {c.name: c.holds for c in clauses}

    def verdict(name: str, decided_by: Sequence[str], reason: str) -> Verdict:
        return Verdict(
            event_id=evidence.event_id,
            verdict=name,
            decided_by=tuple(decided_by),
            reason=reason,
            clauses=clauses,
            event_name=evidence.event_name,
        )

    dispersed = [c.name for c in dispersion if c.holds]
    if dispersed:
        return verdict("dispersed", dispersed, "the badness spread to more networks")
    if not held["volume"]:
        return verdict("inconclusive", ["volume"], "no usable estimate of the volume effect")
    if not held["drop"]:
        return verdict("inconclusive", ["drop"], "no demonstrated drop in spam volume")
    back = (
        f"{100 * rule.recovery_threshold:g} % of the pre level within "
        f"{rule.recovered_if_recovery_days_at_most} days"
    )
    if held["recovery"]:
        return verdict("recovered", ["drop", "recovery"], f"spam volume came back to {back}")
    if held["no_recovery"]:
        return verdict(
            "stayed down", ["drop", "no_recovery"], f"spam volume did not come back to {back}"
        )
    return verdict(
        "inconclusive",
        ["drop", "no_recovery"],
        "a drop, but the post window or its coverage is too short to tell whether it lasted",
    )


def decide_all(evidence: Iterable[EventEvidence], config: Mapping[str, Any]) -> list[Verdict]:
    """Verdicts for several events with the rule of ``config['verdict']``."""
    rule = rule_from_config(config)
    return [decide(ev, rule) for ev in evidence]


def verdicts_frame(verdicts: Iterable[Verdict]) -> pl.DataFrame:
    """One row per event: event_id, verdict, decided_by, reason, explanation."""
    rows = [
        {
            "event_id": v.event_id,
            "verdict": v.verdict,
            "decided_by": ", ".join(v.decided_by),
            "reason": v.reason,
            "explanation": v.explanation(),
        }
        for v in verdicts
    ]
    schema = {c: pl.String for c in ("event_id", "verdict", "decided_by", "reason", "explanation")}
    return pl.DataFrame(rows, schema=schema)
