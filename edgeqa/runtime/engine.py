"""Batched, prefix-sharing greedy generation on llama.cpp's low-level API.

Why not `Llama.create_chat_completion`: it decodes one sequence at a time. SQuAD has about ten
questions per paragraph, and their prompts share the paragraph (context first). This engine
decodes the shared prefix once into sequence 0, copies its KV cells to one sequence per
question (a unified KV cache makes the copy free), prefills every question's suffix in one
batch, and then decodes all unfinished answers together, one token each per step. The prefix
of the previous group stays cached, so the system prompt is never decoded twice.
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from edgeqa.errors import EdgeQAError
from edgeqa.prompts import ABSTAIN
from edgeqa.runtime.answer_batch import AnswerBatch
from edgeqa.runtime.answer_rules import AnswerRules
from edgeqa.runtime.constraints import VocabIndex
from edgeqa.runtime.engine_config import EngineConfig, Generation, StreamTimings
from edgeqa.runtime.language_model import LanguageModel
from edgeqa.runtime.llama_session import PREFIX_SEQ
from edgeqa.runtime.prompt_cache import PromptCache


class QAEngine(LanguageModel):
    """A language model that answers questions: the QA prompt (chat_prompts.py), the KV cache
    its prompts share (kv_prefix.py), how each answer token is chosen and judged
    (answer_rules.py), and here the one decode loop, for a batch and a stream alike."""

    def __init__(self, model_path: str | Path, config: EngineConfig | None = None):
        super().__init__(model_path, config)
        self.rules = AnswerRules(self.session, self.config)

    def __enter__(self) -> QAEngine:
        return self

    def qa_prompt(self, context: str, question: str) -> list[int]:
        return self.prompts.qa_prompt(context, question)

    def token_starts(self, text: str) -> list[int]:
        return self.prompts.token_starts(text)

    @property
    def vocab_index(self) -> VocabIndex:
        return self.rules.vocab_index

    @property
    def prompt_cache(self) -> PromptCache:
        return self.kv.prompt_cache

    def kv_cells_needed(
        self, prompts: Sequence[Sequence[int]], branches: int = 1, contexts: Sequence[str] | None = None
    ) -> int:
        return self.kv.cells_needed(prompts, branches, contexts)

    def stream(
        self,
        prompt: Sequence[int],
        timings: StreamTimings | None = None,
        reuse_prefix: bool = True,
        context: str | None = None,
    ) -> Iterator[str]:
        """Greedy answer to one prompt, yielded piece by piece as it is generated (for a chat UI
        and for latency profiling). With reuse_prefix, the tokens it shares with the previous
        prompt (the system prompt, a repeated context) stay cached and are not decoded again.
        `context` is needed when the engine decodes span-constrained. With the answer score the
        answer comes in one piece, once it is complete and the threshold has judged it."""
        timings = timings if timings is not None else StreamTimings()
        started = time.perf_counter()
        if len(prompt) + self.config.max_answer_tokens > self.config.n_ctx:
            raise EdgeQAError(
                f"the prompt has {len(prompt)} tokens; with --max-answer-tokens "
                f"{self.config.max_answer_tokens} it needs --n-ctx of at least "
                f"{len(prompt) + self.config.max_answer_tokens}"
            )
        if not reuse_prefix:
            self.reset()
        before = self.stats.prompt_tokens_decoded
        self.kv.prepare(list(prompt[:-1]))
        (logits,) = self.session.decode([(prompt[-1], len(prompt) - 1, PREFIX_SEQ, True)])
        timings.prompt_tokens = len(prompt)
        timings.prefill_tokens = self.stats.prompt_tokens_decoded - before + 1
        timings.prefill_s = time.perf_counter() - started
        start = self.rules.start(logits, context, self.config.na_threshold)
        answers = AnswerBatch([len(prompt)], [PREFIX_SEQ], [start], [None], started, branching=False)
        timings.na_prob = answers.na_probs[0]
        decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
        settles_later = self.config.no_answer_score.decided_after_decoding  # judged whole first
        try:
            for _, token in self._decode_steps(answers, [logits]):
                piece = decoder.decode(self.session.detokenize_bytes(token))
                if not settles_later:
                    if len(answers.generated[0]) == 1:
                        timings.first_token_s = time.perf_counter() - started
                    yield piece
            timings.generated_tokens = len(answers.generated[0])
            timings.decoded_tokens = answers.steps_decoded
            if answers.abstained[0]:
                timings.first_token_s = time.perf_counter() - started
                yield ABSTAIN
            elif settles_later:
                timings.na_prob, abstain = self.rules.settle(
                    timings.na_prob, answers.logprobs[0], False, self.config.na_threshold
                )
                timings.first_token_s = time.perf_counter() - started
                yield ABSTAIN if abstain else self.session.detokenize(answers.generated[0])
        finally:
            # keep only the prompt's prefix cached, as generate_group expects
            self.session.remove(PREFIX_SEQ, len(prompt) - 1)
            timings.total_s = time.perf_counter() - started
            if timings.first_token_s == 0.0:
                timings.first_token_s = timings.total_s

    def generate_group(
        self,
        prompts: Sequence[Sequence[int]],
        contexts: Sequence[str] | None = None,
        branches: int = 1,
        answer_all: bool | Sequence[bool] = False,
    ) -> list[Generation]:
        """Greedy answers for prompts decoded together. `contexts` (one per prompt) are needed
        when the engine decodes span-constrained; prompts on the same context share its cells
        (see `PrefixKV.prefill`), so a group may mix the questions of several contexts. With
        `branches` > 1 each prompt is answered that many times, branch j starting from its j-th
        likeliest first token (the alternatives of a top-k answer): prompt-major order, at most
        `parallel` sequences in all. `answer_all` (for all prompts, or one flag each) decodes an
        answer whatever the configured threshold says (the caller decides later, as a reader of
        several windows)."""
        count = len(prompts) * branches
        if not prompts or branches < 1 or count > self.config.parallel:
            raise ValueError(
                f"a group holds 1..{self.config.parallel} sequences, got {len(prompts)} x {branches}"
            )
        started = time.perf_counter()
        self.kv.prompt_cache.make_room(self.config.n_ctx - self.kv.cells_needed(prompts, branches, contexts))
        first_logits = self.kv.prefill(prompts, contexts)

        # sequence of prompt i, branch j: 1 + i * branches + j (branch 0 keeps the prompt's cells)
        for i in reversed(range(len(prompts)) if branches > 1 else ()):
            if i:
                self.session.copy(i + 1, 1 + i * branches)
                self.session.remove(i + 1)
            for j in range(1, branches):
                self.session.copy(1 + i * branches, 1 + i * branches + j)
        owner = [i for i in range(len(prompts)) for _ in range(branches)]
        forcing = [answer_all] * len(prompts) if isinstance(answer_all, bool) else list(answer_all)
        thresholds = [1.0 if forcing[i] else self.config.na_threshold for i in owner]
        context_of = [contexts[i] if contexts else None for i in owner]
        starts = [
            self.rules.start(first_logits[i], context_of[k], thresholds[k]) for k, i in enumerate(owner)
        ]
        forced: list[int | None] = [None] * count
        if branches > 1:
            for i in range(len(prompts)):
                chooser = starts[i * branches][0]
                for j, token in enumerate(chooser.ranked(first_logits[i], branches)):
                    forced[i * branches + j] = token
        answers = AnswerBatch(
            [len(prompts[i]) for i in owner],
            [k + 1 for k in range(count)],
            starts,
            forced,
            started,
            branching=branches > 1,
        )
        for _ in self._decode_steps(answers, [first_logits[i] for i in owner]):
            pass
        return [self.rules.generation(answers, k, thresholds[k]) for k in range(count)]

    def _decode_steps(
        self, answers: AnswerBatch, first_logits: Sequence[np.ndarray]
    ) -> Iterator[tuple[int, int]]:
        """The one greedy decode loop, for a batch and for a stream alike: every sequence not
        abstained takes one token per step, all decoded in one batch, until each ends. Yields
        (answer index, token) as each token is chosen, before the next step is decoded."""
        active = [k for k in range(len(answers.seqs)) if not answers.abstained[k]]
        logits = [first_logits[k] for k in active]
        while active:
            going_on = []
            for k, row in zip(active, logits, strict=True):
                chooser, generated = answers.choosers[k], answers.generated[k]
                forced = answers.forced[k]
                token = forced if not generated and forced is not None else chooser.choose(row)
                answers.logprobs[k] += chooser.log_prob(row, token)
                done = self.session.is_end_of_generation(token)
                if not done:
                    generated.append(token)
                    chooser.advance(token)
                    yield k, token
                if done or len(generated) >= self.config.max_answer_tokens:
                    answers.finished_at[k] = time.perf_counter() - answers.started
                else:
                    going_on.append(k)
            active = going_on
            if active:
                entries = [
                    (
                        answers.generated[k][-1],
                        answers.prompt_lengths[k] + len(answers.generated[k]) - 1,
                        answers.seqs[k],
                        True,
                    )
                    for k in active
                ]
                logits = self.session.decode(entries)
                answers.steps_decoded += 1
                self.stats.decode_steps += 1
                self.stats.step_sequences += len(entries)
