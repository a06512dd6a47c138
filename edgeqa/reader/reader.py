"""`edgeqa.Reader`: answers with their place in the context, for users and for edgeqa itself.

    from edgeqa import Reader

    with Reader("smollm2-135m-squad") as reader:
        answer = reader.answer("Where is the Eiffel Tower?", "The Eiffel Tower is in Paris.")
        print(answer.text, answer.start, answer.score)

Every answer a user sees (eval, calibrate, serve, the demo, the pipeline, the profiler) comes
through this class, so one answer policy (`auto`: the reader's calibrated threshold) holds
everywhere; only the export's checks, which compare logits, use the engine bare.
It is a thin layer over the engine: it groups questions by context so the engine's prefix
sharing works, reads a context longer than one window in windows (windows.py) and combines
what each window found into one `Answer`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from edgeqa.errors import EdgeQAError
from edgeqa.prompts import ABSTAIN, parse_answer
from edgeqa.reader.answer import Answer
from edgeqa.reader.calibration import ThresholdChoice
from edgeqa.reader.guard import CLOSED, UseGuard
from edgeqa.reader.inputs import check_int, check_pair, check_pairs, check_text, check_top_k
from edgeqa.reader.policy import AnswerPolicy
from edgeqa.reader.threshold import NoAnswerThreshold
from edgeqa.reader.windows import QUESTION_RESERVE, Window, WindowIndex, WindowOptions, locate, plan_windows
from edgeqa.runtime.engine_config import EngineConfig, Generation, StreamTimings

DEFAULT_READER = "smollm2-135m-squad"
ALTERNATIVES = 2  # extra first tokens tried per top-k answer: some lead to the same span
CHUNK_QUESTIONS = 64  # questions read together before their answers are handed out


RETRIEVAL_WEIGHT = 1 / 3  # per BM25 point, in the log-probability units of the window ranking
SPAN_WEIGHT = 0.5  # of log P(span | answering), beside log P(answering) in the window ranking


@dataclass(frozen=True)
class _Read:
    """One question read in one window: the window's generations (one per branch) and how well
    BM25 matched the question to the window (0 for a context read whole)."""

    window: int
    generations: list[Generation]
    retrieval: float = 0.0


class Reader:
    """A GGUF reader on llama.cpp. `model`: a shipped reader's name (merged on first use into a
    fast local copy), `embedded`, or a GGUF path; the options are named as the CLI's.

    Safe to share between threads: calls take turns (see guard.py). After close() every call
    raises EdgeQAError; bad arguments raise EdgeQAError naming them, before any decoding."""

    def __init__(
        self,
        model: str | Path = DEFAULT_READER,
        *,
        threads: int | None = None,
        decoding: str = AnswerPolicy.decoding,
        na_score: str = AnswerPolicy.na_score,
        na_threshold: str | float | NoAnswerThreshold = AnswerPolicy.na_threshold,
        max_seq_len: int = WindowOptions.max_seq_len,
        doc_stride: int = WindowOptions.doc_stride,
        max_windows: int = WindowOptions.max_windows,
        n_ctx: int = EngineConfig.n_ctx,
        parallel: int = EngineConfig.parallel,
        max_answer_tokens: int = EngineConfig.max_answer_tokens,
        mix_contexts: bool = False,
    ):
        from edgeqa.hardware import usable_cores
        from edgeqa.reader.shipped import resolve_reader_model

        if threads is not None:
            check_int(threads, "threads", 1)
        policy = AnswerPolicy(decoding=decoding, na_score=na_score, na_threshold=na_threshold)
        engine = EngineConfig(
            n_ctx=n_ctx,
            n_threads=threads or usable_cores(),
            parallel=parallel,
            max_answer_tokens=max_answer_tokens,
        )
        windows = WindowOptions(max_seq_len, doc_stride, max_windows)
        self._load(resolve_reader_model(model), policy, engine, windows, mix_contexts)

    @classmethod
    def from_settings(
        cls,
        model: Path,
        policy: AnswerPolicy,
        engine: EngineConfig,
        windows: WindowOptions | None = None,
        mix_contexts: bool = False,
    ) -> Reader:
        """A reader of the GGUF `model` from the settings objects edgeqa's commands hold;
        `mix_contexts` lets questions on different contexts share a batch (for a server)."""
        reader = cls.__new__(cls)
        reader._load(model, policy, engine, windows or WindowOptions(), mix_contexts)
        return reader

    def _load(
        self,
        model: Path,
        policy: AnswerPolicy,
        engine: EngineConfig,
        windows: WindowOptions,
        mix_contexts: bool,
    ) -> None:
        from edgeqa.runtime.engine import QAEngine

        self.model_path = model
        self.policy = policy
        self.windows = windows
        self.mix_contexts = mix_contexts
        config, threshold = policy.apply(engine, model)
        self.threshold: ThresholdChoice = threshold  # None: the model decides; and why
        self.engine = QAEngine(model, config)
        self._guard = UseGuard(self.engine.close)
        overhead = len(self.engine.qa_prompt("", ""))
        self.window_tokens = windows.max_seq_len - overhead - QUESTION_RESERVE
        if self.window_tokens < 32:
            self.close()
            raise EdgeQAError(
                f"--max-seq-len {windows.max_seq_len} leaves {self.window_tokens} tokens for the context "
                f"after the prompt's {overhead} and the question's {QUESTION_RESERVE}; raise it"
            )

    def close(self) -> None:
        """Free the llama.cpp model and context (after the call in progress, if any); every
        later call raises EdgeQAError. Closing twice is harmless."""
        self._guard.close()

    @property
    def closed(self) -> bool:
        return self._guard.closed

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- answers ---------------------------------------------------------------------------
    def answer(self, question: str, context: str, top_k: int = 1) -> Answer | list[Answer]:
        """The answer to `question` from `context` (a list of up to `top_k` different spans,
        best first, when top_k > 1)."""
        question, context = check_pair(question, context)
        return self.answer_many([(question, context)], top_k=top_k)[0]

    def answer_many(
        self,
        pairs: Iterable[tuple[str, str]],
        top_k: int = 1,
        progress: Callable[[int], None] | None = None,
        doc_stride: int | None = None,
    ) -> list[Answer] | list[list[Answer]]:
        """Answers to many (question, context) pairs, in their order. Questions on the same
        context are decoded together over its shared prefix; `progress(n)` hears of each n
        answered; `doc_stride` overrides the reader's window overlap for these pairs."""
        pairs = check_pairs(pairs)
        answers: list = [None] * len(pairs)
        for index, answer in self._iter_answers(pairs, *self._options(top_k, doc_stride)):
            answers[index] = answer
            if progress is not None:
                progress(1)
        return answers

    def iter_answers(
        self, pairs: Sequence[tuple[str, str]], top_k: int = 1, doc_stride: int | None = None
    ) -> Iterator[tuple[int, Answer | list[Answer]]]:
        """(index into `pairs`, answer) as each chunk (see `chunks`) is read: what a resumable
        run logs as it goes. The arguments are checked now, the answers read as it is iterated."""
        return self._iter_answers(check_pairs(pairs), *self._options(top_k, doc_stride))

    def _options(self, top_k: object, doc_stride: object) -> tuple[int, WindowOptions]:
        """A call's checked top_k and its windows (the reader's, or with `doc_stride` as the
        overlap); EdgeQAError for a bad one or a closed Reader."""
        top_k = check_top_k(top_k)
        windows = self.windows
        if doc_stride is not None:
            overlap = check_int(doc_stride, "doc_stride", 0)
            windows = WindowOptions(windows.max_seq_len, overlap, windows.max_windows)
        if self.closed:
            raise EdgeQAError(CLOSED)
        return top_k, windows

    @staticmethod
    def chunks(pairs: Sequence[tuple[str, str]]) -> list[list[int]]:
        """The indices of `pairs` read together, in reading order: whole contexts, in the order
        they first appear, gathered until a chunk holds CHUNK_QUESTIONS questions, so that
        small contexts share decoding steps. A chunk's pairs given alone to answer_many form
        the same single chunk: that is how a resumed evaluation answers as an uninterrupted one."""
        by_context: dict[str, list[int]] = {}
        for index, (_, context) in enumerate(pairs):
            by_context.setdefault(context, []).append(index)
        chunks: list[list[int]] = [[]]
        for indices in by_context.values():
            if len(chunks[-1]) >= CHUNK_QUESTIONS:
                chunks.append([])
            chunks[-1].extend(indices)
        return [chunk for chunk in chunks if chunk]

    def _iter_answers(
        self, pairs: list[tuple[str, str]], top_k: int, windows: WindowOptions
    ) -> Iterator[tuple[int, Answer | list[Answer]]]:
        branches = 1 if top_k == 1 else min(top_k + ALTERNATIVES, self.engine.config.parallel)
        for chunk in self.chunks(pairs):
            with self._guard.turn():
                answered = self._answer_chunk(chunk, pairs, branches, top_k, windows)
            yield from answered  # outside the turn: the caller may do anything between answers

    def split(self, context: str) -> list[Window]:
        """`context` as the windows it is read in (one when it fits)."""
        check_text("context", context)
        with self._guard.turn():
            return self._split(context, self.windows)

    def _split(self, context: str, windows: WindowOptions) -> list[Window]:
        return plan_windows(
            context, self.engine.token_starts(context), self.window_tokens, windows.doc_stride
        )

    def _answer_chunk(
        self,
        chunk: list[int],
        pairs: Sequence[tuple[str, str]],
        branches: int,
        top_k: int,
        windows: WindowOptions,
    ) -> list[tuple[int, Answer | list[Answer]]]:
        """Every question of the chunk read in its chosen windows, then combined."""
        by_context: dict[str, list[int]] = {}
        for index in chunk:
            by_context.setdefault(pairs[index][1], []).append(index)
        planned = [(self._split(context, windows), indices) for context, indices in by_context.items()]
        reads = self._read(planned, pairs, branches, windows.max_windows, guesses=top_k > 1)
        answered: list[tuple[int, Answer | list[Answer]]] = []
        for windows, indices in planned:
            for index in indices:
                candidates = self._combine(windows, reads[index])
                answered.append((index, candidates[0] if top_k == 1 else candidates[:top_k]))
        return answered

    def _read(
        self,
        chunk: list[tuple[list[Window], list[int]]],
        pairs: Sequence[tuple[str, str]],
        branches: int,
        max_windows: int,
        guesses: bool,
    ) -> dict[int, list[_Read]]:
        """pair index -> its reads. The reads of a window are adjacent, so each window's prefix is
        decoded once; over several windows every window answers (the reader decides after
        combining them)."""
        from edgeqa.runtime.scheduler import plan_groups

        # Asked for several spans, the reader decides over a threshold after decoding, so that an
        # abstention still knows the best spans (its candidates). Not for one answer: the spans
        # of every abstention double the answer tokens decoded (227 -> 511 on 120 questions).
        decide_here = guesses and self.threshold.value is not None
        work: list[tuple[Window, int, int, float, bool]] = []  # window, number, pair, BM25, answer all
        for windows, indices in chunk:
            if len(windows) == 1:
                work.extend((windows[0], 0, i, 0.0, decide_here) for i in indices)
                continue
            index = WindowIndex(windows)
            chosen = {i: index.best(pairs[i][0], max_windows) for i in indices}
            for number, window in enumerate(windows):
                work.extend(
                    (window, number, i, chosen[i][number], True) for i in indices if number in chosen[i]
                )
        prompts = [self.engine.qa_prompt(window.text, pairs[i][0]) for window, _, i, _, _ in work]
        self._check_fits(prompts)
        texts = [window.text for window, *_ in work]
        reads: dict[int, list[_Read]] = {}
        for group in plan_groups(self.engine, texts, prompts, branches, self.mix_contexts):
            generations = self.engine.generate_group(
                [prompts[g] for g in group], [texts[g] for g in group], branches, [work[g][4] for g in group]
            )
            for position, g in enumerate(group):
                _, number, pair, retrieval, _ = work[g]
                own = generations[position * branches : (position + 1) * branches]
                reads.setdefault(pair, []).append(_Read(number, own, retrieval))
        return reads

    def _check_fits(self, prompts: Sequence[Sequence[int]]) -> None:
        config = self.engine.config
        for prompt in prompts:
            if len(prompt) + config.max_answer_tokens > config.n_ctx:
                raise EdgeQAError(
                    f"a question of {len(prompt)} prompt tokens + {config.max_answer_tokens} answer tokens "
                    f"does not fit --n-ctx {config.n_ctx}; shorten the question or raise --n-ctx"
                )

    # --- combining windows -----------------------------------------------------------------
    def _combine(self, windows: list[Window], reads: list[_Read]) -> list[Answer]:
        """Every distinct span found, best first; or the abstention followed by those spans (its
        `candidates`: the best guesses). Over several windows the no-answer probability is the
        lowest window's (answerable if any window says so) and the threshold applies to it;
        spans rank by log P(answering) + SPAN_WEIGHT x log P(span) + RETRIEVAL_WEIGHT x BM25,
        the rule that picked the right window best on dev articles."""
        no_answers = {r.window: r.generations[0].na_prob for r in reads}
        no_answer = min(no_answers.values())
        cost = {
            "windows_read": len(reads),
            "no_answer_probs": no_answers,
            "prompt_tokens": sum(r.generations[0].prompt_tokens for r in reads),
            "generated_tokens": sum(g.generated_tokens for r in reads for g in r.generations),
            "latency_s": sum(max(g.latency_s for g in r.generations) for r in reads),
        }
        ranked: dict[tuple, tuple[tuple[bool, float], Answer]] = {}
        for read in reads:
            for branch, generation in enumerate(read.generations):
                answer = self._span(windows[read.window], read.window, generation, no_answer, cost)
                if answer is None:
                    continue
                rank = (branch == 0, self._rank(generation, read.retrieval))  # greedy answers first
                key = (answer.start, answer.end, answer.text)
                if key not in ranked or ranked[key][0] < rank:
                    ranked[key] = (rank, answer)
        spans = [answer for _, answer in sorted(ranked.values(), key=lambda pair: pair[0], reverse=True)]
        threshold = self.threshold.value
        if threshold is not None and no_answer > threshold:
            return [Answer.abstention(no_answer, raw=ABSTAIN, candidates=tuple(spans), **cost), *spans]
        if not spans:
            return [Answer.abstention(no_answer, raw=reads[0].generations[0].text, **cost)]
        return spans

    def _rank(self, generation: Generation, retrieval: float) -> float:
        """How much a window's span is preferred over the other windows' (see _combine)."""
        span = generation.answer_logprob or 0.0
        answering = self.engine.config.no_answer_score.answering_logprob(generation.na_prob, span)
        return answering + SPAN_WEIGHT * span + RETRIEVAL_WEIGHT * retrieval

    def _span(
        self, window: Window, number: int, generation: Generation, no_answer: float, cost: dict
    ) -> Answer | None:
        """The generation as an answer placed in the whole context; None for an abstention."""
        if generation.answer_logprob is None or generation.generated_tokens == 0:
            return None
        text = parse_answer(generation.text)
        if not text:
            return None
        found = locate(window.text, text, generation.context_ends)
        start = None if found is None else window.start + found
        likelihood = self.engine.config.no_answer_score.span_probability(
            generation.answer_logprob, generation.na_prob
        )
        return Answer(
            text=text,
            start=start,
            end=None if start is None else start + len(text),
            score=likelihood,
            no_answer_prob=no_answer,
            abstained=False,
            window=number,
            raw=generation.text,
            answer_tokens=generation.generated_tokens,
            **cost,
        )

    # --- streaming -------------------------------------------------------------------------
    def stream(self, question: str, context: str, timings: StreamTimings | None = None) -> Iterator[str]:
        """The answer to one question, piece by piece as it is decoded (for a chat page and for
        latency profiling); an abstention comes as the model's abstention word. Only for a
        context that fits one window: answer() reads longer ones. The stream holds the Reader's
        turn until it is exhausted or closed: other threads wait for it meanwhile."""
        question, context = check_pair(question, context)
        with self._guard.turn():
            if len(self.engine.session.tokenize(context, special=False)) > self.window_tokens:
                raise EdgeQAError(
                    f"the context is longer than one window ({self.window_tokens} tokens); use answer()"
                )
            prompt = self.engine.qa_prompt(context, question)
        return self._stream(prompt, context, timings)

    def _stream(self, prompt: list[int], context: str, timings: StreamTimings | None) -> Iterator[str]:
        self._guard.acquire()
        pieces = self.engine.stream(prompt, timings, reuse_prefix=False, context=context)
        try:
            while not self._guard.closed:
                try:
                    piece = next(pieces)
                except StopIteration:
                    return
                yield piece
            raise EdgeQAError(CLOSED)
        finally:
            pieces.close()  # the engine's own clean-up, still within the turn
            self._guard.release()
