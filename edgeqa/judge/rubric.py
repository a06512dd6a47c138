"""The fixed rubric: what the judge is shown, the JSON it must reply with, and how it is read.

The reply is constrained while decoding (token by token locally, a JSON schema on an endpoint),
so a small judge cannot ramble; `parse_scores` still checks every reply, because an endpoint may
ignore the schema.
"""

from __future__ import annotations

import json

from edgeqa.data.squad import QAExample

CRITERIA = ("correctness", "completeness", "faithfulness")
SCORES = (1, 2, 3, 4, 5)

JUDGE_SYSTEM_PROMPT = (
    "You grade answers to reading-comprehension questions. Score the candidate answer from 1 "
    "(worst) to 5 (best) on three criteria. correctness: it means the same as one of the "
    "reference answers. completeness: it gives all that the question asks for, not less. "
    "faithfulness: everything in it is supported by the context. When the context does not "
    "answer the question, an abstention scores 5 on all three and any other answer scores 1 on "
    "correctness. Reply with JSON only: "
    '{"correctness": N, "completeness": N, "faithfulness": N}'
)

SCORES_SCHEMA = {
    "type": "object",
    "properties": {name: {"type": "integer", "enum": list(SCORES)} for name in CRITERIA},
    "required": list(CRITERIA),
}

NO_ANSWER = "(none: the context does not answer the question)"
ABSTAINED = "(the model abstained: it says the context does not answer the question)"


def judge_messages(example: QAExample, prediction: str) -> list[dict[str, str]]:
    references = " | ".join(dict.fromkeys(example.answers)) or NO_ANSWER
    return [
        {"role": "system", "content": JUDGE_SYSTEM_PROMPT},
        {
            "role": "user",
            "content": (
                f"Context: {example.context.strip()}\n\nQuestion: {example.question.strip()}\n\n"
                f"Reference answers: {references}\n\nCandidate answer: {prediction.strip() or ABSTAINED}"
            ),
        },
    ]


def parse_scores(reply: str) -> dict[str, int] | None:
    """The three scores from a reply, or None when it is not the JSON the rubric asks for."""
    start, end = reply.find("{"), reply.rfind("}")
    if start < 0 or end < start:
        return None
    try:
        data = json.loads(reply[start : end + 1])
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    scores = {name: data.get(name) for name in CRITERIA}
    if not all(isinstance(v, int) and not isinstance(v, bool) and v in SCORES for v in scores.values()):
        return None
    return scores  # type: ignore[return-value]
