"""The two-axis answer: volume (stayed down / recovered / inconclusive / no effect) and
displacement (displaced / dispersed / none / not asked), read together."""

from __future__ import annotations

import math

import pytest

from takedowns.analysis.verdicts import (
    DISPLACEMENT_ANSWERS,
    READINGS,
    VOLUME_ANSWERS,
    Calibration,
    DisplacementEvidence,
    EventEvidence,
    VolumeEvidence,
    answers_frame,
    decide_all,
    displacement_from_row,
    holm_passed,
    read_calibration,
    rule_from_config,
    volume_from_effect,
)
from takedowns.config import load_config, validate_config


def rule_with(**changes: object):
    """The study's rule with ``changes``, validated as the workflow validates it."""
    config = load_config()
    config["verdict"].update(changes)
    validate_config(config)
    return rule_from_config(config)


RULE = rule_with()
# Every estimator these tests use, as if it had passed the calibration study.
CALIBRATED = Calibration(
    dict.fromkeys(("log_arma:immediate", "log_arma:end", "wdq"), "calibrated"), "test"
)


def volume(immediate=-0.6, ci=(-0.7, -0.5), end=-0.55, end_ci=(-0.65, -0.4), p=1e-6):
    return VolumeEvidence(
        immediate=immediate,
        immediate_low=ci[0],
        immediate_high=ci[1],
        end_of_window=end,
        end_low=end_ci[0],
        end_high=end_ci[1],
        p_value=p,
        confidence=0.95,
        family="log_arma",
    )


def moved(kind="displaced", gainers=1, hhi=0.9, wdq=-0.5, low=-0.8, high=-0.2):
    return DisplacementEvidence(
        measure="spam_sources",
        displacement=kind,
        wdq=wdq,
        wdq_low=low,
        wdq_high=high,
        buffer_share_change=0.05,
        buffer_low=0.02,
        buffer_high=0.08,
        n_gainers=gainers,
        gains_hhi=hhi,
        n_buffers=10,
    )


def answer(vol=None, disp=None, others=()):
    ev = [EventEvidence("mccolo", "McColo", vol, disp), *others]
    return decide_all(ev, RULE, CALIBRATED)[0]


def test_holm_step_down() -> None:
    passed = holm_passed({"a": 0.01, "b": 0.02, "c": 0.04}, 0.05)
    # 0.01 <= 0.05/3; 0.02 <= 0.05/2; 0.04 <= 0.05/1
    assert passed == {"a": True, "b": True, "c": True}
    passed = holm_passed({"a": 0.01, "b": 0.03, "c": 0.04}, 0.05)
    # 0.03 > 0.025 stops the procedure: c is not rejected although 0.04 <= 0.05
    assert passed == {"a": True, "b": False, "c": False}
    assert holm_passed({"a": math.nan, "b": 0.001}, 0.05) == {"a": False, "b": True}


def test_contained_when_it_stayed_down_and_nothing_moved() -> None:
    a = answer(volume(), moved(kind="none", gainers=0, hhi=math.nan))
    assert (a.volume_answer, a.displacement_answer, a.reading) == (
        "stayed down",
        "none",
        "contained",
    )
    text = a.explanation()
    assert "verdict.drop_if_immediate_ci_high_below" in text and "Holm" in text


def test_partially_displaced_and_relocated() -> None:
    a = answer(volume(), moved())
    assert (a.displacement_answer, a.reading) == ("displaced", "partially displaced")
    assert "WDQ -0.5" in a.explanation()
    back = volume(end=0.01, end_ci=(-0.05, 0.06))
    a = answer(back, moved(kind="dispersed", gainers=8, hhi=0.12))
    assert (a.volume_answer, a.displacement_answer, a.reading) == (
        "recovered",
        "dispersed",
        "relocated",
    )
    a = answer(back, moved(kind="none", gainers=0))
    assert a.reading == "no lasting effect"


def test_no_drop_means_no_effect_and_displacement_is_not_asked() -> None:
    spans = volume(immediate=-0.05, ci=(-0.2, 0.12), p=0.4)
    a = answer(spans, moved())
    assert (a.volume_answer, a.displacement_answer, a.reading) == (
        "no effect",
        "not asked",
        "no measurable effect",
    )
    small = volume(immediate=-0.1, ci=(-0.15, -0.05), p=1e-4)  # significant, not material
    assert answer(small).volume_answer == "no effect"


def test_holm_across_events_can_withhold_a_drop() -> None:
    borderline = volume(immediate=-0.5, ci=(-0.75, -0.21), p=0.03)
    other = EventEvidence("rbn", "RBN", volume(immediate=-0.1, ci=(-0.3, 0.2), p=0.5), None)
    assert answer(borderline).volume_answer == "stayed down"  # alone: 0.03 <= 0.05
    assert answer(borderline, others=(other,)).volume_answer == "no effect"  # 0.03 > 0.025
    unadjusted = decide_all(
        [EventEvidence("mccolo", "McColo", borderline, None), other],
        rule_with(holm=False),
        CALIBRATED,
    )
    assert unadjusted[0].volume_answer == "stayed down"


