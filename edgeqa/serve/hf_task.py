"""The Hugging Face question-answering task's JSON, so clients written for it need no glue.

`huggingface_hub.InferenceClient(model="http://host:port").question_answering(...)` posts
`{"inputs": {"question", "context"}, "parameters": {...}}` to the root path; a transformers
question-answering pipeline returns `{"answer", "score", "start", "end"}`, or a list of them
when `top_k` > 1. The parameters map onto the reader's own: `top_k` as is; `doc_stride` is the
overlap of the windows a long context is read in; `max_answer_len` drops spans decoded in more
tokens; `handle_impossible_answer` false (the task's default) never abstains: the best span is
returned even when the reader would abstain (its best guess), true applies the reader's policy
and an abstention is the task's null answer (`""`, start and end 0, scored by the no-answer
probability). `max_seq_len`, `max_question_len` and `align_to_words` are accepted for the
clients that send them and change nothing: the window size is the server's `--max-seq-len`,
questions are limited by `--max-question-chars`, and a span is always whole tokens of the
context.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_validator

from edgeqa.reader.answer import Answer
from edgeqa.serve.schema import readable_text


class QAInputs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: StrictStr
    context: StrictStr

    _readable = field_validator("question", "context")(readable_text)


class QAParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    top_k: StrictInt = Field(1, ge=1, description="answers to return, best first")
    doc_stride: StrictInt | None = Field(None, ge=0, description="tokens by which windows overlap")
    max_answer_len: StrictInt | None = Field(None, ge=1, description="longest answer, in tokens")
    handle_impossible_answer: StrictBool = Field(
        False, description="true: the reader may abstain (the null answer); false: always a span"
    )
    max_seq_len: StrictInt | None = Field(None, ge=1, description="accepted; the server's window size holds")
    max_question_len: StrictInt | None = Field(None, ge=1, description="accepted; the server's limit holds")
    align_to_words: StrictBool | None = Field(None, description="accepted; spans are always whole tokens")


class QARequest(BaseModel):
    """The task's request body."""

    model_config = ConfigDict(extra="forbid")

    inputs: QAInputs
    parameters: QAParameters = Field(default_factory=QAParameters)


class QAAnswer(BaseModel):
    answer: str
    score: float
    start: int
    end: int


NULL_ANSWER_OFFSET = 0  # the task's null answer sits at 0..0


def task_answers(
    found: Answer | list[Answer], parameters: QAParameters
) -> dict[str, Any] | list[dict[str, Any]]:
    """The reader's answers as the task's: one object, or a list when top_k > 1."""
    answers = found if isinstance(found, list) else [found]
    best = answers[0]
    spans = [a for a in (answers if not best.abstained else best.candidates) if not a.abstained]
    if parameters.max_answer_len is not None:
        spans = [a for a in spans if a.answer_tokens <= parameters.max_answer_len]
    if best.abstained and parameters.handle_impossible_answer:
        ranked = [_null(best.no_answer_prob), *(_span(a) for a in spans)]
    else:
        ranked = [_span(a) for a in spans] or [_null(0.0)]
    ranked = ranked[: parameters.top_k]
    return ranked if parameters.top_k > 1 else ranked[0]


def _span(answer: Answer) -> dict[str, Any]:
    start = answer.start if answer.start is not None else NULL_ANSWER_OFFSET
    return {"answer": answer.text, "score": answer.score, "start": start, "end": start + len(answer.text)}


def _null(score: float) -> dict[str, Any]:
    return {"answer": "", "score": score, "start": NULL_ANSWER_OFFSET, "end": NULL_ANSWER_OFFSET}
