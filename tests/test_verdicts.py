"""The verdict rule: every verdict reachable, each printed with the numbers that decided it."""

from __future__ import annotations

import polars as pl
import pytest

from takedowns.concentration import bootstrap_change
from takedowns.config import load_config, validate_config
from takedowns.verdicts import (
    VERDICTS,
    ConcentrationEvidence,
    EventEvidence,
    RecoveryEvidence,
    RehomingEvidence,
    VolumeEvidence,
    concentration_from_frame,
    decide,
    decide_all,
    rule_from_config,
    verdicts_frame,
    volume_from_effect,
)


def rule_with(**changes: object):
    """The study's verdict rule with ``changes``, validated as the workflow validates it."""
    config = load_config()
    config["verdict"].update(changes)
    validate_config(config)
    return rule_from_config(config)


# The study's rule, over the measures these tests name.
RULE = rule_with(dispersion_measures=["blocklisted_space", "spam_sources"])

DROP = VolumeEvidence(
    relative_change=-0.652,
    ci_low=-0.701,
    ci_high=-0.598,
    confidence=0.95,
    family="negative_binomial",
)
NO_DROP = VolumeEvidence(relative_change=-0.031, ci_low=-0.123, ci_high=0.071, confidence=0.95)
NOT_BACK = RecoveryEvidence(
    threshold=0.9, days_after_cutoff=None, last_evaluated_days_after_cutoff=89
)
BACK = RecoveryEvidence(threshold=0.9, days_after_cutoff=41, last_evaluated_days_after_cutoff=89)
FLAT_HHI = ConcentrationEvidence(
    measure="blocklisted_space",
    difference=-0.0042,
    ci_low=-0.0113,
    ci_high=0.0031,
    confidence=0.95,
    n_units_pre=12,
    n_units_post=9,
    pre=0.0815,
    post=0.0773,
)
FALLING_HHI = ConcentrationEvidence(
    measure="spam_sources",
    difference=-0.0871,
    ci_low=-0.1204,
    ci_high=-0.0517,
    confidence=0.95,
    n_units_pre=90,
    n_units_post=90,
    pre=0.2113,
    post=0.1242,
)


def evidence(**kw: object) -> EventEvidence:
    base: dict[str, object] = {
        "event_id": "mccolo",
        "event_name": "McColo",
        "post_days": 90,
        "volume": DROP,
        "recovery": NOT_BACK,
        "concentration": (FLAT_HHI,),
    }
    base.update(kw)
    return EventEvidence(**base)  # type: ignore[arg-type]


def test_stayed_down() -> None:
    v = decide(evidence(), RULE)
    assert v.verdict == "stayed down"
    assert v.decided_by == ("drop", "no_recovery")
    text = v.explanation()
    assert text.startswith("McColo: stayed down")
    for number in ("-65.2 %", "-70.1 %", "-59.8 %", "-20.0 %", "day 89 >= 60 days"):
        assert number in text, (number, text)
    assert "[yes] drop" in text and "[yes] no_recovery" in text
    assert "[no] concentration[blocklisted_space]" in text and "+0.0031" in text
    assert "[n/a] concentration[spam_sources]" in text
    assert "[n/a] rehoming" in text
    assert v.numbers()["drop.ci_high"] == -0.598


def test_recovered() -> None:
    v = decide(evidence(recovery=BACK), RULE)
    assert v.verdict == "recovered" and v.decided_by == ("drop", "recovery")
    text = v.explanation()
    assert "on day 41 after the cut-off, <= 60 days" in text
    assert "90 % of the pre-window mean" in text and "-59.8 %" in text


def test_recovery_after_the_limit_is_stayed_down() -> None:
    late = RecoveryEvidence(
        threshold=0.9, days_after_cutoff=75, last_evaluated_days_after_cutoff=89
    )
    v = decide(evidence(recovery=late), RULE)
    assert v.verdict == "stayed down"
    assert "on day 75 after the cut-off, > 60 days" in v.explanation()


def test_dispersed_by_concentration() -> None:
    v = decide(evidence(concentration=(FLAT_HHI, FALLING_HHI)), RULE)
    assert v.verdict == "dispersed" and v.decided_by == ("concentration[spam_sources]",)
    text = v.explanation()
    for number in ("0.2113 -> 0.1242", "-0.0871", "-0.1204", "-0.0517", "90 pre / 90 post"):
        assert number in text, (number, text)
    assert "[yes] concentration[spam_sources]" in text