def test_inconclusive_answers() -> None:
    assert answer(None).volume_answer == "inconclusive"
    assert answer(volume(ci=(math.nan, math.nan))).reading == "inconclusive"
    wide_end = volume(end=-0.3, end_ci=(-0.6, 0.2))  # a drop, but its end is undecided
    a = answer(wide_end, moved())
    assert (a.volume_answer, a.displacement_answer, a.reading) == (
        "inconclusive",
        "displaced",
        "inconclusive",
    )


def test_every_answer_is_reachable_and_the_table_has_the_numbers() -> None:
    cases = [
        answer(volume(), moved(kind="none")),
        answer(volume(), moved()),
        answer(volume(end=0.0, end_ci=(-0.05, 0.05)), moved(kind="dispersed")),
        answer(volume(end=0.0, end_ci=(-0.05, 0.05)), moved(kind="none")),
        answer(volume(immediate=0.01, ci=(-0.1, 0.1), p=0.8)),
        answer(None),
        decide_all(
            [EventEvidence("mccolo", "McColo", volume(), moved())],
            RULE,
            Calibration({**CALIBRATED.status, "wdq": "not calibrated"}),
        )[0],
    ]
    assert {c.reading for c in cases} == set(READINGS)
    assert {c.volume_answer for c in cases} == set(VOLUME_ANSWERS)
    assert {c.displacement_answer for c in cases} == set(DISPLACEMENT_ANSWERS)
    table = answers_frame(cases, RULE)
    for column in ("volume_answer", "displacement_answer", "reading", "wdq", "wdq_ci_low",
                   "wdq_ci_high", "immediate_ci_high", "end_ci_high", "holm_passed",
                   "volume_calibration", "displacement_calibration"):  # fmt: skip
        assert column in table.columns
    assert table["wdq"][1] == -0.5 and table["explanation"][1].startswith("McColo: partially")


def test_rows_read_back_from_the_tables() -> None:
    row = {
        "relative_change": -0.6,
        "ci_low": -0.7,
        "ci_high": -0.5,
        "end_of_window": -0.5,
        "end_of_window_ci_low": -0.6,
        "end_of_window_ci_high": -0.4,
        "level_p_value": 1e-5,
        "confidence": 0.95,
        "family": "log_arma",
    }
    assert volume_from_effect(row).usable
    assert not volume_from_effect({**row, "ci_low": None}).usable
    d = displacement_from_row({"measure": "spam_sources", "displacement": None, "wdq": None})
    assert d.displacement == "none" and math.isnan(d.wdq)


def test_the_rule_comes_from_the_validated_config() -> None:
    rule = rule_from_config(load_config())
    assert rule.family == "log_arma" and rule.holm and rule.drop_if_immediate_ci_high_below < 0
    with pytest.raises(ValueError, match=r"verdict\.family"):
        config = load_config()
        config["verdict"]["family"] = "poisson"
        validate_config(config)


def _with_status(**status: str) -> Calibration:
    return Calibration({**CALIBRATED.status, **status}, "verdict.csv")


def test_an_uncalibrated_immediate_estimator_is_kept_out() -> None:
    ev = [EventEvidence("mccolo", "McColo", volume(), moved())]
    a = decide_all(ev, RULE, _with_status(**{"log_arma:immediate": "not calibrated"}))[0]
    assert (a.volume_answer, a.displacement_answer, a.reading) == (
        "inconclusive",
        "not asked",
        "inconclusive",
    )
    assert a.volume_calibration == "not calibrated"
    assert "[V] kept out: log_arma:immediate is not calibrated (verdict.csv)" in a.explanation()


def test_an_uncalibrated_end_estimator_keeps_the_drop_but_not_its_end() -> None:
    ev = [EventEvidence("mccolo", "McColo", volume(), moved())]
    a = decide_all(ev, RULE, _with_status(**{"log_arma:end": "not calibrated"}))[0]
    # the drop is decided (so D is asked), whether it stayed down is not
    assert (a.volume_answer, a.displacement_answer) == ("inconclusive", "displaced")
    assert "kept out: log_arma:end" in a.explanation()


def test_an_uncalibrated_wdq_keeps_axis_d_out() -> None:
    ev = [EventEvidence("mccolo", "McColo", volume(), moved())]
    a = decide_all(ev, RULE, _with_status(wdq="not calibrated"))[0]
    assert (a.volume_answer, a.displacement_answer, a.reading) == (
        "stayed down",
        "inconclusive",
        "inconclusive",
    )
    assert a.displacement_calibration == "not calibrated"


