"""edgeqa.Reader on real models: offsets, scores, top-k, batches, long documents, abstention."""

import dataclasses

import pytest

from edgeqa import Answer, Reader
from edgeqa.data.squad import as_articles, load_squad
from edgeqa.errors import EdgeQAError
from edgeqa.reader.policy import AnswerPolicy
from edgeqa.runtime.engine_config import EngineConfig

CONTEXT = (
    "The Eiffel Tower is a wrought-iron lattice tower in Paris, France. It was designed by the "
    "company of Gustave Eiffel and built from 1887 to 1889."
)


@pytest.fixture(scope="module")
def reader(shipped_reader):
    with Reader("smollm2-135m-squad", threads=2) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def f16_reader(embedded_f16):
    """The model decides (no threshold): decoding paths compare token for token in F16."""
    config = EngineConfig(n_threads=2, parallel=8, max_answer_tokens=16)
    with Reader.from_settings(embedded_f16, AnswerPolicy(na_threshold="model"), config) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def examples():
    from tests.conftest import ASSETS

    return load_squad(ASSETS / "squad_v2_tiny.json")


def test_an_answer_is_a_span_with_offsets_score_and_no_answer_probability(reader, shipped_reader):
    answer = reader.answer("Who designed the Eiffel Tower?", CONTEXT)
    assert isinstance(answer, Answer) and not answer.abstained
    assert "Eiffel" in answer.text and CONTEXT[answer.start : answer.end] == answer.text
    assert 0 < answer.score <= 1 and 0 <= answer.no_answer_prob <= 1
    assert reader.model_path == shipped_reader and reader.threshold.value is not None  # calibrated


def test_top_k_gives_different_spans_best_first(reader):
    answers = reader.answer("Who designed the Eiffel Tower?", CONTEXT, top_k=3)
    assert 2 <= len(answers) <= 3
    assert len({(a.start, a.end) for a in answers}) == len(answers)
    assert all(CONTEXT[a.start : a.end] == a.text for a in answers)
    best = reader.answer("Who designed the Eiffel Tower?", CONTEXT)
    assert (answers[0].text, answers[0].start) == (best.text, best.start)
    assert answers[0].score == pytest.approx(best.score, rel=1e-3)
    assert [a.score for a in answers] == sorted((a.score for a in answers), reverse=True)


def test_a_question_the_context_does_not_answer_is_an_abstention(reader):
    answer = reader.answer("What is the population of Berlin?", CONTEXT)
    assert answer.abstained and answer.text == "" and answer.start is None and answer.end is None
    assert answer.no_answer_prob > reader.threshold.value


def test_an_abstention_still_carries_its_best_guesses(reader):
    """Asked for several spans, the reader abstains over the threshold but says what it would
    have answered: the abstention first, with its candidates, best first, then them. (One
    answer alone does not decode them: they cost throughput.)"""
    alone = reader.answer("What is the population of Berlin?", CONTEXT)
    assert alone.abstained and not alone.candidates and alone.best_guess is None
    listed = reader.answer("What is the population of Berlin?", CONTEXT, top_k=3)
    answer = listed[0]
    guess = answer.best_guess
    assert answer.abstained and answer.no_answer_prob == pytest.approx(alone.no_answer_prob)
    assert answer.candidates and guess is answer.candidates[0] and not guess.abstained
    assert CONTEXT[guess.start : guess.end] == guess.text and 0 < guess.score <= 1
    assert listed[1:] == list(answer.candidates[:2])
    sure = reader.answer("Who designed the Eiffel Tower?", CONTEXT)
    assert sure.best_guess is sure and not sure.candidates


def test_answer_many_keeps_the_order_and_equals_one_at_a_time(f16_reader, examples):
    pairs = [(e.question, e.context) for e in examples[:12]][::-1]  # contexts interleaved
    heard = []
    batched = f16_reader.answer_many(pairs, progress=heard.append)
    single = [f16_reader.answer(q, c) for q, c in pairs]
    assert [a.text for a in batched] == [a.text for a in single]
    assert sum(heard) == len(pairs)
    for answer, (_, context) in zip(batched, pairs, strict=True):
        assert answer.start is None or context[answer.start : answer.end] == answer.text


def test_a_long_document_is_read_in_windows_with_offsets_into_the_whole(reader, examples):
    articles = [e for e in as_articles(examples) if e.title == "Normans" and e.answers]
    document = articles[0].context
    windows = reader.split(document)
    assert len(windows) > 1 and all(document[w.start : w.end] == w.text for w in windows)
    answers = reader.answer_many([(e.question, e.context) for e in articles[:8]])
    answered = [(a, e) for a, e in zip(answers, articles[:8], strict=True) if not a.abstained]
    assert answered
    for answer, _example in answered:
        assert document[answer.start : answer.end] == answer.text
        assert 1 < answer.windows_read <= reader.windows.max_windows
        assert answer.no_answer_prob == min(answer.no_answer_probs.values())
    assert sum(a.text in e.answers for a, e in answered) >= len(answered) // 2


