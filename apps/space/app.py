"""Hugging Face Space entry point: the edgeqa demo on the CPU, offline, opening on the shipped reader.

Before anything loads a model, a real quantized inference runs in a child process (the check
`scripts/install.sh` makes): a llama.cpp build that crashes on this CPU (AMX hosts, llama.cpp
issue 20824) then gives a page that says so, instead of a Space that dies on the first question.
"""

from __future__ import annotations

from collections.abc import Callable

from edgeqa.models.registry import embedded_model_path
from edgeqa.runtime.smoke import run_smoke_check

BROKEN_BUILD = (
    "## This Space's llama.cpp build does not work on this CPU\n\n{message}\n\n"
    "The Space builds llama-cpp-python without AMX (see its Dockerfile); if this page shows, "
    "the build flags did not take effect: rebuild the Space (Settings > Factory rebuild)."
)


def build_space(smoke_check: Callable[..., tuple[bool, str]] = run_smoke_check):
    """The demo, or a page that explains why the demo cannot run here."""
    ok, message = smoke_check(embedded_model_path())
    if ok:
        from edgeqa.demo.app import build_app, default_service

        return build_app(default_service())
    import gradio as gr

    with gr.Blocks(title="edgeqa: broken llama.cpp build") as page:
        gr.Markdown(BROKEN_BUILD.format(message=message))
    return page


demo = build_space()

if __name__ == "__main__":
    demo.launch(server_name="0.0.0.0", server_port=7860)
