"""The ASGI layers around the API: every response counted, and bodies read whole and checked
before anything parses them (so that no reply, errors included, can fail or go unheard)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from fastapi.responses import JSONResponse

from edgeqa.serve.metrics import ServeMetrics

LOG = logging.getLogger("edgeqa.serve")
UNCOUNTED = "/health"  # probes, whatever they answer, are not requests in /metrics
DRAIN_IDLE_S = 1.0  # a refused body is read and dropped while it keeps coming, up to DRAIN_BYTES,
DRAIN_BYTES = 64 * 2**20  # so that a client still sending sees the 413, not a reset connection


class SafeJSONResponse(JSONResponse):
    """ASCII JSON: a lone surrogate in a message is escaped instead of failing to encode."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


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
