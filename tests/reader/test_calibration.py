"""`edgeqa calibrate` then `edgeqa eval --na-threshold auto`, through the real CLI on the
embedded model, plus the rules for when a stored threshold applies."""

import json
import os

import pytest

from edgeqa.reader.calibration import calibration_path, stored_threshold
from tests.helpers import run_cli

FAST = ("--max-answer-tokens", "12", "--quiet", "--limit", "16", "--seed", "1")


@pytest.fixture(scope="module")
def calibrated(embedded_model, tmp_path_factory):
    from tests.conftest import ASSETS

    folder = tmp_path_factory.mktemp("calibrated")
    model = folder / "model.gguf"
    os.symlink(embedded_model, model)  # the calibration file lands beside this name
    data = ASSETS / "squad_v2_tiny.json"
    result = run_cli(
        "calibrate", "--model", str(model), "--data", str(data), "--out", str(folder / "cal"), *FAST
    )
    assert result.returncode == 0, result.stderr
    return model, data, folder, result


def stored_entry(model, key="span/abstention"):
    return json.loads(calibration_path(model).read_text())["thresholds"][key]


def test_calibration_stores_the_best_f1_threshold(calibrated):
    model, _, folder, result = calibrated
    record = stored_entry(model)
    metrics = json.loads((folder / "cal" / "metrics.json").read_text())
    assert record["na_threshold"] == metrics["official"]["best_f1_thresh"]
    assert metrics["span_constrained"] is True and metrics["na_threshold"] == 1.0
    assert metrics["official"]["NoAns_f1"] == 0.0  # every question was answered
    assert record["best_f1"] >= metrics["always_abstain"]["f1"]
    assert "stored in" in result.stdout


def test_eval_applies_the_stored_threshold(calibrated):
    model, data, folder, _ = calibrated
    result = run_cli("eval", "--model", str(model), "--data", str(data), "--out", str(folder / "eval"), *FAST)
    assert result.returncode == 0, result.stderr
    assert "calibrated in model.calibration.json" in result.stdout
    metrics = json.loads((folder / "eval" / "metrics.json").read_text())
    record = stored_entry(model)
    assert metrics["na_threshold"] == record["na_threshold"]
    # the forced answers are the calibration's, so F1 lands on best F1 (give or take a
    # question whose quantized answer shifts with the batch it was decoded in)
    one_question = 100 / 16
    assert metrics["official"]["f1"] == pytest.approx(record["best_f1"], abs=2 * one_question)


def test_a_stored_threshold_applies_only_to_its_file_decoding_and_score(calibrated, tmp_path):
    model, *_ = calibrated
    assert stored_threshold(model, True, "abstention").value is not None
    assert "no threshold for free/abstention" in stored_threshold(model, False, "abstention").reason
    assert stored_threshold(model, True, "answer").value is None
    other = tmp_path / "model.gguf"
    other.write_bytes(b"GGUF another file")
    calibration_path(other).write_text(calibration_path(model).read_text())
    assert "another version" in stored_threshold(other, True, "abstention").reason


def test_calibrating_another_score_keeps_the_first(calibrated):
    """Each decoding and score has its own scale, so each keeps its own entry."""
    model, data, folder, _ = calibrated
    before = stored_entry(model)
    out = folder / "cal-answer"
    result = run_cli(
        "calibrate",
        "--model",
        str(model),
        "--data",
        str(data),
        "--na-score",
        "answer",
        "--out",
        str(out),
        *FAST,
    )
    assert result.returncode == 0, result.stderr
    assert stored_entry(model) == before
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["na_score"] == "answer"
    assert stored_entry(model, "span/answer")["na_threshold"] == metrics["official"]["best_f1_thresh"]
    assert stored_threshold(model, True, "answer").value == metrics["official"]["best_f1_thresh"]
