import random

import pytest

from edgeqa.data.negatives import KINDS, make_negatives, parse_kinds, sentences
from edgeqa.data.squad import QAExample, load_squad
from edgeqa.errors import EdgeQAError
from tests.conftest import ASSETS

CONTEXT = (
    "The bridge was built in 1883 by John Roebling. It was opened by Mayor Franklin Edson. "
    "Washington Roebling finished the work in 1884 after his father died."
)
OTHER = "The city grew quickly. Its harbour was the busiest on the coast."


def example(question: str, answer: str) -> QAExample:
    return QAExample("q1", "Bridge", CONTEXT, question, (answer,), (CONTEXT.index(answer),))


def make(kind: str, question: str, answer: str, seed: int = 0) -> QAExample | None:
    return KINDS[kind](example(question, answer), random.Random(seed), [CONTEXT, OTHER])


def test_answer_removed_cuts_every_sentence_that_holds_the_answer():
    made = make("answer-removed", "Who opened the bridge?", "Mayor Franklin Edson")
    assert made is not None and not made.answers
    assert "Franklin Edson" not in made.context and "1883" in made.context
    assert made.question == "Who opened the bridge?"


def test_other_paragraph_takes_a_paragraph_of_the_article_without_the_answer():
    made = make("other-paragraph", "Who opened the bridge?", "Mayor Franklin Edson")
    assert made is not None and made.context == OTHER and not made.answers


def test_entity_swap_uses_a_name_no_sentence_pairs_with_the_answer():
    for seed in range(5):
        made = make("entity-swap", "When was the bridge opened by Franklin Edson?", "1883", seed)
        assert made is not None and not made.answers
        swapped = made.question.removeprefix("When was the bridge opened by ").removesuffix("?")
        assert swapped != "Franklin Edson" and swapped in CONTEXT
        assert not any(swapped in s and "1883" in s for s in sentences(CONTEXT))
        assert made.plausible_span == (CONTEXT.index("1883"), CONTEXT.index("1883") + 4)


def test_number_swap_uses_a_number_not_paired_with_the_answer():
    made = make("number-swap", "Who built the bridge in 1883?", "John Roebling")
    assert made is not None and made.question == "Who built the bridge in 1884?"
    assert make("number-swap", "Who built the bridge?", "John Roebling") is None


def test_negation_goes_after_the_auxiliary_of_a_passive_question():
    made = make("negation", "What was built by John Roebling?", "The bridge")
    assert made is not None and made.question == "What was not built by John Roebling?"
    assert make("negation", "Who was the bridge built by?", "John Roebling") is None  # no POS tags
    assert make("negation", "Who has since been named?", "John Roebling").question == (
        "Who has not since been named?"
    )
    assert make("negation", "Who was not named?", "John Roebling") is None
    assert make("negation", "Who finished the work?", "Washington Roebling") is None


def test_antonym_swaps_the_word_and_keeps_its_case():
    made = make("antonym", "Who finished the work first?", "Washington Roebling")
    assert made is not None and made.question == "Who finished the work last?"
    before = make("antonym", "Before what year was it built?", "1883")
    assert before is not None and before.question == "After what year was it built?"
    assert make("antonym", "Who finished the work?", "Washington Roebling") is None


def test_impossible_condition_asks_before_every_year_of_the_paragraph():
    made = make("impossible-condition", "Who finished the work?", "Washington Roebling")
    assert made is not None and made.question.startswith("Who finished the work before ")
    assert int(made.question.split()[-1].rstrip("?")) < 1883
    assert make("impossible-condition", "Who built it in 1883?", "John Roebling") is None


def test_parse_kinds_expands_and_rejects():
    assert parse_kinds(["all"]) == tuple(KINDS)
    assert parse_kinds("negation,antonym") == ("negation", "antonym")
    with pytest.raises(EdgeQAError, match="unknown kind 'typo'"):
        parse_kinds(["negation,typo"])


def test_make_negatives_reaches_the_share_seeded_and_counted():
    examples = load_squad(ASSETS / "squad_v1_train_tiny.json")
    merged, counts = make_negatives(examples, list(KINDS), 0.25, seed=1)
    made = [e for e in merged if not e.answers]
    assert len(made) == sum(counts.values()) == round(len(examples) * 0.25 / 0.75)
    assert len({e.qid for e in merged}) == len(merged) and [e for e in merged if e.answers] == examples
    assert sum(1 for n in counts.values() if n) >= 4  # the kinds are taken in turn
    for negative in made:
        kind = negative.qid.split("-neg-")[1]
        assert counts[kind] > 0
    assert make_negatives(examples, list(KINDS), 0.25, seed=1) == (merged, counts)
    assert make_negatives(examples, [], 0.25, seed=1) == (examples, {})
