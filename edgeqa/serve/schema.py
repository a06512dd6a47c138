"""The JSON of POST /v1/answer: what FastAPI validates (a missing or malformed field is 422
naming it) and what /docs shows."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationInfo, field_validator

from edgeqa.errors import EdgeQAError
from edgeqa.reader.answer import Answer
from edgeqa.reader.inputs import check_text


def readable_text(cls, value: str, info: ValidationInfo) -> str:
    """A pydantic validator applying the Reader's text rules (a 422 naming the field)."""
    try:
        return check_text(info.field_name, value)
    except EdgeQAError as exc:
        raise ValueError(str(exc).removeprefix(f"{info.field_name}: ")) from None


class AnswerRequest(BaseModel):
    """Strict: `"top_k": "3"` or `true` is a 422, not coerced; texts follow the Reader's rules
    (some text, valid Unicode), so a bad request never reaches a batch."""

    model_config = ConfigDict(extra="forbid")

    question: StrictStr = Field(description="the question")
    context: StrictStr = Field(description="the text to answer from; long ones are read in windows")
    top_k: StrictInt = Field(1, ge=1, description="how many different spans to return, best first")
    model: StrictStr | None = Field(None, description="a model this server loaded (GET /health lists them)")

    _readable = field_validator("question", "context")(readable_text)


class AnswerOut(BaseModel):
    text: str = Field(description='the answer; "" when the model abstains')
    start: int | None = Field(description="character offset of the answer in the context")
    end: int | None = Field(description="context[start:end] == text")
    score: float = Field(description="the answer's probability")
    no_answer_prob: float = Field(description="the probability that the context holds no answer")
    abstained: bool


class Timings(BaseModel):
    total_s: float = Field(description="from arrival to answer, queueing included")
    prompt_tokens: int
    generated_tokens: int
    windows_read: int


class AnswerResponse(AnswerOut):
    """The best answer's fields, the model's name, timings; with top_k > 1, every span."""

    model: str
    answers: list[AnswerOut] | None = None
    timings: Timings


def _fields(answer: Answer) -> dict[str, Any]:
    return {name: getattr(answer, name) for name in AnswerOut.model_fields}


def answer_response(model: str, found: Answer | list[Answer], seconds: float) -> dict[str, Any]:
    answers = found if isinstance(found, list) else [found]
    best = answers[0]
    return {
        **_fields(best),
        "model": model,
        "answers": [_fields(a) for a in answers] if isinstance(found, list) else None,
        "timings": {
            "total_s": round(seconds, 4),
            "prompt_tokens": best.prompt_tokens,
            "generated_tokens": best.generated_tokens,
            "windows_read": best.windows_read,
        },
    }
