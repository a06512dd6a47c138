"""The HTTP API: a thin FastAPI layer over one Batcher per model (imported only to serve).

Routes follow llama-server's conventions: `GET /health` answers 503 while the models load and
200 once they are ready; `GET /metrics` is Prometheus text; `POST /v1/answer` answers, and so do
`POST /` and `POST /models/<name>` in the Hugging Face question-answering task's JSON
(hf_task.py). With an API key those and /metrics want `Authorization: Bearer <key>` (/docs and
/openapi.json show the schema, never data, and stay open). The server keeps recent contexts in its prompt
cache, nothing else: more users means more replicas behind a load balancer.

One request never hurts another: each is checked before it joins a batch (422 naming the
field), fails alone if it still fails inside one, and every reply, errors included, is encoded
so that it cannot fail itself (ASCII JSON, nothing echoed of what was sent).
"""

from __future__ import annotations

import asyncio
import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from edgeqa.errors import EdgeQAError
from edgeqa.reader.inputs import MAX_CONTEXT_CHARS, MAX_QUESTION_CHARS, check_lengths
from edgeqa.reader.windows import WindowOptions
from edgeqa.runtime.prompt_cache import CacheStats
from edgeqa.serve.batcher import DEFAULT_MAX_WAIT_S, Batcher, BatchRecord, QueueFull
from edgeqa.serve.hf_task import QARequest, task_answers
from edgeqa.serve.metrics import ServeMetrics
from edgeqa.serve.middleware import BodyGuard, ResponseCounter, SafeJSONResponse
from edgeqa.serve.schema import AnswerRequest, AnswerResponse, answer_response


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 12 * (MAX_CONTEXT_CHARS + MAX_QUESTION_CHARS) + 65_536
    max_context_chars: int = MAX_CONTEXT_CHARS
    max_question_chars: int = MAX_QUESTION_CHARS
    max_top_k: int = 10

    @classmethod
    def for_texts(cls, max_context_chars: int, max_question_chars: int) -> Limits:
        """Limits whose byte cap admits any text within the character limits, however it is
        sent: JSON may escape one character as up to 12 bytes (a surrogate pair)."""
        return cls(
            12 * (max_context_chars + max_question_chars) + 65_536, max_context_chars, max_question_chars
        )


class ServerState:
    """The models (loaded in the background so /health can say 503 meanwhile) and counters."""

    def __init__(
        self,
        load: Callable[[], dict[str, Any]],
        queue_size: int,
        max_batch: int,
        max_wait: float = DEFAULT_MAX_WAIT_S,
    ):
        self.metrics = ServeMetrics()
        self.batchers: dict[str, Batcher] = {}
        self.error: str | None = None
        self.ready = threading.Event()
        self._load, self._queue_size, self._max_batch, self._max_wait = load, queue_size, max_batch, max_wait

    def start_loading(self) -> None:
        threading.Thread(target=self._load_all, name="edgeqa-load", daemon=True).start()

    def _load_all(self) -> None:
        try:
            readers = self._load()
        except Exception as exc:  # shown by /health; the process stays up to say why
            self.error = f"{type(exc).__name__}: {exc}"
            return
        for name, reader in readers.items():
            self.batchers[name] = Batcher(
                reader, self._queue_size, self._max_batch, self._count_batch, self._max_wait
            )
        self.ready.set()

    def _count_batch(self, record: BatchRecord) -> None:
        self.metrics.batch_done(
            record.size,
            sum(a.prompt_tokens for a in record.answers),
            sum(a.generated_tokens for a in record.answers),
        )

    @property
    def queue_depth(self) -> int:
        return sum(b.depth for b in self.batchers.values())

    def cache_stats(self) -> CacheStats:
        """Every model's prompt-cache counts, summed (plain integers: read without a lock)."""
        total = CacheStats()
        for batcher in self.batchers.values():
            counts = batcher.reader.engine.prompt_cache.stats
            for name in vars(total):
                setattr(total, name, getattr(total, name) + getattr(counts, name))
        return total

    def close(self) -> None:
        for batcher in self.batchers.values():
            batcher.close()
            batcher.reader.close()


