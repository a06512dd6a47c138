"""The Gradio page: paste a context or upload a document, ask, read the answer marked in it.

`build_app` is what `edgeqa demo` and the Hugging Face Space (apps/space/app.py) both launch.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from edgeqa.demo.service import DEMO_ENGINE, QAService, model_choices, read_document
from edgeqa.errors import EdgeQAError
from edgeqa.hardware import usable_cores
from edgeqa.reader.inputs import MAX_CONTEXT_CHARS, MAX_QUESTION_CHARS
from edgeqa.reader.policy import AnswerPolicy

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


def default_service(
    extra_models: list[Path] | None = None, policy: AnswerPolicy | None = None, threads: int | None = None
) -> QAService:
    """The given GGUFs, else the shipped reader, the embedded model and every GGUF under models/
    and export/; span-constrained answers and each model's calibrated threshold unless told
    otherwise; llama.cpp on `threads` (default: the usable cores)."""
    from edgeqa.models.registry import discover_models, exported_sources

    paths = extra_models or discover_models()
    config = dataclasses.replace(DEMO_ENGINE, n_threads=threads or usable_cores())
    return QAService(model_choices(paths, exported_sources()), config, policy=policy or AnswerPolicy())


SCROLL_TO_ANSWER = "() => document.getElementById('answer-mark')?.scrollIntoView({block: 'center'})"


def build_app(service: QAService, concurrency: int = 16, queue_size: int = 64):
    """The page. `concurrency` requests reach the service at once (where they share batches);
    up to `queue_size` more wait in Gradio's queue."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # works offline, sends nothing
    import gradio as gr

    def respond(context: str, question: str, model: str) -> tuple[str, str, str, str]:
        try:
            reply = service.answer(context, question, model)
        except EdgeQAError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        return reply.answer, reply.stats_line(), reply.alternatives_markdown(), reply.document_html

    def upload(path: str | None) -> str:
        if not path:
            return ""
        try:
            return read_document(path)
        except EdgeQAError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    with gr.Blocks(title=TITLE) as app:
        gr.Markdown(f"# {TITLE}\n{INTRO}")
        with gr.Row():
            with gr.Column(scale=3):
                context = gr.Textbox(
                    label="Context: paste text, or upload a .txt / .md document below",
                    lines=10,
                    max_length=MAX_CONTEXT_CHARS,
                    elem_id="context",
                )
                # No file_types / choices checks in Gradio: those refuse with a traceback on the
                # console; read_document and the service refuse with one line instead.
                document = gr.File(label="Document (.txt or .md)", type="filepath", elem_id="upload")
                question = gr.Textbox(label="Question", max_length=MAX_QUESTION_CHARS, elem_id="question")
                model = gr.Dropdown(
                    choices=list(service.models),
                    value=service.default_model,
                    label="Model",
                    allow_custom_value=True,
                )
                ask = gr.Button("Answer", variant="primary", elem_id="ask")
            with gr.Column(scale=2):
                answer = gr.Textbox(label="Answer", interactive=False, elem_id="answer")
                stats = gr.Markdown(elem_id="stats")
                alternatives = gr.Markdown(elem_id="alternatives")
        marked = gr.HTML(elem_id="document")
        gr.Examples(example_rows(), inputs=[context, question], label="SQuAD 2.0 examples")
        document.upload(upload, inputs=document, outputs=context, api_name="upload")
        event = {
            "fn": respond,
            "inputs": [context, question, model],
            "outputs": [answer, stats, alternatives, marked],
            "concurrency_limit": concurrency,
        }
        ask.click(**event, api_name="answer").then(None, js=SCROLL_TO_ANSWER)
        question.submit(**event, api_name=False).then(None, js=SCROLL_TO_ANSWER)
    app.queue(max_size=queue_size)
    return app
