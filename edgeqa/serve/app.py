"""The HTTP API: a thin FastAPI layer over one Batcher per model (imported only to serve).

Routes follow llama-server's conventions: `GET /health` answers 503 while the models load and
200 once they are ready; `GET /metrics` is Prometheus text; `POST /v1/answer` answers. With an
API key every route but /health wants `Authorization: Bearer <key>`. The server keeps no state
between requests, so more users means more replicas behind a load balancer.
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
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from edgeqa.serve.batcher import Batcher, BatchRecord, QueueFull
from edgeqa.serve.metrics import ServeMetrics
from edgeqa.serve.schema import AnswerRequest, AnswerResponse, answer_response

RETRY_AFTER_S = 2


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1_048_576
    max_context_chars: int = 200_000
    max_question_chars: int = 1_000
    max_top_k: int = 10


class ServerState:
    """The models (loaded in the background so /health can say 503 meanwhile) and counters."""

    def __init__(self, load: Callable[[], dict[str, Any]], queue_size: int, max_batch: int):
        self.metrics = ServeMetrics()
        self.batchers: dict[str, Batcher] = {}
        self.error: str | None = None
        self.ready = threading.Event()
        self._load, self._queue_size, self._max_batch = load, queue_size, max_batch

    def start_loading(self) -> None:
        threading.Thread(target=self._load_all, name="edgeqa-load", daemon=True).start()

    def _load_all(self) -> None:
        try:
            readers = self._load()
        except Exception as exc:  # shown by /health; the process stays up to say why
            self.error = f"{type(exc).__name__}: {exc}"
            return
        for name, reader in readers.items():
            self.batchers[name] = Batcher(reader, self._queue_size, self._max_batch, self._count_batch)
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
        return state.metrics.render(state.queue_depth, state.ready.is_set())


def _add_answer_route(app, state: ServerState, limits: Limits, authorized) -> None:
    @app.post("/v1/answer", dependencies=[Depends(authorized)], response_model=AnswerResponse)
    async def answer(body: AnswerRequest, request: Request) -> Any:
        """The answer to `question` from `context` (read in windows when long); with top_k > 1
        also the next best spans under `answers`."""
        started = time.perf_counter()
        try:
            batcher = _batcher_for(state, body.model)
            _check_limits(body, limits)
            future = batcher.submit(body.question, body.context, body.top_k)
        except HTTPException as exc:
            state.metrics.request_done(exc.status_code)
            raise
        except QueueFull as exc:
            state.metrics.request_done(503)
            raise HTTPException(
                503, f"busy: {exc}; retry later", headers={"Retry-After": str(RETRY_AFTER_S)}
            ) from None
        found = await _wait(future, request)
        if found is None:  # the client went away: nobody reads this
            state.metrics.request_done(499)
            return Response(status_code=499)
        seconds = time.perf_counter() - started
        state.metrics.request_done(200, seconds)
        return answer_response(body.model or next(iter(state.batchers)), found, seconds)


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
    )
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        """422 naming each bad or missing field (FastAPI's own reply), counted in /metrics."""
        state.metrics.request_done(422)
        return await request_validation_exception_handler(request, exc)

    authorized = _bearer_check(api_key)
    _add_status_routes(app, state, authorized)
    _add_answer_route(app, state, limits, authorized)
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


def _check_limits(body: AnswerRequest, limits: Limits) -> None:
    if len(body.context) > limits.max_context_chars:
        raise HTTPException(
            413, f"context: {len(body.context)} characters; the limit is {limits.max_context_chars}"
        )
    if len(body.question) > limits.max_question_chars:
        raise HTTPException(
            413, f"question: {len(body.question)} characters; the limit is {limits.max_question_chars}"
        )
    if body.top_k > limits.max_top_k:
        raise HTTPException(413, f"top_k: {body.top_k}; the limit is {limits.max_top_k}")


async def _wait(future, request) -> Any:
    """The future's result, or None once the client has gone (its job, if not started, is
    cancelled: it frees its place in the queue)."""
    waiting = asyncio.wrap_future(future)
    while True:
        done, _ = await asyncio.wait({waiting}, timeout=0.25)
        if done:
            return waiting.result()
        if await request.is_disconnected():
            future.cancel()
            return None


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` is refused with 413 before it is parsed,
    whether it declares its length or streams it."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _TooLarge
            return message

        try:
            return await self.app(scope, counted, send)
        except _TooLarge:
            return await self._refuse(scope, receive, send)

    async def _refuse(self, scope, receive, send) -> None:
        response = JSONResponse({"detail": f"request body over {self.max_bytes} bytes"}, status_code=413)
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass
