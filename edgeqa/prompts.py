"""The one QA prompt, shared by finetune, eval, the demo and the profiler.

Train/eval prompt drift is the most common silent bug in this field, so every stage builds its
messages here. The context comes first so all questions on a paragraph share a token prefix
(and therefore a KV cache); the question comes last.
"""

from __future__ import annotations

ABSTAIN = "unanswerable"

SYSTEM_PROMPT = (
    "You answer questions about a context. Reply with the shortest phrase copied from the "
    f"context that answers the question. If the context does not answer it, reply: {ABSTAIN}"
)


def qa_messages(context: str, question: str) -> list[dict[str, str]]:
    """Chat messages for one question, to be rendered with the model's own chat template."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"Context: {context.strip()}\n\nQuestion: {question.strip()}"},
    ]


def parse_answer(generated: str) -> str:
    """The model's reply as a SQuAD prediction: the abstention becomes the empty answer."""
    answer = generated.strip().strip('"').strip()
    if answer.rstrip(".").strip().lower() == ABSTAIN:
        return ""
    return answer
