"""The concentration figure draws an interval that does not contain its point estimate: a
percentile bootstrap interval of HHI, a biased statistic, can lie wholly on one side of it."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import polars as pl
import pytest

from takedowns import figures


def _changes(difference: float, low: float, high: float) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "event_id": ["mccolo", "mccolo"],
            "measure": ["spam", "routing"],
            "index": ["hhi", "hhi"],
            "owner_kind": ["asn", "asn"],
            "post_days": [15, 15],
            "pre": [0.20, 0.30],
            "post": [0.20 + difference, 0.31],
            "difference": [difference, 0.01],
            "ci_low": [low, -0.02],
            "ci_high": [high, 0.04],
        }
    )


@pytest.mark.parametrize(
    ("difference", "low", "high"),
    [(0.05, -0.02, 0.12), (0.05, 0.07, 0.15), (0.05, -0.10, 0.01)],
    ids=["inside", "interval above the point", "interval below the point"],
)
def test_interval_drawn_whether_or_not_it_holds_the_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, difference: float, low: float, high: float
) -> None:
    config = {
        "events": {
            "mccolo": {"name": "McColo", "asns": [26780], "nominal_cutoff": "2008-11-11T21:00Z"}
        },
        "verdict": {"post_days": 15},
        "synthetic": True,
    }
    drawn: list[tuple[float, float]] = []
    real = figures._point_and_interval

    def spy(ax, point, y, lo, hi, color, label=None):
        drawn.append((lo, hi))
        real(ax, point, y, lo, hi, color, label)

    monkeypatch.setattr(figures, "_point_and_interval", spy)
    png = tmp_path / "concentration.png"
    figures.concentration_figure(_changes(difference, low, high), png, config)
    plt.close("all")
    assert png.stat().st_size > 5_000
    # both rows' intervals are drawn where they lie, not re-centred on the point
    assert sorted(drawn) == sorted([(low, high), (-0.02, 0.04)])
