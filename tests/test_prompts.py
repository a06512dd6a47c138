import pytest

from edgeqa.prompts import ABSTAIN, parse_answer, qa_messages


def test_context_first_puts_the_question_last():
    user = qa_messages(" The context. ", " Why? ")[1]["content"]
    assert user == "Context: The context.\n\nQuestion: Why?"


def test_question_first_asks_before_and_after_the_context():
    user = qa_messages("The context.", "Why?", "question-first")[1]["content"]
    assert user == "Question: Why?\n\nContext: The context.\n\nQuestion: Why?"


def test_both_layouts_share_the_system_prompt():
    first, second = (qa_messages("c", "q?", layout)[0] for layout in ("context-first", "question-first"))
    assert first == second and ABSTAIN in first["content"]


def test_an_unknown_layout_is_refused():
    with pytest.raises(ValueError, match="question-first"):
        qa_messages("c", "q?", "answer-first")


@pytest.mark.parametrize("reply", [ABSTAIN, f" {ABSTAIN.capitalize()}.", f'"{ABSTAIN}"'])
def test_the_abstention_becomes_the_empty_answer(reply):
    assert parse_answer(reply) == ""
