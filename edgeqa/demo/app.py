"""The Gradio page: paste a context, ask, watch the answer stream, see what it cost.

`build_app` is what `edgeqa demo` and the Hugging Face Space (apps/space/app.py) both launch.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from edgeqa.demo.service import MAX_CONTEXT_CHARS, MAX_QUESTION_CHARS, QAService, model_choices
from edgeqa.errors import EdgeQAError
from edgeqa.reader.policy import AnswerPolicy
from edgeqa.runtime.engine_config import EngineConfig

TITLE = "edgeqa: extractive QA on a CPU"
INTRO = (
    "A small Llama-family model answers from the context you paste, running through llama.cpp "
    "on this machine's CPU. It copies the shortest phrase that answers, or says the context "
    "does not contain the answer."
)


def example_rows(count: int = 4) -> list[list[str]]:
    """A few bundled SQuAD 2.0 questions, answerable and not, to click."""
    from edgeqa.data.squad import BUNDLED_SAMPLE, load_squad

    examples = load_squad(BUNDLED_SAMPLE)
    answerable = [e for e in examples if e.answers][: count - 1]
    unanswerable = [e for e in examples if not e.answers][:1]
    return [[e.context, e.question] for e in answerable + unanswerable]


def default_service(extra_models: list[Path] | None = None, policy: AnswerPolicy | None = None) -> QAService:
    """The given GGUFs, else the embedded model plus every GGUF under models/ and export/;
    span-constrained answers and each model's calibrated threshold unless told otherwise."""
    from edgeqa.models.registry import discover_models, exported_sources

    paths = extra_models or discover_models()
    config = EngineConfig(n_ctx=4096, parallel=1, max_answer_tokens=48)
    return QAService(model_choices(paths, exported_sources()), config, policy or AnswerPolicy())


def build_app(service: QAService, concurrency: int = 1, queue_size: int = 64):
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # works offline, sends nothing
    import gradio as gr

    def respond(context: str, question: str, model: str) -> Iterator[tuple[str, str]]:
        try:
            for reply in service.answer(context, question, model):
                yield reply.answer, reply.stats_line()
        except EdgeQAError as exc:
            raise gr.Error(str(exc)) from None

    with gr.Blocks(title=TITLE) as app:
        gr.Markdown(f"# {TITLE}\n{INTRO}")
        with gr.Row():
            with gr.Column(scale=3):
                context = gr.Textbox(
                    label="Context", lines=10, max_length=MAX_CONTEXT_CHARS, elem_id="context"
                )
                question = gr.Textbox(label="Question", max_length=MAX_QUESTION_CHARS, elem_id="question")
                model = gr.Dropdown(
                    choices=list(service.models),
                    value=service.default_model,
                    label="Model",
                    allow_custom_value=False,
                )
                ask = gr.Button("Answer", variant="primary", elem_id="ask")
            with gr.Column(scale=2):
                answer = gr.Textbox(label="Answer", interactive=False, elem_id="answer")
                stats = gr.Markdown(elem_id="stats")
        gr.Examples(example_rows(), inputs=[context, question], label="SQuAD 2.0 examples")
        event = {"fn": respond, "inputs": [context, question, model], "outputs": [answer, stats]}
        ask.click(**event, concurrency_limit=concurrency, api_name="answer")
        question.submit(**event, concurrency_limit=concurrency, api_name=False)
    app.queue(max_size=queue_size)
    return app
