"""The one QA prompt, shared by finetune, eval, the demo and the profiler.

Train/eval prompt drift is the most common silent bug in this field, so every stage builds its
messages here. Two layouts of the user message, fixed when a model is fine-tuned and carried in
its GGUF (`PROMPT_LAYOUT_KEY`) so every later stage asks it the way it learnt:
- context-first (default): the context, then the question. All questions on a paragraph share
  a token prefix, and therefore a KV cache.
- question-first: the question, the context, the question again. A decoder reads the context
  already knowing what is asked (each context token attends to the question), and still sees
  the question last; the price is that questions no longer share the paragraph's prefix.
"""

from __future__ import annotations

ABSTAIN = "unanswerable"
PROMPT_LAYOUTS = ("context-first", "question-first")
DEFAULT_PROMPT_LAYOUT = "context-first"
PROMPT_LAYOUT_KEY = "edgeqa.prompt_layout"  # GGUF metadata; absent means the default

# The date a chat template that shows "today" (Llama 3.x's system header) is rendered with, in
# training, eval, serve and the Ollama Modelfile alike: a clock date would ask a model trained
# yesterday with another prompt today. The template's own fallback date; exports whose template
# renders a date carry it (TEMPLATE_DATE_KEY) and the runtime asks with the GGUF's.
TEMPLATE_DATE = "26 Jul 2024"
TEMPLATE_DATE_KEY = "edgeqa.template_date"

SYSTEM_PROMPT = (
    "You answer questions about a context. Reply with the shortest phrase copied from the "
    f"context that answers the question. If the context does not answer it, reply: {ABSTAIN}"
)


def qa_messages(context: str, question: str, layout: str = DEFAULT_PROMPT_LAYOUT) -> list[dict[str, str]]:
    """Chat messages for one question, to be rendered with the model's own chat template."""
    asked = f"Question: {question.strip()}"
    given = f"Context: {context.strip()}"
    if layout == "context-first":
        user = f"{given}\n\n{asked}"
    elif layout == "question-first":
        user = f"{asked}\n\n{given}\n\n{asked}"
    else:
        raise ValueError(f"unknown prompt layout {layout!r}; expected one of {', '.join(PROMPT_LAYOUTS)}")
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def parse_answer(generated: str) -> str:
    """The model's reply as a SQuAD prediction: the abstention becomes the empty answer."""
    answer = generated.strip().strip('"').strip()
    if answer.rstrip(".").strip().lower() == ABSTAIN:
        return ""
    return answer
