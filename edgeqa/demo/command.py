"""`edgeqa demo`: the Gradio page (the same app as the Hugging Face Space in apps/space)."""

from __future__ import annotations

from dataclasses import dataclass

from edgeqa.errors import EdgeQAError
from edgeqa.hardware import usable_cores
from edgeqa.option_field import option
from edgeqa.reader.policy import AnswerPolicy

DESCRIPTION = (
    "Serve a page where you paste a context or upload a .txt / .md document (up to 200,000 "
    "characters), ask a question and read the answer marked in the document, with its score and "
    "the next best spans. Models are loaded once and shared; questions asked at the same time are "
    "decoded together (the batching service of edgeqa serve)."
)
EPILOG = "example: edgeqa demo --model export/smollm2-squad-Q4_K_M.gguf --port 7860"


@dataclass(frozen=True)
class DemoArgs(AnswerPolicy):
    model: tuple[str, ...] = option((), metavar="GGUF")
    """GGUF or model name to offer (repeatable); default: the shipped reader, the embedded model and
    the GGUFs in models/, export/"""
    host: str = "127.0.0.1"
    """address to listen on"""
    port: int = 7860
    """port"""
    concurrency: int = option(16, minimum=1)
    """requests handed to the answering service at once, where those that arrive together are
    decoded together"""
    queue_size: int = option(64, minimum=1)
    """requests that may wait"""
    threads: int = option(factory=usable_cores, minimum=1)
    """CPU threads for llama.cpp (default: the usable cores)"""


ARGS = DemoArgs


def run(args: DemoArgs) -> int:
    import importlib.util

    if importlib.util.find_spec("gradio") is None:
        raise EdgeQAError("the demo needs gradio: pip install 'edgeqa[demo]'")
    from edgeqa.demo.app import build_app, default_service
    from edgeqa.models.gguf_info import read_gguf_info
    from edgeqa.reader.shipped import resolve_reader_model

    models = [resolve_reader_model(m) for m in args.model]
    for model in models:
        read_gguf_info(model)
    service = default_service(models, AnswerPolicy.of(args), threads=args.threads)
    print(f"edgeqa demo: models {', '.join(service.models)}; http://{args.host}:{args.port}")
    app = build_app(service, concurrency=args.concurrency, queue_size=args.queue_size)
    app.launch(server_name=args.host, server_port=args.port, show_error=True)
    return 0