def _bearer_check(api_key: str | None):
    """The dependency every route but /health takes: with a key, a matching Bearer token
    (compared in constant time) or 401."""

    def authorized(request: Request) -> None:
        if api_key is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), api_key):
            raise HTTPException(
                401,
                "missing or wrong API key: send Authorization: Bearer <key>",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return authorized


def _add_status_routes(app, state: ServerState, authorized) -> None:
    @app.get("/health")
    def health() -> JSONResponse:
        if state.ready.is_set():
            return JSONResponse({"status": "ok", "models": list(state.batchers)})
        status = "error" if state.error else "loading"
        return JSONResponse({"status": status, "error": state.error}, status_code=503)

    @app.get("/metrics", dependencies=[Depends(authorized)], response_class=PlainTextResponse)
    def metrics() -> str:
        return state.metrics.render(state.queue_depth, state.ready.is_set(), state.cache_stats())


def _add_answer_route(app, state: ServerState, limits: Limits, authorized) -> None:
    @app.post("/v1/answer", dependencies=[Depends(authorized)], response_model=AnswerResponse)
    async def answer(body: AnswerRequest, request: Request) -> Any:
        """The answer to `question` from `context` (read in windows when long); with top_k > 1
        also the next best spans under `answers`."""
        read = await _read(state, limits, request, body.model, body.question, body.context, body.top_k)
        if read is None:  # the client went away: nobody reads this
            return Response(status_code=499)
        found, seconds = read
        return answer_response(body.model or next(iter(state.batchers)), found, seconds)


def _add_task_routes(app, state: ServerState, limits: Limits, authorized) -> None:
    """The Hugging Face question-answering task (hf_task.py): at the root, where
    InferenceClient(model="http://host:port") posts, and at /models/<name> for a chosen model."""

    async def task(body: QARequest, request: Request, model: str | None) -> Any:
        parameters = body.parameters
        # never abstaining needs the best guesses, which the reader decodes for top_k > 1
        top_k = parameters.top_k if parameters.handle_impossible_answer else max(2, parameters.top_k)
        inputs = body.inputs
        read = await _read(
            state, limits, request, model, inputs.question, inputs.context, top_k, parameters.doc_stride
        )
        return Response(status_code=499) if read is None else task_answers(read[0], parameters)

    @app.post("/", dependencies=[Depends(authorized)], summary="question answering (Hugging Face task)")
    async def task_default(body: QARequest, request: Request) -> Any:
        """The first model's answer in the Hugging Face question-answering task's JSON."""
        return await task(body, request, None)

    @app.post("/models/{model}", dependencies=[Depends(authorized)], summary="question answering, one model")
    async def task_model(model: str, body: QARequest, request: Request) -> Any:
        """`model`'s answer in the Hugging Face question-answering task's JSON."""
        return await task(body, request, model)


async def _read(
    state: ServerState,
    limits: Limits,
    request: Request,
    model: str | None,
    question: str,
    context: str,
    top_k: int,
    doc_stride: int | None = None,
) -> tuple[Any, float] | None:
    """(the reader's answer, seconds since arrival), through the model's batcher; None when
    the client went away. Refusals are HTTPExceptions: 404, 413, 422, 503 with Retry-After."""
    started = time.perf_counter()
    batcher = _batcher_for(state, model)
    _check_limits(question, context, top_k, limits)
    try:
        if doc_stride is not None:
            WindowOptions(batcher.reader.windows.max_seq_len, doc_stride, batcher.reader.windows.max_windows)
        future = batcher.submit(question, context, top_k, doc_stride)
    except EdgeQAError as exc:
        raise HTTPException(422, str(exc)) from None
    except QueueFull as exc:
        raise _busy(str(exc), exc.retry_after) from None
    outcome = await _wait(future, request, batcher.max_wait)
    if outcome == "gone":
        return None
    if outcome == "late":
        raise _busy(f"not started within --max-wait {batcher.max_wait:g} s", 1)
    try:
        found = future.result()
    except EdgeQAError as exc:  # this request's own input, found while reading it
        raise HTTPException(422, str(exc)) from None
    seconds = time.perf_counter() - started
    state.metrics.answered(seconds)
    return found, seconds


def _busy(why: str, retry_after: int) -> HTTPException:
    return HTTPException(503, f"busy: {why}; retry later", headers={"Retry-After": str(retry_after)})


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """FastAPI's 422 body without the `input` it echoes (a NaN or a lone surrogate there made
    the error reply itself fail): where, what, and the JSON parser's own words."""
    errors = []
    for error in exc.errors():
        message = error.get("msg", "")
        parser_error = (error.get("ctx") or {}).get("error")
        if error.get("type") == "json_invalid" and parser_error:
            message = f"{message}: {parser_error}"
        errors.append(
            {
                "loc": [str(part) for part in error.get("loc", ())],
                "msg": str(message),
                "type": error.get("type"),
            }
        )
    return errors


def create_app(state: ServerState, limits: Limits, api_key: str | None = None):
    """The FastAPI application; `state.start_loading()` runs when it starts."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(_app):
        state.start_loading()
        yield
        await asyncio.to_thread(state.close)

    app = FastAPI(
        title="edgeqa",
        summary="Extractive question answering on the CPU: answers with their offsets in the context.",
        lifespan=lifespan,
        default_response_class=SafeJSONResponse,
    )
    app.add_middleware(BodyGuard, max_bytes=limits.max_body_bytes)
    app.add_middleware(ResponseCounter, metrics=state.metrics)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        """422 naming each bad or missing field."""
        return SafeJSONResponse({"detail": _validation_errors(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def refused(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return SafeJSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    authorized = _bearer_check(api_key)
    _add_status_routes(app, state, authorized)
    _add_answer_route(app, state, limits, authorized)
    _add_task_routes(app, state, limits, authorized)
    return app


def _batcher_for(state: ServerState, model: str | None) -> Batcher:
    if not state.ready.is_set():
        raise HTTPException(
            503, "the models are still loading; see GET /health", headers={"Retry-After": "5"}
        )
    if model is None:
        return next(iter(state.batchers.values()))
    if model not in state.batchers:
        raise HTTPException(404, f"unknown model {model!r}; this server has: {', '.join(state.batchers)}")
    return state.batchers[model]


def _check_limits(question: str, context: str, top_k: int, limits: Limits) -> None:
    try:
        check_lengths(question, context, limits.max_question_chars, limits.max_context_chars)
    except EdgeQAError as exc:
        raise HTTPException(413, str(exc)) from None
    if top_k > limits.max_top_k:
        raise HTTPException(413, f"top_k: {top_k}; the limit is {limits.max_top_k}")


async def _wait(future, request: Request, max_wait: float) -> str:
    """ "done" once the future is; "gone" once the client has gone, "late" when the request did
    not start within `max_wait` seconds (either way its job, not yet started, is cancelled and
    frees its place: no request waits past the bound)."""
    waiting = asyncio.wrap_future(future)
    began = time.perf_counter()
    while True:
        done, _ = await asyncio.wait({waiting}, timeout=0.25)
        if done:
            return "done"
        if await request.is_disconnected() and future.cancel():
            return "gone"
        if time.perf_counter() - began > max_wait and future.cancel():
            return "late"
