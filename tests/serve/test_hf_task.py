"""The Hugging Face question-answering task's JSON: the mapping (no model), then the real
huggingface_hub client against a real `edgeqa serve` of the shipped reader."""

import pytest

from edgeqa.reader.answer import Answer
from edgeqa.serve.hf_task import QAParameters, task_answers
from tests.helpers import edgeqa_server

CONTEXT = "The tower was designed by Gustave Eiffel and built in Paris from 1887 to 1889."
EIFFEL = Answer("Gustave Eiffel", 26, 40, 0.8, 0.3, False, answer_tokens=4)
PARIS = Answer("Paris", 54, 59, 0.1, 0.3, False, answer_tokens=2)
UNSURE = Answer.abstention(0.7, candidates=(EIFFEL, PARIS))


def test_an_answer_is_one_object_and_top_k_a_list():
    assert task_answers(EIFFEL, QAParameters()) == {
        "answer": "Gustave Eiffel",
        "score": 0.8,
        "start": 26,
        "end": 40,
    }
    both = task_answers([EIFFEL, PARIS], QAParameters(top_k=2))
    assert [a["answer"] for a in both] == ["Gustave Eiffel", "Paris"]
    assert all(CONTEXT[a["start"] : a["end"]] == a["answer"] for a in both)


def test_never_abstaining_gives_the_best_guess_and_handle_impossible_the_null_answer():
    assert task_answers(UNSURE, QAParameters())["answer"] == "Gustave Eiffel"  # the task's default
    null = task_answers(UNSURE, QAParameters(handle_impossible_answer=True))
    assert null == {"answer": "", "score": 0.7, "start": 0, "end": 0}
    ranked = task_answers([UNSURE, EIFFEL], QAParameters(top_k=2, handle_impossible_answer=True))
    assert [a["answer"] for a in ranked] == ["", "Gustave Eiffel"]
    nothing = task_answers(Answer.abstention(0.9), QAParameters())
    assert nothing == {"answer": "", "score": 0.0, "start": 0, "end": 0}  # the model chose to abstain


def test_max_answer_len_drops_longer_spans():
    assert task_answers([EIFFEL, PARIS], QAParameters(max_answer_len=3))["answer"] == "Paris"


@pytest.fixture(scope="module")
def shipped_server(shipped_reader):
    with edgeqa_server("--model", "smollm2-135m-squad", "--threads", "2", "--api-key", "hf-key") as base:
        yield base


def test_the_hub_client_gets_the_readers_spans_on_20_squad_questions(shipped_server, squad_tiny):
    """InferenceClient(model=<server>).question_answering, with the reader's policy, returns
    what Reader.answer returns in this process, span for span."""
    from huggingface_hub import InferenceClient

    from edgeqa import Reader
    from edgeqa.data.squad import load_squad

    examples = load_squad(squad_tiny)[:20]
    client = InferenceClient(model=shipped_server, token="hf-key")
    with Reader("smollm2-135m-squad", threads=2) as reader:
        expected = [reader.answer(e.question, e.context) for e in examples]
    same = 0
    for example, answer in zip(examples, expected, strict=True):
        got = client.question_answering(
            question=example.question, context=example.context, handle_impossible_answer=True
        )
        span = ("", 0, 0) if answer.abstained else (answer.text, answer.start, answer.end)
        same += (got.answer, got.start, got.end) == span
        if got.answer:
            assert example.context[got.start : got.end] == got.answer
    assert same == len(examples)


def test_the_hub_client_asks_for_top_k_and_a_chosen_model(shipped_server):
    from huggingface_hub import InferenceClient

    client = InferenceClient(model=f"{shipped_server}/models/smollm2-135m-squad", token="hf-key")
    answers = client.question_answering(question="Who designed the tower?", context=CONTEXT, top_k=3)
    assert 1 <= len(answers) <= 3 and answers[0].answer == "Gustave Eiffel"
    assert all(CONTEXT[a.start : a.end] == a.answer for a in answers)
    with pytest.raises(Exception, match="401"):
        InferenceClient(model=shipped_server, token="wrong").question_answering(
            question="Who?", context=CONTEXT
        )
