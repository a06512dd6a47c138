"""Answering for the demo, without Gradio: readers loaded once, shared, and guarded by a lock.

A context that fits one window streams its answer; a longer one (up to MAX_CONTEXT_CHARS) is
read in windows and answered at once.

The browser only ever sends a model's display name; paths stay on the server, so a request
cannot make the app open an arbitrary file.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from edgeqa.errors import EdgeQAError
from edgeqa.prompts import parse_answer
from edgeqa.reader.policy import AnswerPolicy
from edgeqa.reader.reader import Reader
from edgeqa.runtime.engine_config import EngineConfig, StreamTimings

MAX_CONTEXT_CHARS = 200_000
MAX_QUESTION_CHARS = 300
NO_ANSWER_MESSAGE = "The context does not contain the answer."


@dataclass(frozen=True)
class Reply:
    """What the page shows while an answer streams, and once it is complete."""

    answer: str
    done: bool
    abstained: bool = False
    ttft_s: float | None = None
    total_s: float | None = None
    rss_mib: float | None = None

    def stats_line(self) -> str:
        if not self.done:
            return "generating…"
        return (
            f"time to first token {self.ttft_s:.2f} s · total {self.total_s:.2f} s · "
            f"process RSS {self.rss_mib:.0f} MiB"
        )


def model_choices(paths: list[Path], sources: dict[Path, str] | None = None) -> dict[str, Path]:
    """Display name -> path; an exported model names what it was exported from (its manifest);
    names stay unique when two folders hold the same file name."""
    from edgeqa.models.registry import reader_name

    choices: dict[str, Path] = {}
    for path in paths:
        source = (sources or {}).get(path.resolve())
        name = reader_name(path) or (f"{path.stem} (from {source})" if source else path.stem)
        if name in choices:
            name = f"{path.parent.name}/{path.stem}"
        choices[name] = path
    return choices


def shown_answer(generated: str) -> tuple[str, bool]:
    """(text for the page, whether the model abstained): an abstention is said in plain words."""
    prediction = parse_answer(generated)
    return (prediction, False) if prediction else (NO_ANSWER_MESSAGE, True)


def check_inputs(context: str, question: str) -> tuple[str, str]:
    context, question = (context or "").strip(), (question or "").strip()
    if not context:
        raise EdgeQAError("Paste a context (a paragraph the answer should come from).")
    if not question:
        raise EdgeQAError("Ask a question about the context.")
    if len(context) > MAX_CONTEXT_CHARS:
        raise EdgeQAError(f"The context is {len(context)} characters; the limit is {MAX_CONTEXT_CHARS}.")
    if len(question) > MAX_QUESTION_CHARS:
        raise EdgeQAError(f"The question is {len(question)} characters; the limit is {MAX_QUESTION_CHARS}.")
    return context, question


class QAService:
    """One Reader per model, loaded on first use and shared by every request."""

    def __init__(
        self, models: dict[str, Path], config: EngineConfig | None = None, policy: AnswerPolicy | None = None
    ):
        """`policy` is applied to each model when it loads (its calibrated threshold, with auto)."""
        if not models:
            raise EdgeQAError("the demo found no GGUF model; pass --model PATH.gguf")
        self.models = models
        self.config = config or EngineConfig(n_ctx=4096, parallel=1, max_answer_tokens=48)
        self.policy = policy or AnswerPolicy()
        self._readers: dict[str, Reader] = {}
        self._locks = {name: threading.Lock() for name in models}
        self._loading = threading.Lock()

    @property
    def default_model(self) -> str:
        return next(iter(self.models))

    def reader(self, name: str) -> Reader:
        """The loaded reader of `name`; a shipped reader loads as its merged fast copy."""
        from edgeqa.models.registry import reader_name
        from edgeqa.reader.shipped import resolve_reader_model

        if name not in self.models:
            raise EdgeQAError(f"Unknown model {name!r}; choose one of: {', '.join(self.models)}")
        with self._loading:
            if name not in self._readers:
                path = self.models[name]
                shipped = reader_name(path)
                model = resolve_reader_model(shipped) if shipped else path
                self._readers[name] = Reader.from_settings(model, self.policy, self.config)
            return self._readers[name]

    def answer(self, context: str, question: str, model: str | None = None) -> Iterator[Reply]:
        """Replies with the answer so far, ending with a complete one carrying its timings."""
        import psutil

        context, question = check_inputs(context, question)
        name = model or self.default_model
        reader = self.reader(name)
        started = time.perf_counter()
        with self._locks[name]:
            waited_s = time.perf_counter() - started  # queue for the model
            timings = StreamTimings()
            if len(reader.split(context)) > 1:
                found = reader.answer(question, context)
                text = found.text or found.raw
                timings.first_token_s = time.perf_counter() - started - waited_s
            else:
                text = ""
                for piece in reader.stream(question, context, timings):
                    text += piece
                    yield Reply(answer=text, done=False)
        shown, abstained = shown_answer(text)
        yield Reply(
            answer=shown,
            done=True,
            abstained=abstained,
            ttft_s=waited_s + timings.first_token_s,
            total_s=time.perf_counter() - started,
            rss_mib=psutil.Process().memory_info().rss / 2**20,
        )

    def close(self) -> None:
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()