def test_dispersed_by_rehoming_even_without_a_volume_estimate() -> None:
    moved = RehomingEvidence(share_rehomed=0.74, new_origins=3, within_days=30)
    v = decide(evidence(volume=None, rehoming=moved), RULE)
    assert v.verdict == "dispersed" and v.decided_by == ("rehoming",)
    assert "74.0 %" in v.explanation() and "by 3 new origin(s)" in v.explanation()
    # the same space moved to one new origin is a move, not a dispersion
    one = RehomingEvidence(share_rehomed=0.74, new_origins=1, within_days=30)
    assert decide(evidence(rehoming=one), RULE).verdict == "stayed down"


def test_inconclusive_no_drop() -> None:
    v = decide(evidence(volume=NO_DROP), RULE)
    assert v.verdict == "inconclusive" and v.decided_by == ("drop",)
    text = v.explanation()
    assert "-3.1 %" in text and "+7.1 %" in text and "CI upper bound +7.1 % >= -20.0 %" in text


def test_an_interval_spanning_zero_never_supports_stayed_down() -> None:
    lenient = rule_with(
        drop_if_relative_change_ci_high_below=0.0,
        dispersion_measures=["blocklisted_space", "spam_sources"],
    )
    spans = VolumeEvidence(relative_change=-0.3, ci_low=-0.6, ci_high=0.05, confidence=0.95)
    assert decide(evidence(volume=spans), lenient).verdict == "inconclusive"
    with pytest.raises(ValueError, match=r"verdict\.drop_if_relative_change_ci_high_below"):
        rule_with(
            drop_if_relative_change_ci_high_below=0.1,
            dispersion_measures=["blocklisted_space", "spam_sources"],
        )


def test_inconclusive_without_volume_or_with_a_short_window() -> None:
    v = decide(evidence(volume=None), RULE)
    assert v.verdict == "inconclusive" and v.decided_by == ("volume",)
    assert "no volume estimate" in v.explanation()
    nan = float("nan")
    no_ci = VolumeEvidence(relative_change=-1.0, ci_low=nan, ci_high=nan, confidence=0.95)
    assert decide(evidence(volume=no_ci), RULE).verdict == "inconclusive"
    # not back within the 30 days evaluated; the rule needs 60 days to say "stayed down"
    short = RecoveryEvidence(
        threshold=0.9, days_after_cutoff=None, last_evaluated_days_after_cutoff=29
    )
    rule30 = rule_with(post_days=30, dispersion_measures=["blocklisted_space", "spam_sources"])
    v = decide(evidence(post_days=30, recovery=short), rule30)
    assert v.verdict == "inconclusive" and v.decided_by == ("drop", "no_recovery")
    assert "days up to 29 after the cut-off evaluated" in v.explanation()
    assert "[no] no_recovery: last evaluated day 29 < 60 days" in v.explanation()
    assert decide(evidence(recovery=None), RULE).verdict == "inconclusive"


def test_too_few_units_are_not_evidence_of_dispersion() -> None:
    thin = ConcentrationEvidence(
        measure="blocklisted_space",
        difference=-0.2,
        ci_low=-0.3,
        ci_high=-0.1,
        confidence=0.95,
        n_units_pre=3,
        n_units_post=4,
        pre=0.5,
        post=0.3,
    )
    v = decide(evidence(concentration=(thin,)), RULE)
    assert v.verdict == "stayed down"
    assert "[n/a] concentration[blocklisted_space]" in v.explanation()
    assert "fewer than 5 units" in v.explanation()
    relaxed = rule_with(
        min_units_per_window=3, dispersion_measures=["blocklisted_space", "spam_sources"]
    )
    assert decide(evidence(concentration=(thin,)), relaxed).verdict == "dispersed"


def test_every_verdict_is_reachable() -> None:
    got = {
        decide(evidence(), RULE).verdict,
        decide(evidence(recovery=BACK), RULE).verdict,
        decide(evidence(concentration=(FALLING_HHI,)), RULE).verdict,
        decide(evidence(volume=NO_DROP), RULE).verdict,
    }
    assert got == set(VERDICTS)


