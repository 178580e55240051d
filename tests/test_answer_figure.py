"""The cross-event answer figure lays out however many events are configured, in time order."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import polars as pl
import pytest

from takedowns import figures


def _config(n: int) -> dict:
    # listed out of time order on purpose: the figure orders by cut-off
    events = {
        f"event_{i}": {
            "name": f"Event {i}",
            "asns": [64496 + i],
            "nominal_cutoff": f"{2009 - i}-06-02T12:00Z",
        }
        for i in range(n)
    }
    return {"events": events, "synthetic": True}


def _verdicts(n: int) -> pl.DataFrame:
    rows = []
    for i in range(n):
        answered = i % 2 == 0  # every other event without numbers (no usable fit)
        rows.append(
            {
                "event_id": f"event_{i}",
                "volume_answer": "stayed down" if answered else "inconclusive",
                "displacement_answer": "displaced" if answered else "not asked",
                "reading": "partially displaced" if answered else "inconclusive",
                "immediate": -0.6 if answered else None,
                "immediate_ci_low": -0.7 if answered else None,
                "immediate_ci_high": -0.5 if answered else None,
                "end_of_window": -0.55 if answered else None,
                "end_ci_low": -0.65 if answered else None,
                "end_ci_high": -0.4 if answered else None,
                "wdq": -0.5 if answered else None,
                "wdq_ci_low": -0.8 if answered else None,
                "wdq_ci_high": -0.2 if answered else None,
            }
        )
    return pl.DataFrame(rows, infer_schema_length=None)


@pytest.mark.parametrize("n", [1, 5, 6])
def test_one_row_per_event_in_time_order(tmp_path: Path, n: int, monkeypatch) -> None:
    drawn: list[list[str]] = []
    save = figures._save

    def capture(fig, png, config):
        drawn.append([t.get_text() for t in fig.axes[0].get_yticklabels()])
        save(fig, png, config)

    monkeypatch.setattr(figures, "_save", capture)
    png = tmp_path / "answer.png"
    figures.answer_figure(_verdicts(n), png, _config(n))
    assert png.stat().st_size > 5_000 and png.with_suffix(".svg").exists()
    labels = drawn[0]
    assert len(labels) == n
    years = [int(label.split("\n")[1][:4]) for label in labels]
    assert years == sorted(years)  # time order, whatever the config's order
    plt.close("all")
