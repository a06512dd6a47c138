"""The no-answer threshold: parsed once from what a flag, a YAML key or a Python caller gives,
kept at full precision, and written back as the user would write it."""

import pytest

from edgeqa.errors import EdgeQAError
from edgeqa.reader.threshold import ALWAYS_ANSWER, AUTO, MODEL, NoAnswerThreshold


def test_each_way_of_writing_a_threshold_gives_one_value():
    assert NoAnswerThreshold.parse("auto") is not None and NoAnswerThreshold.parse("auto") == AUTO
    assert NoAnswerThreshold.parse(" model ") == MODEL
    assert NoAnswerThreshold.parse("0.25") == NoAnswerThreshold.parse(0.25) == NoAnswerThreshold.at(0.25)
    assert NoAnswerThreshold.parse(1) == ALWAYS_ANSWER and ALWAYS_ANSWER.probability == 1.0
    assert NoAnswerThreshold.parse(AUTO) is AUTO
    assert NoAnswerThreshold.parse({"kind": "probability", "probability": 0.5}) == NoAnswerThreshold.at(0.5)
    assert NoAnswerThreshold.parse({"kind": "model", "probability": None}) == MODEL


def test_a_calibrated_threshold_keeps_every_digit():
    calibrated = 0.123456789012345
    threshold = NoAnswerThreshold.at(calibrated)
    assert threshold.probability == calibrated and NoAnswerThreshold.parse(str(threshold)) == threshold
    assert (str(AUTO), str(MODEL), str(NoAnswerThreshold.at(0.5))) == ("auto", "model", "0.5")


@pytest.mark.parametrize("bad", ["1.5", "-0.1", "often", "", None, True, float("nan"), [0.5]])
def test_anything_else_is_one_line_naming_the_option(bad):
    with pytest.raises(
        EdgeQAError, match=r"^--na-threshold: expected auto, model, or a probability in \[0, 1\], got "
    ):
        NoAnswerThreshold.parse(bad)
