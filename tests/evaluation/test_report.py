"""The eval table's answer-policy label says how answers were decoded and who abstained."""

from edgeqa.evaluation.report import answer_policy


def test_answer_policy_names_decoding_score_and_threshold():
    assert answer_policy({"span_constrained": True, "na_threshold": None}) == "span"
    assert answer_policy({"span_constrained": False, "na_threshold": 0.0421}) == "free, na>0.0421"
    answer = {"span_constrained": True, "na_score": "answer"}
    assert answer_policy({**answer, "na_threshold": 0.29}) == "span, doubt>0.29"
    assert answer_policy({**answer, "na_threshold": None}) == "span, doubt>0.5"
