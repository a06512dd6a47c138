"""The text rules at every way into a Reader: one clear error per bad argument (no model)."""

import pytest

from edgeqa.errors import EdgeQAError
from edgeqa.reader.inputs import check_lengths, check_pair, check_pairs, check_text, check_top_k


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (None, "question: expected a string, not NoneType"),
        (b"Who?", "question: expected a string, not bytes"),
        ("", "question: holds no text"),
        (" \n\t ", "question: holds no text"),
        ("Who\ud800?", "question: not valid Unicode text (a lone surrogate U+D800 at character 3)"),
    ],
    ids=["none", "bytes", "empty", "whitespace", "lone-surrogate"],
)
def test_a_text_that_cannot_be_read_is_one_error_naming_it(value, fragment):
    with pytest.raises(EdgeQAError) as caught:
        check_text("question", value)
    assert str(caught.value) == fragment if fragment.endswith(")") else fragment in str(caught.value)


def test_readable_text_is_returned_as_given():
    assert check_text("context", "  Paris, 1889 — Ωμέγα 東京 ") == "  Paris, 1889 — Ωμέγα 東京 "
    assert check_pair("Who?", "Gustave Eiffel.") == ("Who?", "Gustave Eiffel.")


@pytest.mark.parametrize(
    ("top_k", "message"),
    [
        ("3", "top_k: expected an integer, not str"),
        (True, "top_k: expected an integer, not bool"),
        (2.0, "top_k: expected an integer, not float"),
        (0, "top_k must be at least 1, not 0"),
    ],
)
def test_top_k_is_a_positive_integer_never_coerced(top_k, message):
    with pytest.raises(EdgeQAError, match=f"^{message}$"):
        check_top_k(top_k)
    assert check_top_k(3) == 3


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ("Who?", r"pairs: expected \(question, context\) pairs, not str"),
        (None, r"pairs: expected \(question, context\) pairs, not NoneType"),
        ([("Who?", "Eiffel.", "extra")], r"pairs\[0\]: expected a \(question, context\) pair, not 3 items"),
        ([("Who?", "Eiffel."), ("q",)], r"pairs\[1\]: expected a \(question, context\) pair, not 1 items"),
        ([("Who?", "Eiffel."), "qc"], r"pairs\[1\]: expected a \(question, context\) pair, not str"),
        ([("Who?", None)], r"pairs\[0\]\.context: expected a string, not NoneType"),
    ],
)
def test_pairs_name_the_first_bad_one(pairs, message):
    with pytest.raises(EdgeQAError, match=f"^{message}$"):
        check_pairs(pairs)


def test_pairs_from_any_iterable_become_a_list():
    assert check_pairs(iter([["Who?", "Eiffel."]])) == [("Who?", "Eiffel.")]


def test_lengths_are_a_services_limits():
    check_lengths("Who?", "x" * 10, max_question_chars=4, max_context_chars=10)
    with pytest.raises(EdgeQAError, match=r"^context: 11 characters; the limit is 10$"):
        check_lengths("Who?", "x" * 11, max_question_chars=4, max_context_chars=10)
    with pytest.raises(EdgeQAError, match=r"^question: 5 characters; the limit is 4$"):
        check_lengths("Who?!", "x", max_question_chars=4, max_context_chars=10)