def test_a_family_outside_the_study_is_kept_out() -> None:
    nb = VolumeEvidence(**{**volume().__dict__, "family": "negative_binomial"})
    a = decide_all([EventEvidence("mccolo", "McColo", nb, None)], RULE, CALIBRATED)[0]
    assert a.volume_answer == "inconclusive"
    assert "negative_binomial:immediate is not in the calibration study" in a.explanation()


def test_a_miss_within_monte_carlo_error_is_used_and_said() -> None:
    near = "calibrated within Monte Carlo error"
    ev = [EventEvidence("mccolo", "McColo", volume(), moved())]
    a = decide_all(ev, RULE, _with_status(**{"log_arma:immediate": near}))[0]
    assert a.reading == "partially displaced"
    assert f"[V] log_arma:immediate: {near}" in a.explanation()


def test_read_calibration_refuses_a_file_without_statuses(tmp_path) -> None:
    bad = tmp_path / "verdict.csv"
    bad.write_text("estimator,passes\nwdq,true\n")
    with pytest.raises(ValueError, match=r"verdict\.csv.*status"):
        read_calibration(bad)
    good = tmp_path / "ok.csv"
    good.write_text("estimator,status\nwdq,calibrated\n")
    assert read_calibration(good).usable("wdq")
    assert not read_calibration(good).usable("log_arma_baseline:end")


def test_the_shipped_calibration_covers_every_primary_estimator() -> None:
    """data/calibration/verdict.csv (written by make calibrate) has a status for the primary
    estimators of both axes, and the study behind it had enough series."""
    from pathlib import Path

    from takedowns.analysis.calibration import MIN_SERIES, PRIMARY_ESTIMATORS, STATUSES

    path = Path(__file__).resolve().parents[1] / "data" / "calibration" / "verdict.csv"
    shipped = read_calibration(path)
    for estimator in PRIMARY_ESTIMATORS:
        assert shipped.of(estimator) in STATUSES, estimator
    import polars as pl

    assert pl.read_csv(path)["min_n_series"].min() >= MIN_SERIES


def test_an_estimator_calibrated_up_to_some_persistence_is_used_below_it_only() -> None:
    limited = Calibration(
        {**CALIBRATED.status, "log_arma:end": "not calibrated"}, "v.csv", {"log_arma:end": 0.7}
    )
    assert limited.usable("log_arma:end", 0.5) and limited.usable("log_arma:end", 0.7)
    assert not limited.usable("log_arma:end", 0.8)
    assert not limited.usable("log_arma:end")  # persistence unknown
    calm = VolumeEvidence(**{**volume().__dict__, "persistence": 0.42})
    a = decide_all([EventEvidence("mccolo", "McColo", calm, None)], RULE, limited)[0]
    assert a.volume_answer == "stayed down"
    assert "calibrated up to rho 0.7, and this series' noise persistence is 0.42" in (
        a.explanation()
    )
    wild = VolumeEvidence(**{**volume().__dict__, "persistence": 0.93})
    a = decide_all([EventEvidence("mccolo", "McColo", wild, None)], RULE, limited)[0]
    assert a.volume_answer == "inconclusive"
    assert "calibrated only up to rho 0.7 (noise persistence 0.93)" in a.explanation()


def test_read_calibration_reads_the_persistence_limits(tmp_path) -> None:
    path = tmp_path / "verdict.csv"
    path.write_text(
        "estimator,status,calibrated_up_to_rho\n"
        "a,calibrated,0.9\nb,not calibrated,0.7\nc,not calibrated,\n"
    )
    got = read_calibration(path)
    assert got.up_to_rho == {"a": 0.9, "b": 0.7}
    assert got.usable("b", 0.6) and not got.usable("c", 0.0)


def test_evidence_is_gathered_per_studied_event() -> None:
    from types import SimpleNamespace

    import polars as pl

    from takedowns.analysis.verdicts import gather_evidence

    fit = {
        "relative_change": -0.6, "ci_low": -0.7, "ci_high": -0.5, "end_of_window": -0.5,
        "end_of_window_ci_low": -0.6, "end_of_window_ci_high": -0.4, "level_p_value": 1e-5,
        "confidence": 0.95, "family": "log_arma",
    }  # fmt: skip
    fits = pl.DataFrame([{**fit, "event_id": "a"}, {**fit, "event_id": "b", "ci_low": None}])
    moves = pl.DataFrame([{"event_id": "a", "measure": "spam_sources", "displacement": None,
                           "wdq": -0.5}])  # fmt: skip
    studied = [SimpleNamespace(event_id=e, name=e.upper()) for e in ("a", "b", "c")]
    a, b, c = gather_evidence(fits, moves, studied)
    assert (a.event_id, a.event_name) == ("a", "A") and a.volume.usable
    assert a.displacement.wdq == -0.5
    assert b.volume is None and b.displacement is None  # a fit without an interval is no fit
    assert c.volume is None and c.displacement is None  # an event without rows
