"""The two no-answer scores' rules, on numbers (the engine tests run them on a model)."""

import math

import pytest

from edgeqa.runtime.na_scores import ANSWER_SCORE_DEFAULT_THRESHOLD, NO_ANSWER_SCORES


def test_the_abstention_score_decides_at_the_first_token():
    score = NO_ANSWER_SCORES["abstention"]
    assert score.at_first_token(0.7, None) == (False, False)  # the model decides by decoding
    assert score.at_first_token(0.7, 0.5) == (True, True)  # above the threshold: abstain now
    assert score.at_first_token(0.3, 0.5) == (True, False)  # below: answer, abstention forbidden
    assert score.settle(0.3, math.log(0.9), False, 0.5) == (0.3, False)
    assert score.span_probability(math.log(0.5), 0.2) == pytest.approx(0.4)
    assert score.answering_logprob(0.2, -3.0) == pytest.approx(math.log(0.8))


def test_the_answer_score_decodes_every_answer_and_judges_its_doubt():
    score = NO_ANSWER_SCORES["answer"]
    assert score.decided_after_decoding and score.at_first_token(0.99, 0.5) == (True, False)
    doubt, abstain = score.settle(0.99, math.log(0.3), False, None)
    assert ANSWER_SCORE_DEFAULT_THRESHOLD == 0.5 and doubt == pytest.approx(0.7) and abstain is True
    assert score.settle(0.0, math.log(0.3), False, 0.8) == (pytest.approx(0.7), False)
    assert score.span_probability(math.log(0.3), 0.99) == pytest.approx(0.3)
    assert score.answering_logprob(0.99, -1.2) == -1.2
