"""One answer policy: the threshold each command decodes with, resolved in one place."""

import pytest

from edgeqa.errors import EdgeQAError
from edgeqa.reader.calibration import calibration_path
from edgeqa.reader.policy import AnswerPolicy, AnswerStyle
from edgeqa.runtime.engine_config import EngineConfig


def _value(threshold: str, model, span: bool = True, score: str = "abstention"):
    policy = AnswerPolicy(decoding="span" if span else "free", na_score=score, na_threshold=threshold)
    return policy.threshold_for(model).value


def test_threshold_option_values(tmp_path):
    model = tmp_path / "m.gguf"
    assert _value("auto", model) is None
    assert _value("model", model) is None
    assert _value("0.25", model, score="answer") == 0.25
    assert _value("model", model, score="answer") == 0.5  # no abstention of its own
    assert _value("auto", model, span=False, score="answer") == 0.5
    for bad in ("1.5", "-0.1", "often"):
        with pytest.raises(EdgeQAError, match="--na-threshold"):
            AnswerPolicy(na_threshold=bad)
    calibration_path(model).write_text("{}")
    with pytest.raises(EdgeQAError, match="not a calibration file"):
        _value("auto", model)


def test_the_policy_sets_the_engine_and_calibration_forces_answers(tmp_path):
    policy = AnswerPolicy(decoding="free", na_score="answer", na_threshold="0.3")
    engine, threshold = policy.apply(EngineConfig(n_threads=1), tmp_path / "m.gguf")
    assert (engine.span_constrained, engine.na_score, engine.na_threshold, engine.n_threads) == (
        False,
        "answer",
        0.3,
        1,
    )
    assert threshold.reason == "given by --na-threshold"
    forced = AnswerPolicy.forced_answers(AnswerStyle(decoding="span"))
    assert forced.threshold_for(None).value == 1.0 and forced.span_constrained
