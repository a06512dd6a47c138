"""`edgeqa serve`: the reader behind an HTTP API, many users batched together."""

from __future__ import annotations

import os
from dataclasses import dataclass

from edgeqa.errors import EdgeQAError
from edgeqa.hardware import usable_cores
from edgeqa.option_field import option
from edgeqa.reader.inputs import MAX_CONTEXT_CHARS, MAX_QUESTION_CHARS
from edgeqa.reader.policy import AnswerPolicy
from edgeqa.reader.windows import WindowOptions
from edgeqa.runtime.engine_config import EngineConfig

API_KEY_ENV = "EDGEQA_API_KEY"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
DESCRIPTION = (
    "Serve POST /v1/answer (question + context -> the answer with its offsets, score and "
    "no-answer probability), GET /health (503 while loading, 200 when ready) and GET /metrics "
    "(Prometheus). Requests that wait together are decoded together; a request that the queue "
    "cannot hold, or that could not start within --max-wait, is answered 503 with Retry-After at "
    "once. The API's schema is at /docs."
)
EPILOG = (
    "example: edgeqa serve --model smollm2-135m-squad --port 8080\n"
    "         curl -s localhost:8080/v1/answer -H 'Content-Type: application/json' \\\n"
    '              -d \'{"question": "Who?", "context": "Gustave Eiffel designed it."}\''
)


@dataclass(frozen=True)
class ServeArgs(AnswerPolicy, WindowOptions):
    model: tuple[str, ...] = option((), metavar="GGUF")
    """GGUF or model name to serve (repeatable; requests choose one by name); default: the
    shipped reader smollm2-135m-squad"""
    host: str = "127.0.0.1"
    """address to listen on (0.0.0.0 exposes the server to the network: set an API key)"""
    port: int = 8080
    """port"""
    api_key: str | None = option(metavar="KEY")
    """require `Authorization: Bearer KEY` on every route but /health (default: $EDGEQA_API_KEY;
    none when unset)"""
    threads: int = option(factory=usable_cores, minimum=1)
    """CPU threads for llama.cpp (default: the usable cores)"""
    queue_size: int = option(64, minimum=1)
    """requests that may wait; more are answered 503 with Retry-After"""
    max_wait: float = 30.0
    """seconds a request may wait to start: one that would wait longer (judged from the recent
    seconds per request) is answered 503 with Retry-After at once, and none waits past it"""
    max_batch: int = option(32, minimum=1)
    """requests answered together at most"""
    parallel: int = option(EngineConfig.parallel, minimum=1)
    """sequences decoded together in one llama.cpp batch"""
    n_ctx: int = option(8192, minimum=1)
    """KV cache size in tokens, shared by the sequences decoded together and the prompt cache"""
    prompt_cache: int = option(16, minimum=0)
    """contexts kept in the KV cache between batches, so a document asked about again is not
    read again (0: none)"""
    cache_ram: int = option(256, minimum=0)
    """MiB of host memory for prompt-cache entries evicted from the KV cache (llama.cpp sequence
    state, about 6 MiB a SQuAD paragraph for the shipped reader), restored on a prefix hit
    instead of read again (0: none)"""
    max_context_chars: int = option(MAX_CONTEXT_CHARS, minimum=1)
    """longer contexts are refused with 413"""
    max_question_chars: int = option(MAX_QUESTION_CHARS, minimum=1)
    """longer questions are refused with 413"""

    def _validate(self) -> None:
        if not self.max_wait > 0:
            raise EdgeQAError(f"--max-wait must be a number of seconds above 0, not {self.max_wait}")
        if not 0 < self.port < 65536:
            raise EdgeQAError(f"--port must be in 1..65535, not {self.port}")


ARGS = ServeArgs


def model_names(models: tuple[str, ...]) -> dict[str, str]:
    """Name a request uses -> the --model value: a model name as given, a file by its stem."""
    from pathlib import Path

    from edgeqa.models.registry import READERS

    names: dict[str, str] = {}
    for model in models:
        name = model if model in READERS or model == "embedded" else Path(model).stem
        if name in names:
            raise EdgeQAError(f"--model: two models would be named {name!r}")
        names[name] = model
    return names


def exposure_warning(host: str, api_key: str | None) -> str | None:
    """The line to print when the server listens beyond this machine without a key."""
    if api_key is not None or host in LOOPBACK_HOSTS:
        return None
    return (
        f"edgeqa serve: warning: --host {host} without an API key lets anyone who can reach this "
        f"machine use it; set --api-key or ${API_KEY_ENV}"
    )


def _listen(host: str, port: int):
    """The server's socket, bound before anything says it is up: a bad --host or a port in use
    is one line naming the option."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise EdgeQAError(f"--host {host}: not an address of this machine ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    listener = socket.socket(family, kind, proto)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(address)
    except OSError as exc:
        listener.close()
        raise EdgeQAError(f"--host {host} --port {port}: cannot listen there ({exc.strerror})") from None
    return listener


def _loaders(names: dict[str, str]) -> dict[str, object]:
    """Name -> a function giving its GGUF path. Files are checked now, before the server
    starts; a shipped reader's first-use merge (seconds) runs while /health says loading."""
    from edgeqa.models.gguf_info import read_gguf_info
    from edgeqa.models.registry import READERS, resolve_model
    from edgeqa.reader.shipped import resolve_reader_model

    loaders = {}
    for name, model in names.items():
        path = resolve_model(model)
        read_gguf_info(path)  # a bad file fails here
        loaders[name] = (lambda m=model: resolve_reader_model(m)) if model in READERS else (lambda p=path: p)
    return loaders


def run(args: ServeArgs) -> int:
    import importlib.util

    if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("uvicorn") is None:
        raise EdgeQAError("edgeqa serve needs FastAPI and uvicorn: pip install 'edgeqa[server]'")
    import uvicorn

    from edgeqa.reader.reader import Reader
    from edgeqa.serve.app import Limits, ServerState, create_app

    loaders = _loaders(model_names(args.model or ("smollm2-135m-squad",)))
    policy = AnswerPolicy.of(args)
    engine = EngineConfig(
        n_ctx=args.n_ctx,
        n_threads=args.threads,
        parallel=args.parallel,
        prompt_cache=args.prompt_cache,
        prompt_cache_ram_mib=args.cache_ram,
    )

    def load() -> dict[str, Reader]:
        return {
            name: Reader.from_settings(path(), policy, engine, args.window_settings(), mix_contexts=True)
            for name, path in loaders.items()
        }

    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    listener = _listen(args.host, args.port)
    state = ServerState(load, args.queue_size, args.max_batch, args.max_wait)
    app = create_app(state, Limits.for_texts(args.max_context_chars, args.max_question_chars), api_key)
    shown = "on" if api_key else "off"
    print(
        f"edgeqa serve: {', '.join(loaders)} on http://{args.host}:{args.port} (API key {shown}); "
        "docs at /docs; GET /health says when the models are loaded",
        flush=True,
    )
    warning = exposure_warning(args.host, api_key)
    if warning:
        print(warning, flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[listener])
    return 0
