"""Span-constrained choice on a small hand-made vocabulary: what may follow what, and when an
answer may end. The real-model side (every constrained answer is a context span) is in
test_engine.py."""

import numpy as np
import pytest

from edgeqa.runtime.constraints import FreeChooser, SpanChooser, VocabIndex, log_softmax_at, softmax_share

PIECES = [b"", b"Par", b"is", b" Paris", b"un", b"answer", b"able", b"x", b" ", b" is"]
END, PAR, IS, SPACE_PARIS, UN, ANSWER, ABLE, X, SPACE, SPACE_IS = range(len(PIECES))


@pytest.fixture()
def index():
    return VocabIndex(PIECES, lambda token: token == END)


def chooser(index, context="It is Paris."):
    return SpanChooser(index, context, "unanswerable", index.abstention_starts("unanswerable"))


def logits_favouring(*tokens):
    """Logits ranking `tokens` first to last, everything else far below."""
    logits = np.full(len(PIECES), -10.0, dtype=np.float32)
    for rank, token in enumerate(tokens):
        logits[token] = 10.0 - rank
    return logits


def test_first_token_is_a_context_piece_or_the_abstention(index):
    allowed = set(chooser(index).allowed().tolist())
    assert allowed == {PAR, IS, SPACE_PARIS, UN, SPACE, SPACE_IS}  # no end before any text
    assert chooser(index).choose(logits_favouring(X, ANSWER, SPACE_PARIS)) == SPACE_PARIS


def test_answer_continues_only_where_the_context_does(index):
    span = chooser(index)
    span.advance(PAR)
    assert set(span.allowed().tolist()) == {IS, END}
    span.advance(IS)
    assert span.choose(logits_favouring(X, SPACE, END)) == END  # "Paris." has no " " after it


def test_whitespace_alone_is_not_an_answer(index):
    span = chooser(index)
    span.advance(SPACE)
    assert END not in span.allowed().tolist()


def test_abstention_ends_only_when_complete(index):
    span = chooser(index)
    span.advance(UN)
    assert set(span.allowed().tolist()) == {ANSWER}
    span.advance(ANSWER)
    span.advance(ABLE)
    assert set(span.allowed().tolist()) == {END}


def test_forbidding_the_abstention_forces_a_span(index):
    span = chooser(index, context="It is Paris, a unit.")  # "un" is a context piece here too
    assert UN in span.allowed().tolist()
    span.forbid_abstention()
    assert UN not in span.allowed().tolist()
    assert span.choose(logits_favouring(UN, IS)) == IS


def test_no_answer_probability_is_shared_over_the_allowed_tokens(index):
    logits = np.zeros(len(PIECES), dtype=np.float32)  # uniform: 1 of the 6 allowed first tokens
    assert chooser(index).na_prob(logits) == pytest.approx(1 / 6)
    assert FreeChooser(np.array([UN]), np.array([END])).na_prob(logits) == pytest.approx(1 / len(PIECES))


def test_abstention_starts_cover_every_casing():
    pieces = [b"", b"un", b"Un", b" un", b"UNANS", b"unit", b"U", b"x"]
    index = VocabIndex(pieces, lambda token: token == 0)
    assert index.abstention_starts("unanswerable").tolist() == [1, 2, 3, 4]


def test_free_chooser_forbids_the_abstention_only_at_the_first_token():
    free = FreeChooser(np.array([UN]), np.array([END]))
    free.forbid_abstention()
    assert free.choose(logits_favouring(UN, X)) == X
    free.advance(X)
    assert free.choose(logits_favouring(UN, X)) == UN


def test_softmax_share_matches_numpy():
    logits = np.array([0.0, np.log(3.0)], dtype=np.float32)
    assert softmax_share(logits, np.array([1])) == pytest.approx(0.75)
    assert softmax_share(logits, np.array([0]), np.array([0])) == pytest.approx(1.0)
    assert softmax_share(logits, np.array([1]), np.array([0])) == 0.0


def test_span_starts_are_cached_per_context(index):
    first = index.span_starts(b"It is Paris.")
    assert index.span_starts(b"It is Paris.") is first
    assert index.span_starts(b"xx") == frozenset({X})


def test_log_softmax_at_ignores_masked_tokens():
    logits = np.array([0.0, np.log(3.0), -np.inf], dtype=np.float32)
    assert np.exp(log_softmax_at(logits, 1)) == pytest.approx(0.75)
    assert log_softmax_at(logits, 2) == -np.inf


def test_span_log_prob_is_over_the_allowed_tokens(index):
    logits = np.zeros(len(PIECES), dtype=np.float32)  # uniform over what the constraint allows
    span = chooser(index)
    assert np.exp(span.log_prob(logits, SPACE_PARIS)) == pytest.approx(1 / 6)
    span.forbid_abstention()  # the abstention's share goes to the spans
    assert np.exp(span.log_prob(logits, SPACE_PARIS)) == pytest.approx(1 / 5)
    span.advance(PAR)  # "Par" continues only as "is" or ends
    assert np.exp(span.log_prob(logits, IS)) == pytest.approx(1 / 2)


def test_free_log_prob_leaves_out_a_forbidden_abstention():
    logits = np.zeros(len(PIECES), dtype=np.float32)
    free = FreeChooser(np.array([UN]), np.array([END]))
    assert np.exp(free.log_prob(logits, X)) == pytest.approx(1 / len(PIECES))
    free.forbid_abstention()
    assert np.exp(free.log_prob(logits, X)) == pytest.approx(1 / (len(PIECES) - 1))


def test_ranked_first_tokens_skip_ends_and_follow_the_constraint(index):
    free = FreeChooser(np.array([UN]), np.array([END]))
    assert free.ranked(logits_favouring(END, X, PAR), 2) == [X, PAR]
    span = chooser(index)
    span.forbid_abstention()
    assert span.ranked(logits_favouring(X, UN, SPACE_PARIS, IS), 2) == [SPACE_PARIS, IS]


def test_context_ends_name_every_occurrence_leftmost_first(index):
    span = chooser(index, "is Paris is")
    span.forbid_abstention()
    span.advance(IS)
    assert span.context_ends() == (2, 8, 11)
    assert FreeChooser(np.array([UN]), np.array([END])).context_ends() == ()
