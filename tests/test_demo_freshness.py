"""make demo starts afresh when the generator changed since its mirror was made."""

from __future__ import annotations

from pathlib import Path

from takedowns import demo


def test_a_demo_made_by_another_generator_is_started_afresh(tmp_path: Path, monkeypatch) -> None:
    generated: list[Path] = []

    def fake_generate(root: Path, config, **kwargs) -> None:
        generated.append(root)
        root.mkdir(parents=True, exist_ok=True)
        (root / "SYNTHETIC.txt").write_text("SYNTHETIC\n")

    monkeypatch.setattr(demo, "generate_mirror", fake_generate)
    monkeypatch.setattr(demo.subprocess, "call", lambda cmd: 1)  # stop before the report
    directory = tmp_path / "demo"
    demo.run_demo(directory)
    stamp = directory / "mirror" / "GENERATOR"
    assert stamp.read_text().strip() == demo.generator_fingerprint()
    old_result = directory / "results" / "verdicts.txt"
    old_result.parent.mkdir()
    old_result.write_text("an earlier answer")
    demo.run_demo(directory)  # same generator: the mirror and the results are kept
    assert len(generated) == 1 and old_result.exists()
    stamp.write_text("another generator\n")
    demo.run_demo(directory)  # changed: everything is made again
    assert len(generated) == 2 and not old_result.exists()
    assert stamp.read_text().strip() == demo.generator_fingerprint()
