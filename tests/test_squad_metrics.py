import random

import pytest

from edgeqa.squad_metrics import (
    GoldQuestion,
    abstain_above,
    always_abstain_baseline,
    compute_exact,
    compute_f1,
    evaluate,
    no_answer_auc,
    normalize_answer,
)


def test_normalize_drops_case_punctuation_articles_and_extra_space():
    assert normalize_answer("  The Quick,  brown fox!  ") == "quick brown fox"
    assert normalize_answer("an apple a day") == "apple day"
    assert normalize_answer("theatre") == "theatre"  # articles only as whole words


def test_exact_and_f1_on_partial_overlap():
    assert compute_exact("The cat sat", "cat sat") == 1
    assert compute_f1("the cat sat", "cat sat down") == pytest.approx(0.8)
    assert compute_f1("cat", "dog") == 0.0


def test_empty_answers_follow_the_no_answer_rule():
    assert compute_f1("", "") == 1.0
    assert compute_f1("", "something") == 0.0
    assert compute_f1("something", "") == 0.0


def test_gold_answers_that_normalize_to_nothing_count_as_no_answer():
    golds = [GoldQuestion("q", ("the",))]
    assert evaluate(golds, {"q": ""})["exact"] == 100.0


def test_score_is_the_max_over_gold_answers():
    golds = [GoldQuestion("q", ("Denmark, Iceland and Norway", "Norway"))]
    assert evaluate(golds, {"q": "Norway"})["f1"] == 100.0


@pytest.fixture
def four_questions():
    golds = [
        GoldQuestion("q1", ("Paris",)),
        GoldQuestion("q2", ("blue whale",)),
        GoldQuestion("q3", ()),
        GoldQuestion("q4", ()),
    ]
    predictions = {"q1": "Paris", "q2": "whale", "q3": "", "q4": "London"}
    na_probs = {"q1": 0.1, "q2": 0.6, "q3": 0.9, "q4": 0.3}
    return golds, predictions, na_probs


def test_official_breakdown_and_best_threshold(four_questions):
    golds, predictions, na_probs = four_questions
    result = evaluate(golds, predictions, na_probs)
    assert result["total"] == 4
    assert result["exact"] == pytest.approx(50.0)
    assert result["f1"] == pytest.approx(100 * (1 + 2 / 3 + 1 + 0) / 4)
    assert result["HasAns_total"] == 2 and result["NoAns_total"] == 2
    assert result["HasAns_f1"] == pytest.approx(100 * (1 + 2 / 3) / 2)
    assert result["NoAns_exact"] == pytest.approx(50.0)
    # Sweeping by rising na_prob: q1 (+1) is the best stopping point -> 3 of 4.
    assert result["best_f1"] == pytest.approx(75.0)
    assert result["best_f1_thresh"] == pytest.approx(0.1)
    assert result["best_exact"] == pytest.approx(75.0)


def test_threshold_turns_confident_abstentions_into_empty_answers(four_questions):
    golds, predictions, na_probs = four_questions
    result = evaluate(golds, predictions, na_probs, na_threshold=0.5)
    # q2 (0.6) and q3 (0.9) become abstentions: q2 loses its partial F1, q3 stays right.
    assert result["f1"] == pytest.approx(100 * (1 + 0 + 1 + 0) / 4)


def test_no_best_scores_without_probabilities(four_questions):
    golds, predictions, _ = four_questions
    assert "best_f1" not in evaluate(golds, predictions)


def test_always_abstain_scores_the_unanswerable_share(four_questions):
    golds, _, _ = four_questions
    baseline = always_abstain_baseline(golds)
    assert baseline["f1"] == 50.0 and baseline["NoAns_f1"] == 100.0 and baseline["HasAns_f1"] == 0.0


def test_no_matching_prediction_is_an_error():
    with pytest.raises(ValueError):
        evaluate([GoldQuestion("a", ())], {"b": ""})


def _golds(kinds: str) -> list[GoldQuestion]:
    """'a' answerable, 'u' unanswerable, one question each."""
    return [GoldQuestion(f"q{i}", ("x",) if kind == "a" else ()) for i, kind in enumerate(kinds)]


def test_no_answer_auc_reads_perfect_reversed_and_tied_rankings():
    golds = _golds("aauu")
    assert no_answer_auc(golds, {"q0": 0.1, "q1": 0.2, "q2": 0.8, "q3": 0.9}) == 1.0
    assert no_answer_auc(golds, {"q0": 0.9, "q1": 0.8, "q2": 0.2, "q3": 0.1}) == 0.0
    assert no_answer_auc(golds, dict.fromkeys(("q0", "q1", "q2", "q3"), 0.5)) == 0.5
    assert no_answer_auc(_golds("aa"), {"q0": 0.1, "q1": 0.2}) is None


def test_no_answer_auc_is_the_share_of_correctly_ordered_pairs():
    rng = random.Random(0)
    golds = _golds("".join(rng.choice("au") for _ in range(60)))
    probs = {g.qid: rng.choice((0.1, 0.3, 0.5, 0.7)) for g in golds}  # many ties
    pairs = [
        1.0 if probs[u.qid] > probs[a.qid] else 0.5 if probs[u.qid] == probs[a.qid] else 0.0
        for u in golds
        if not u.has_answer
        for a in golds
        if a.has_answer
    ]
    assert no_answer_auc(golds, probs) == pytest.approx(sum(pairs) / len(pairs))


def test_abstain_above_empties_only_answers_over_the_threshold():
    predictions = {"a": "Paris", "b": "1066", "c": ""}
    na_probs = {"a": 0.2, "b": 0.6, "c": 0.9}
    assert abstain_above(predictions, na_probs, 0.5) == {"a": "Paris", "b": "", "c": ""}
    assert abstain_above(predictions, na_probs, 0.6) == {"a": "Paris", "b": "1066", "c": ""}
