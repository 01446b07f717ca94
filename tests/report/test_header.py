"""The report's header: what a study changed from its preset is said beside the preset."""

from __future__ import annotations

from equilens.report.header import changes_text
from equilens.study import build_spec


def test_the_preset_line_says_what_the_study_changed():
    plain = build_spec(preset="quick")
    assert changes_text(plain) == ""
    spec = build_spec(preset="seed", molecules=["ethanol"], models=["gcn", "egnn"],
                      seeds=[0, 1], forces=True,
                      overrides={"training.epochs": 15, "training.lr": 0.01,
                                 "data.split": "03", "data.data_dir": "/somewhere"})
    text = changes_text(spec)
    assert text.startswith("; changed here: ")
    assert "training.epochs=15" in text and "data.split=03" in text
    assert "training.lr" not in text  # the preset's own value
    assert "data_dir" not in text  # where the files are, not what the study does
    assert "trained on forces" in text and "seeds 0, 1" in text and "models gcn, egnn" in text
