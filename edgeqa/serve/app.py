"""The HTTP API: a thin FastAPI layer over one Batcher per model (imported only to serve).

Routes follow llama-server's conventions: `GET /health` answers 503 while the models load and
200 once they are ready; `GET /metrics` is Prometheus text; `POST /v1/answer` answers. With an
API key /v1/answer and /metrics want `Authorization: Bearer <key>` (/docs and /openapi.json
show the schema, never data, and stay open). The server keeps recent contexts in its prompt
cache, nothing else: more users means more replicas behind a load balancer.

One request never hurts another: each is checked before it joins a batch (422 naming the
field), fails alone if it still fails inside one, and every reply, errors included, is encoded
so that it cannot fail itself (ASCII JSON, nothing echoed of what was sent).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
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
from edgeqa.serve.batcher import DEFAULT_MAX_WAIT_S, Batcher, BatchRecord, QueueFull
from edgeqa.serve.metrics import ServeMetrics
from edgeqa.serve.schema import AnswerRequest, AnswerResponse, answer_response

LOG = logging.getLogger("edgeqa.serve")
UNCOUNTED = "/health"  # probes, whatever they answer, are not requests in /metrics
DRAIN_IDLE_S = 1.0  # a refused body is read and dropped while it keeps coming, up to DRAIN_BYTES,
DRAIN_BYTES = 64 * 2**20  # so that a client still sending sees the 413, not a reset connection


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


class SafeJSONResponse(JSONResponse):
    """ASCII JSON: a lone surrogate in a message is escaped instead of failing to encode."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


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
        batcher = _batcher_for(state, body.model)
        _check_limits(body, limits)
        try:
            future = batcher.submit(body.question, body.context, body.top_k)
        except EdgeQAError as exc:
            raise HTTPException(422, str(exc)) from None
        except QueueFull as exc:
            raise _busy(str(exc), exc.retry_after) from None
        outcome = await _wait(future, request, batcher.max_wait)
        if outcome == "gone":  # the client went away: nobody reads this
            return Response(status_code=499)
        if outcome == "late":
            raise _busy(f"not started within --max-wait {batcher.max_wait:g} s", 1)
        try:
            found = future.result()
        except EdgeQAError as exc:  # this request's own input, found while reading it
            raise HTTPException(422, str(exc)) from None
        seconds = time.perf_counter() - started
        state.metrics.answered(seconds)
        return answer_response(body.model or next(iter(state.batchers)), found, seconds)


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
    try:
        check_lengths(body.question, body.context, limits.max_question_chars, limits.max_context_chars)
    except EdgeQAError as exc:
        raise HTTPException(413, str(exc)) from None
    if body.top_k > limits.max_top_k:
        raise HTTPException(413, f"top_k: {body.top_k}; the limit is {limits.max_top_k}")


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


class ResponseCounter:
    """ASGI middleware: every response counted by status in /metrics; an exception nobody
    handled becomes one logged traceback and a JSON 500 for that request alone."""

    def __init__(self, app, metrics: ServeMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        status: int | None = None

        async def counted(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counted)
        except Exception:
            LOG.exception("edgeqa serve: %s %s failed", scope.get("method"), scope.get("path"))
            if status is None:
                status = 500
                reply = SafeJSONResponse(
                    {"detail": "internal error; the server log says why"}, status_code=500
                )
                await reply(scope, receive, send)
        scrape = scope.get("path") == "/metrics" and status == 200
        if status is not None and scope.get("path") != UNCOUNTED and not scrape:
            self.metrics.response_sent(status)


class BodyGuard:
    """ASGI middleware: a request body is read whole before anything parses it. One over
    `max_bytes` (declared or streamed) is refused with 413, after reading and dropping what the
    client keeps sending (so it hears the 413); a JSON body that is not UTF-8 gets a 400 that
    says so."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await _drain(receive, 0)
            return await self._reply(scope, receive, send, 413, f"request body over {self.max_bytes} bytes")
        parts, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return None  # the client went away while sending
            parts.append(message.get("body", b""))
            size += len(parts[-1])
            more = message.get("more_body", False)
            if size > self.max_bytes:
                if more:
                    await _drain(receive, size)
                return await self._reply(
                    scope, receive, send, 413, f"request body over {self.max_bytes} bytes"
                )
        body = b"".join(parts)
        if b"json" in headers.get(b"content-type", b""):
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as exc:
                why = f"request body: not UTF-8 (byte 0x{body[exc.start]:02x} at offset {exc.start})"
                return await self._reply(scope, receive, send, 400, why)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: the disconnect, when it comes
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)

    @staticmethod
    async def _reply(scope, receive, send, status: int, detail: str) -> None:
        await SafeJSONResponse({"detail": detail}, status_code=status)(scope, receive, send)


async def _drain(receive, seen: int) -> None:
    """Read and drop the rest of a refused body while it keeps arriving (see DRAIN_BYTES)."""
    while seen < DRAIN_BYTES:
        try:
            message = await asyncio.wait_for(receive(), DRAIN_IDLE_S)
        except asyncio.TimeoutError:  # the builtin TimeoutError only from Python 3.11
            return
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return
