"""The rubric's reply format and the judge's statistics."""

import pytest

from edgeqa.data.squad import QAExample
from edgeqa.judge.rubric import ABSTAINED, NO_ANSWER, judge_messages, parse_scores
from edgeqa.judge.stats import mean_ci95, spearman


def test_only_the_rubrics_json_is_read():
    assert parse_scores('{"correctness": 5, "completeness": 4, "faithfulness": 3}') == {
        "correctness": 5,
        "completeness": 4,
        "faithfulness": 3,
    }
    assert parse_scores('Sure! {"correctness": 2, "completeness": 2, "faithfulness": 1} done') == {
        "correctness": 2,
        "completeness": 2,
        "faithfulness": 1,
    }
    for bad in (
        "",
        "five",
        '{"correctness": 6, "completeness": 4, "faithfulness": 3}',
        '{"correctness": 5, "completeness": 4}',
        '{"correctness": true, "completeness": 4, "faithfulness": 3}',
        '{"correctness": 4.5, "completeness": 4, "faithfulness": 3}',
        "[1, 2, 3]",
    ):
        assert parse_scores(bad) is None, bad


def test_the_judge_sees_references_or_their_absence():
    answerable = QAExample("q1", "t", "Paris is in France.", "Where is Paris?", ("France", "France"))
    user = judge_messages(answerable, "France")[1]["content"]
    assert "Reference answers: France\n" in user and user.endswith("Candidate answer: France")
    unanswerable = QAExample("q2", "t", "Paris is in France.", "Where is Rome?", ())
    user = judge_messages(unanswerable, "")[1]["content"]
    assert NO_ANSWER in user and user.endswith(ABSTAINED)


def test_spearman_uses_average_ranks_for_ties():
    # ranks of a: 1, 2.5, 2.5, 4; of b: 1, 2, 3, 4 -> Pearson of the ranks
    assert spearman([1, 2, 2, 3], [10, 20, 30, 40]) == pytest.approx(0.949, abs=1e-3)
    assert spearman([1, 2, 3], [3, 2, 1]) == -1.0
    assert spearman([1, 1, 1], [1, 2, 3]) is None  # a constant judge has no rank correlation


def test_bootstrap_interval_brackets_the_mean_and_is_reproducible():
    values = [1, 2, 2, 3, 5, 4, 1, 1, 2, 3]
    stat = mean_ci95(values)
    low, high = stat["ci95"]
    assert low < stat["mean"] == 2.4 < high
    assert mean_ci95(values) == stat
    assert mean_ci95([4, 4, 4])["ci95"] == [4.0, 4.0]
