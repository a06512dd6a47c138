"""A client for any OpenAI-compatible chat endpoint: a hosted model, or llama.cpp's own server.

Standard library only (urllib), so a baseline needs no SDK. It retries what is worth retrying
(connection errors, 429, 5xx) with exponential backoff, keeps to a request rate, and turns the
rest (a wrong URL, a bad key, an unknown model) into one-line errors.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from edgeqa.errors import EdgeQAError
from edgeqa.option_field import OptionSet, option

RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class EndpointConfig:
    """Where and how to call the endpoint; the API key is read from an environment variable."""

    url: str  # the API base, e.g. http://127.0.0.1:8000/v1
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = 120.0
    retries: int = 4
    backoff_s: float = 1.0
    requests_per_minute: float = 0.0  # 0: no limit

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise EdgeQAError(
                f"--endpoint must be an http(s) URL such as http://127.0.0.1:8000/v1, not {self.url!r}"
            )
        if not self.model:
            raise EdgeQAError("--endpoint-model must name the model the endpoint serves")
        if self.retries < 0 or self.requests_per_minute < 0:
            raise EdgeQAError("--retries and --rate-limit must be >= 0")

    @property
    def label(self) -> str:
        return f"{self.model} @ {self.url}"


@dataclass(frozen=True)
class EndpointOptions(OptionSet):
    """The command-line options that make an EndpointConfig (eval and judge)."""

    GROUP = ("OpenAI-compatible endpoint", "a hosted model or a llama.cpp server")

    endpoint: str | None = option(metavar="URL")
    """API base URL, e.g. http://127.0.0.1:8000/v1"""
    endpoint_model: str | None = option(metavar="NAME")
    """model name the endpoint serves"""
    api_key_env: str = option("OPENAI_API_KEY", metavar="VAR")
    """environment variable holding the API key (unset: no key sent)"""
    rate_limit: float = option(0.0, metavar="RPM")
    """requests per minute (0: no limit)"""
    retries: int = 4
    """retries with exponential backoff"""

    def endpoint_config(self) -> EndpointConfig | None:
        """The endpoint to call, or None without --endpoint."""
        if self.endpoint is None:
            if self.endpoint_model:
                raise EdgeQAError("--endpoint-model needs --endpoint URL")
            return None
        return EndpointConfig(
            url=self.endpoint,
            model=self.endpoint_model or "",
            api_key_env=self.api_key_env,
            retries=self.retries,
            requests_per_minute=self.rate_limit,
        )


@dataclass(frozen=True)
class Completion:
    text: str
    latency_s: float  # of the successful request, excluding backoff waits
    completion_tokens: int
    attempts: int


class EndpointClient:
    def __init__(self, config: EndpointConfig):
        self.config = config
        self._next_start = 0.0

    def _wait_for_rate_limit(self) -> None:
        if self.config.requests_per_minute > 0:
            now = time.monotonic()
            if now < self._next_start:
                time.sleep(self._next_start - now)
            self._next_start = max(now, self._next_start) + 60.0 / self.config.requests_per_minute

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.config.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(
            self.config.url.rstrip("/") + "/chat/completions",
            data=json.dumps(body).encode("utf-8"),
            headers=headers,
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=self.config.timeout_s) as response:
            return json.loads(response.read())

    def chat(
        self, messages: list[dict[str, str]], max_tokens: int, response_format: dict | None = None
    ) -> Completion:
        """Greedy (temperature 0) completion of `messages`."""
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": 0,
        }
        if response_format is not None:
            body["response_format"] = response_format
        for attempt in range(1, self.config.retries + 2):
            self._wait_for_rate_limit()
            started = time.perf_counter()
            try:
                reply = self._post(body)
            except urllib.error.HTTPError as exc:
                if exc.code not in RETRYABLE_STATUS or attempt > self.config.retries:
                    detail = exc.read()[:200].decode("utf-8", errors="replace")
                    raise EdgeQAError(
                        f"{self.config.label}: HTTP {exc.code} {exc.reason}: {detail}"
                    ) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if attempt > self.config.retries:
                    reason = getattr(exc, "reason", exc)
                    raise EdgeQAError(f"{self.config.label}: cannot reach the endpoint ({reason})") from None
            else:
                latency = time.perf_counter() - started
                try:
                    text = reply["choices"][0]["message"]["content"] or ""
                except (KeyError, IndexError, TypeError):
                    raise EdgeQAError(f"{self.config.label}: not an OpenAI chat completion reply") from None
                tokens = int((reply.get("usage") or {}).get("completion_tokens") or 0)
                return Completion(text, latency, tokens, attempt)
            time.sleep(self.config.backoff_s * 2 ** (attempt - 1))
        raise AssertionError("unreachable: the loop returns or raises")
