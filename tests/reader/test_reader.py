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
    (alone,) = reader.answer("What is the population of Berlin?", CONTEXT, top_k=3)
    assert alone.abstained and alone.no_answer_prob == pytest.approx(answer.no_answer_prob)


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


def test_empty_inputs_are_refused(reader):
    with pytest.raises(EdgeQAError, match="pair 0"):
        reader.answer("  ", CONTEXT)
    with pytest.raises(EdgeQAError, match="top_k"):
        reader.answer("Who?", CONTEXT, top_k=0)


def test_answers_are_plain_frozen_data():
    answer = Answer.abstention(0.9)
    with pytest.raises(dataclasses.FrozenInstanceError):
        answer.text = "x"  # type: ignore[misc]
    assert answer.score == answer.no_answer_prob == 0.9


def test_importing_the_reader_loads_neither_llama_cpp_nor_torch():
    import subprocess
    import sys

    code = (
        "import sys, edgeqa; edgeqa.Reader, edgeqa.Answer; "
        "print(sorted({'llama_cpp', 'torch'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
