"""Answering for the demo, without Gradio: each model's Reader behind a Batcher, shared by all.

Every user's question joins the batch of whoever asks at the same moment (the scheduler of
`edgeqa serve`), so twenty users wait about as long as a few answers take, not twenty. A
context may be a whole document (up to MAX_CONTEXT_CHARS): it is read in windows. The reply
holds the answer, its score, the next best spans and the document with the answer marked.
"""

from __future__ import annotations

import html
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from edgeqa.errors import EdgeQAError
from edgeqa.reader.answer import Answer
from edgeqa.reader.inputs import MAX_CONTEXT_CHARS, check_lengths, check_text
from edgeqa.reader.policy import AnswerPolicy
from edgeqa.reader.reader import Reader
from edgeqa.runtime.engine_config import EngineConfig
from edgeqa.serve.batcher import Batcher, QueueFull

TOP_K = 3  # the answer and the next best spans shown beside it
NO_ANSWER_MESSAGE = "The context does not contain the answer."
UNSURE_MESSAGE = "Not sure; best guess: {guess}"
DOCUMENT_SUFFIXES = (".txt", ".md")
DOCUMENT_STYLE = "white-space: pre-wrap; max-height: 24em; overflow-y: auto; padding: 0.5em"
MARK_STYLE = "background: #ffe066; color: #000"
GUESS_STYLE = "background: #e8e8e8; color: #000; outline: 1px dashed #888"  # unsure: a best guess


@dataclass(frozen=True)
class Reply:
    """What the page shows once an answer is ready."""

    answer: str
    abstained: bool
    score: float
    total_s: float
    rss_mib: float
    alternatives: list[Answer] = field(default_factory=list)
    document_html: str = ""

    def stats_line(self) -> str:
        what = "no-answer probability" if self.abstained else "score"
        seconds = f"{self.total_s:.2f} s (queue included)"
        return f"{what} {self.score:.2f} · {seconds} · process RSS {self.rss_mib:.0f} MiB"

    def alternatives_markdown(self) -> str:
        if not self.alternatives:
            return ""
        return "Next best: " + " · ".join(f"{a.text} ({a.score:.2f})" for a in self.alternatives)


def marked_document(context: str, answer: Answer) -> str:
    """The context as HTML with the answer's span marked (id `answer-mark`, so the page can
    scroll to it), or an abstention's best guess marked as unsure; the text itself is escaped."""
    shown = answer.best_guess
    if shown is None or shown.start is None or shown.end is None:
        body = html.escape(context)
    else:
        span = html.escape(context[shown.start : shown.end])
        style = GUESS_STYLE if answer.abstained else MARK_STYLE
        body = (
            html.escape(context[: shown.start])
            + f'<mark id="answer-mark" style="{style}">{span}</mark>'
            + html.escape(context[shown.end :])
        )
    return f'<div class="edgeqa-document" style="{DOCUMENT_STYLE}">{body}</div>'


def read_document(path: str | Path) -> str:
    """An uploaded .txt / .md file as text: one line naming what is wrong otherwise."""
    path = Path(path)
    if path.suffix.lower() not in DOCUMENT_SUFFIXES:
        raise EdgeQAError(
            f"{path.name}: upload a .txt or .md file, not {path.suffix or 'a file without a suffix'}"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise EdgeQAError(f"{path.name}: not UTF-8 text") from None
    if len(text) > MAX_CONTEXT_CHARS:
        raise EdgeQAError(f"{path.name}: {len(text)} characters; the limit is {MAX_CONTEXT_CHARS}.")
    return text


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


def check_inputs(context: object, question: object) -> tuple[str, str]:
    """The page's texts, stripped, under the Reader's rules and the limits; one message each."""
    context = context.strip() if isinstance(context, str) else context
    question = question.strip() if isinstance(question, str) else question
    if not context:
        raise EdgeQAError("Paste a context (a paragraph the answer should come from).")
    if not question:
        raise EdgeQAError("Ask a question about the context.")
    context, question = check_text("context", context), check_text("question", question)
    check_lengths(question, context)
    return context, question


def _said(best: Answer) -> str:
    """The answer line: the span; when abstaining, "not sure" with the best guess if any."""
    if not best.abstained:
        return best.text
    guess = best.best_guess
    return UNSURE_MESSAGE.format(guess=guess.text) if guess else NO_ANSWER_MESSAGE


# Long contexts, a batch per burst of users, answers up to 48 tokens, recent paragraphs kept cached
DEMO_ENGINE = EngineConfig(n_ctx=8192, parallel=16, max_answer_tokens=48, prompt_cache=16)


class QAService:
    """One Reader and Batcher per model, loaded on first use and shared by every request."""

    def __init__(
        self,
        models: dict[str, Path],
        config: EngineConfig | None = None,
        policy: AnswerPolicy | None = None,
        queue_size: int = 64,
    ):
        """`policy` is applied to each model when it loads (its calibrated threshold, with auto)."""
        if not models:
            raise EdgeQAError("the demo found no GGUF model; pass --model PATH.gguf")
        self.models = models
        self.config = config or DEMO_ENGINE
        self.policy = policy or AnswerPolicy()
        self.queue_size = queue_size
        self._batchers: dict[str, Batcher] = {}
        self._loading = threading.Lock()

    @property
    def default_model(self) -> str:
        return next(iter(self.models))

    def batcher(self, name: str) -> Batcher:
        """The batcher of `name`'s loaded reader; a shipped reader loads as its merged copy."""
        from edgeqa.models.registry import reader_name
        from edgeqa.reader.shipped import resolve_reader_model

        if name not in self.models:
            raise EdgeQAError(f"Unknown model {name!r}; choose one of: {', '.join(self.models)}")
        with self._loading:
            if name not in self._batchers:
                path = self.models[name]
                shipped = reader_name(path)
                model = resolve_reader_model(shipped) if shipped else path
                reader = Reader.from_settings(model, self.policy, self.config, mix_contexts=True)
                self._batchers[name] = Batcher(reader, self.queue_size, max_batch=self.config.parallel)
            return self._batchers[name]

    def answer(self, context: str, question: str, model: str | None = None) -> Reply:
        """The answer with its score, the next best spans and the marked document."""
        import psutil

        context, question = check_inputs(context, question)
        started = time.perf_counter()
        try:
            future = self.batcher(model or self.default_model).submit(question, context, TOP_K)
        except QueueFull:
            raise EdgeQAError("The demo is busy; ask again in a moment.") from None
        answers = future.result()
        best = answers[0]
        shown = best.best_guess
        return Reply(
            answer=_said(best),
            abstained=best.abstained,
            score=best.no_answer_prob if best.abstained else best.score,
            total_s=time.perf_counter() - started,
            rss_mib=psutil.Process().memory_info().rss / 2**20,
            alternatives=[a for a in answers[1:] if not a.abstained and a is not shown],
            document_html=marked_document(context, best),
        )

    def close(self) -> None:
        for batcher in self._batchers.values():
            batcher.close()
            batcher.reader.close()
        self._batchers.clear()