def test_stream_refuses_a_context_longer_than_a_window(reader, examples):
    document = as_articles(examples)[0].context
    with pytest.raises(EdgeQAError, match="longer than one window"):
        reader.stream("Who?", document)
    assert "".join(reader.stream("Who designed the Eiffel Tower?", CONTEXT)).strip()


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"na_threshold": "often"}, "--na-threshold"),
        ({"decoding": "beam"}, "--decoding"),
        ({"max_seq_len": 64}, "--max-seq-len"),
    ],
)
def test_bad_options_are_one_line_before_anything_loads(options, named):
    with pytest.raises(EdgeQAError, match=named):
        Reader("embedded", **options)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r: r.answer("  ", CONTEXT), "question: holds no text"),
        (lambda r: r.answer("Who?", CONTEXT, top_k=0), "top_k must be at least 1, not 0"),
        (lambda r: r.answer(None, CONTEXT), "question: expected a string, not NoneType"),
        (lambda r: r.answer("Who?", CONTEXT.encode()), "context: expected a string, not bytes"),
        (lambda r: r.answer("Who?", CONTEXT, top_k="3"), "top_k: expected an integer, not str"),
        (lambda r: r.answer("Who?", "Paris \ud800"), "context: not valid Unicode text"),
        (lambda r: r.answer_many([("q",)]), "pairs[0]: expected a (question, context) pair, not 1 items"),
        (lambda r: r.answer_many("Who?"), "pairs: expected (question, context) pairs, not str"),
        (lambda r: r.iter_answers([("Who?", CONTEXT)], top_k=None), "top_k: expected an integer"),
        (lambda r: r.split(3), "context: expected a string, not int"),
        (lambda r: r.stream("Who?", ""), "context: holds no text"),
    ],
    ids=[
        "blank",
        "top-k-0",
        "none",
        "bytes",
        "top-k-str",
        "surrogate",
        "short-pair",
        "str",
        "iter",
        "split",
        "stream",
    ],
)
def test_bad_arguments_are_one_error_each_at_the_edge(f16_reader, call, message):
    with pytest.raises(EdgeQAError) as caught:
        call(f16_reader)
    assert str(caught.value).startswith(message)
    assert f16_reader.answer("Who designed the tower?", CONTEXT) is not None  # still fine


def test_threads_zero_is_refused_as_the_cli_refuses_it():
    with pytest.raises(EdgeQAError, match="threads must be at least 1"):
        Reader("embedded", threads=0)


def test_a_closed_reader_raises_instead_of_crashing(embedded_model):
    with Reader(embedded_model, threads=2, parallel=4, max_answer_tokens=8) as reader:
        stream = reader.stream("Who designed the tower?", CONTEXT)
        next(stream)
    for call in (
        lambda: reader.answer("Who?", CONTEXT),
        lambda: reader.answer_many([("Who?", CONTEXT)]),
        lambda: reader.iter_answers([("Who?", CONTEXT)]),
        lambda: reader.split(CONTEXT),
        lambda: reader.stream("Who?", CONTEXT),
        lambda: next(stream),  # a stream left open across the close
    ):
        with pytest.raises(EdgeQAError, match=r"^this Reader is closed$"):
            call()
    reader.close()  # twice is harmless
    assert reader.closed


def test_one_reader_shared_by_threads_answers_each_as_alone(f16_reader, examples):
    """Calls from several threads take turns: each thread gets what it gets alone."""
    from concurrent.futures import ThreadPoolExecutor

    pairs = [(e.question, e.context) for e in examples[:8]]
    alone = [f16_reader.answer(q, c).text for q, c in pairs]
    with ThreadPoolExecutor(4) as pool:
        shared = list(pool.map(lambda pair: f16_reader.answer(*pair).text, pairs * 2))
    assert shared == alone * 2


def test_a_stream_holds_its_turn_until_it_ends(f16_reader):
    """Another thread waits for an open stream; the streaming thread may not interleave."""
    import threading

    stream = f16_reader.stream("Who designed the tower?", CONTEXT)
    first = next(stream)
    with pytest.raises(EdgeQAError, match="still answering in this thread"):
        f16_reader.answer("Who?", CONTEXT)
    other: list = []
    waiting = threading.Thread(target=lambda: other.append(f16_reader.answer("Who designed it?", CONTEXT)))
    waiting.start()
    waiting.join(0.5)
    assert waiting.is_alive()  # waits its turn
    rest = "".join(stream)
    waiting.join(60)
    assert other and not waiting.is_alive() and (first + rest).strip()


def test_answers_are_plain_frozen_data():
    answer = Answer.abstention(0.9)
    with pytest.raises(dataclasses.FrozenInstanceError):
        answer.text = "x"  # type: ignore[misc]
    assert answer.score == answer.no_answer_prob == 0.9


@pytest.mark.slow
def test_importing_the_reader_loads_neither_llama_cpp_nor_torch():
    import subprocess
    import sys

    code = (
        "import sys, edgeqa; edgeqa.Reader, edgeqa.Answer; "
        "print(sorted({'llama_cpp', 'torch'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