def test_rule_config_errors_and_mismatches() -> None:
    with pytest.raises(ValueError, match=r"'verdict': Additional properties .*recovery_days"):
        rule_with(recovery_days=3, dispersion_measures=["blocklisted_space", "spam_sources"])
    with pytest.raises(ValueError, match=r"verdict\.alpha"):
        rule_with(alpha=1.5, dispersion_measures=["blocklisted_space", "spam_sources"])
    with pytest.raises(ValueError, match=r"confidence 0\.9, the rule expects 0\.95"):
        decide(evidence(volume=VolumeEvidence(-0.5, -0.6, -0.4, confidence=0.9)), RULE)
    with pytest.raises(ValueError, match=r"90-day post window, the rule reads 30"):
        decide(
            evidence(),
            rule_with(post_days=30, dispersion_measures=["blocklisted_space", "spam_sources"]),
        )
    with pytest.raises(ValueError, match=r"for 7 days, the rule reads 30"):
        decide(evidence(rehoming=RehomingEvidence(0.9, 4, within_days=7)), RULE)
    assert set(load_config()["verdict"]) == set(RULE.__dataclass_fields__)


def test_disabled_clauses() -> None:
    off = rule_with(
        dispersed_if_hhi_change_ci_below=None,
        dispersed_if_rehomed_share_at_least=None,
        dispersion_measures=["blocklisted_space", "spam_sources"],
    )
    moved = RehomingEvidence(share_rehomed=0.9, new_origins=5, within_days=30)
    v = decide(evidence(concentration=(FALLING_HHI,), rehoming=moved), off)
    assert v.verdict == "stayed down"
    assert "dispersed_if_hhi_change_ci_below is null" in v.explanation()


def test_from_bootstrap_frame_and_table() -> None:
    frame = pl.DataFrame(
        {
            "window": ["pre"] * 12 + ["post"] * 12,
            "day": list(range(6)) * 2 + list(range(6)) * 2,
            "asn": [1] * 6 + [2] * 6 + [1] * 6 + [3] * 6,
            "w": [9.0, 8, 9, 10, 9, 8] + [1.0] * 6 + [5.0, 4, 5, 6, 5, 4] + [5.0, 6, 5, 4, 5, 6],
        }
    )
    changes = bootstrap_change(frame, unit_col="day", owner_col="asn", weight_col="w")
    ev = concentration_from_frame(changes.with_columns(measure=pl.lit("spam_sources")))
    assert len(ev) == 1 and ev[0].ci_high is not None and ev[0].ci_high < 0
    study = load_config()
    study["verdict"]["dispersion_measures"] = ["blocklisted_space", "spam_sources"]
    verdicts = decide_all(
        [evidence(concentration=ev), evidence(event_id="rbn", event_name="RBN", volume=NO_DROP)],
        study,
    )
    table = verdicts_frame(verdicts)
    assert table["verdict"].to_list() == ["dispersed", "inconclusive"]
    assert table["decided_by"].to_list() == ["concentration[spam_sources]", "drop"]
    assert table["explanation"][1].startswith("RBN: inconclusive")

    # a window without any unit: no point estimate, no interval, the clause is n/a
    empty = bootstrap_change(
        frame.filter(pl.col("window") == "pre"), unit_col="day", owner_col="asn", weight_col="w"
    )
    ev = concentration_from_frame(empty.with_columns(measure=pl.lit("spam_sources")))
    v = decide(evidence(concentration=ev), RULE)
    assert v.verdict == "stayed down"
    assert "[n/a] concentration[spam_sources]" in v.explanation()


def test_volume_from_a_table_row() -> None:
    row = {
        "relative_change": -0.5,
        "ci_low": None,
        "ci_high": None,
        "confidence": 0.95,
        "family": "quasi_poisson",
    }
    v = decide(evidence(volume=volume_from_effect(row)), RULE)
    assert v.verdict == "inconclusive" and "no finite interval" in v.explanation()
    ok = volume_from_effect({**row, "ci_low": -0.6, "ci_high": -0.4})
    assert ok == VolumeEvidence(-0.5, -0.6, -0.4, 0.95, "quasi_poisson")
