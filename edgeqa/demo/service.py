"""Answering for the demo, without Gradio: models loaded once, shared, and guarded by a lock.

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
from edgeqa.evaluation.answer_policy import AnswerPolicy
from edgeqa.prompts import parse_answer
from edgeqa.runtime.engine import QAEngine
from edgeqa.runtime.engine_config import EngineConfig, StreamTimings

MAX_CONTEXT_CHARS = 6000
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
    """One engine per model, loaded on first use and shared by every request."""

    def __init__(
        self, models: dict[str, Path], config: EngineConfig | None = None, policy: AnswerPolicy | None = None
    ):
        """`policy` is applied to each model when it loads (its calibrated threshold, with auto);
        without one, `config` is used as it is."""
        if not models:
            raise EdgeQAError("the demo found no GGUF model; pass --model PATH.gguf")
        self.models = models
        self.config = config or EngineConfig(n_ctx=4096, parallel=1, max_answer_tokens=48)
        self.policy = policy
        self._engines: dict[str, QAEngine] = {}
        self._locks = {name: threading.Lock() for name in models}
        self._loading = threading.Lock()

    @property
    def default_model(self) -> str:
        return next(iter(self.models))

    def engine(self, name: str) -> QAEngine:
        if name not in self.models:
            raise EdgeQAError(f"Unknown model {name!r}; choose one of: {', '.join(self.models)}")
        with self._loading:
            if name not in self._engines:
                path = self.models[name]
                config = self.policy.apply(self.config, path)[0] if self.policy else self.config
                self._engines[name] = QAEngine(path, config)
            return self._engines[name]

    def answer(self, context: str, question: str, model: str | None = None) -> Iterator[Reply]:
        """Replies with the answer so far, ending with a complete one carrying its timings."""
        import psutil

        context, question = check_inputs(context, question)
        name = model or self.default_model
        engine = self.engine(name)
        started = time.perf_counter()
        with self._locks[name]:
            prompt = engine.qa_prompt(context, question)
            timings = StreamTimings()
            text = ""
            waited_s = time.perf_counter() - started  # queue for the model + tokenization
            for piece in engine.stream(prompt, timings, context=context):
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
        for engine in self._engines.values():
            engine.close()
        self._engines.clear()
