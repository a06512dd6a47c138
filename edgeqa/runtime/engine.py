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
from edgeqa.prompts import ABSTAIN, qa_messages
from edgeqa.runtime.answer_batch import AnswerBatch
from edgeqa.runtime.constraints import FreeChooser, SpanChooser, VocabIndex
from edgeqa.runtime.engine_config import (
    EngineConfig,
    EngineStats,
    Generation,
    StreamTimings,
)
from edgeqa.runtime.llama_session import PREFIX_SEQ, LlamaSession
from edgeqa.runtime.prompt_cache import PromptCache
from edgeqa.runtime.token_offsets import token_starts
from edgeqa.sequences import common_prefix_length


class QAEngine:
    """A loaded GGUF with one llama.cpp context; use as a context manager to free it promptly."""

    def __init__(self, model_path: str | Path, config: EngineConfig | None = None):
        self.config = config = config or EngineConfig()
        self.session = LlamaSession(model_path, config)
        self._cached_prefix: list[int] = []
        self.prompt_cache = PromptCache(
            self.session, config.parallel + 1, config.prompt_cache, config.prompt_cache_ram_mib * 2**20
        )
        self.stats = EngineStats()
        self._vocab_index: VocabIndex | None = None

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> QAEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- text <-> tokens -------------------------------------------------------------------
    def render(self, messages: list[dict[str, str]]) -> str:
        """Messages rendered with the GGUF's chat template, ending at the assistant turn, with
        the template date the model was trained with (see `edgeqa.prompts.TEMPLATE_DATE`)."""
        return self.session.formatter(messages=messages, date_string=self.session.info.template_date).prompt

    def prompt_tokens(self, messages: list[dict[str, str]]) -> list[int]:
        """The rendered prompt's tokens, led by BOS where the vocabulary wants one and the
        template wrote none (as `edgeqa.models.chat_tokens.prompt_ids` does for training)."""
        return self.session.with_bos(self.session.tokenize(self.render(messages)))

    def qa_prompt(self, context: str, question: str) -> list[int]:
        """The QA prompt in the layout this model was fine-tuned with (read from its GGUF)."""
        return self.prompt_tokens(qa_messages(context, question, self.session.info.prompt_layout))

    def token_starts(self, text: str) -> list[int]:
        """The character offset at which each token of `text` (tokenized alone) starts."""
        return token_starts(self.session, text)

    # --- answer policy ---------------------------------------------------------------------
    @property
    def vocab_index(self) -> VocabIndex:
        """Every token's bytes (built on first use: about 0.2 s for a 49K vocabulary)."""
        if self._vocab_index is None:
            self._vocab_index = VocabIndex(
                [self.session.detokenize_bytes(t) for t in range(self.session.n_vocab)],
                self.session.is_end_of_generation,
            )
            self._abstain_tokens = self._vocab_index.abstention_starts(ABSTAIN)
        return self._vocab_index

    def _chooser(self, context: str | None) -> FreeChooser | SpanChooser:
        index = self.vocab_index
        if not self.config.span_constrained:
            return FreeChooser(self._abstain_tokens, index.end_tokens)
        if context is None:
            raise ValueError("span-constrained decoding needs the context of every prompt")
        return SpanChooser(index, context, ABSTAIN, self._abstain_tokens)

    def _start_answer(
        self, logits: np.ndarray, context: str | None, threshold: float | None
    ) -> tuple[FreeChooser | SpanChooser, float, bool]:
        """(chooser, no-answer probability, abstain now): with a threshold, the threshold
        decides, and an answer below it may not be the abstention. With the answer score the
        answer is always decoded and `_settle` decides once it is complete."""
        chooser = self._chooser(context)
        na_prob = chooser.na_prob(logits)
        forbid, abstain = self.config.no_answer_score.at_first_token(na_prob, threshold)
        if forbid:
            chooser.forbid_abstention()
        return chooser, na_prob, abstain

    def _settle(
        self, na_prob: float, answer_logprob: float, abstained: bool, threshold: float | None
    ) -> tuple[float, bool]:
        """(no-answer probability, abstain) of a decoded answer under the configured score."""
        return self.config.no_answer_score.settle(na_prob, answer_logprob, abstained, threshold)

    # --- decoding --------------------------------------------------------------------------
    def reset(self) -> None:
        """Empty the KV cache: every sequence, the cached prefix and the prompt cache."""
        self.session.clear()
        self._cached_prefix = []
        self.prompt_cache.forget()

    def _prepare_prefix(self, prefix: list[int]) -> None:
        """Make sequence 0 hold exactly `prefix`, reusing whatever it already holds or the
        prompt cache has (which keeps what sequence 0 held before)."""
        for seq in range(1, self.config.parallel + 1):
            self.session.remove(seq)
        keep = common_prefix_length([self._cached_prefix, prefix])
        if keep < len(self._cached_prefix):
            self.prompt_cache.store(PREFIX_SEQ, self._cached_prefix)  # before its cells go
        self.session.remove(PREFIX_SEQ, keep)
        self._cached_prefix = self._cached_prefix[:keep]
        keep = self._from_prompt_cache(prefix, PREFIX_SEQ, keep)
        if keep < len(prefix):
            entries = [(t, keep + i, PREFIX_SEQ, False) for i, t in enumerate(prefix[keep:])]
            self.session.decode_chunked(entries)
            self.stats.prompt_tokens_decoded += len(entries)
        self._cached_prefix = list(prefix)

    def next_token_logits(self, tokens: Sequence[int]) -> np.ndarray:
        """Logits for the token after `tokens`, reusing the cached prefix they share with the
        previous call (a judge's prompts differ only in their last few tokens)."""
        if not 0 < len(tokens) <= self.config.n_ctx:
            raise EdgeQAError(f"a prompt of {len(tokens)} tokens does not fit --n-ctx {self.config.n_ctx}")
        self._prepare_prefix(list(tokens[:-1]))
        (logits,) = self.session.decode([(tokens[-1], len(tokens) - 1, PREFIX_SEQ, True)])
        self._cached_prefix = list(tokens)
        return logits

    def sequence_logits(self, tokens: Sequence[int], first: int = 0) -> np.ndarray:
        """Logits after each token of `tokens` from position `first` on, decoded from an empty
        cache: [len - first, n_vocab]. Positions before `first` are context only (no output
        projection onto the vocabulary, the costliest part of a small model's forward pass)."""
        if not 0 < len(tokens) <= self.config.n_ctx or not 0 <= first < len(tokens):
            raise ValueError(
                f"need 1..{self.config.n_ctx} tokens and first < that, got {len(tokens)}, {first}"
            )
        self.reset()
        rows = self.session.decode_chunked([(t, i, PREFIX_SEQ, i >= first) for i, t in enumerate(tokens)])
        self.reset()
        return np.stack(rows)

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
        self._prepare_prefix(list(prompt[:-1]))
        (logits,) = self.session.decode([(prompt[-1], len(prompt) - 1, PREFIX_SEQ, True)])
        timings.prompt_tokens = len(prompt)
        timings.prefill_tokens = self.stats.prompt_tokens_decoded - before + 1
        timings.prefill_s = time.perf_counter() - started
        start = self._start_answer(logits, context, self.config.na_threshold)
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
                timings.na_prob, abstain = self._settle(
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

    def kv_cells_needed(
        self, prompts: Sequence[Sequence[int]], branches: int = 1, contexts: Sequence[str] | None = None
    ) -> int:
        """KV cells a group takes: the shared prefix once, each context's cells once (see
        `_prefill`), each prompt's own tokens and its answers."""
        shared = common_prefix_length(prompts, keep_one=True)
        cells = shared
        for cluster in _clusters(prompts, contexts):
            members = [prompts[i] for i in cluster]
            local = common_prefix_length(members, keep_one=True)
            cells += local - shared
            cells += sum(len(p) - local + branches * self.config.max_answer_tokens for p in members)
        return cells

    def generate_group(
        self,
        prompts: Sequence[Sequence[int]],
        contexts: Sequence[str] | None = None,
        branches: int = 1,
        answer_all: bool | Sequence[bool] = False,
    ) -> list[Generation]:
        """Greedy answers for prompts decoded together. `contexts` (one per prompt) are needed
        when the engine decodes span-constrained; prompts on the same context share its cells
        (see `_prefill`), so a group may mix the questions of several contexts. With `branches` > 1 each
        prompt is answered that many times, branch j starting from its j-th likeliest first
        token (the alternatives of a top-k answer): prompt-major order, at most `parallel`
        sequences in all. `answer_all` (for all prompts, or one flag each) decodes an answer whatever
        the configured threshold says (the caller decides later, as a reader of several windows)."""
        count = len(prompts) * branches
        if not prompts or branches < 1 or count > self.config.parallel:
            raise ValueError(
                f"a group holds 1..{self.config.parallel} sequences, got {len(prompts)} x {branches}"
            )
        started = time.perf_counter()
        self.prompt_cache.make_room(self.config.n_ctx - self.kv_cells_needed(prompts, branches, contexts))
        first_logits = self._prefill(prompts, contexts)

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
            self._start_answer(first_logits[i], context_of[k], thresholds[k]) for k, i in enumerate(owner)
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
        return [self._generation(answers, k, thresholds[k]) for k in range(count)]

    def _prefill(self, prompts: Sequence[Sequence[int]], contexts: Sequence[str] | None) -> list[np.ndarray]:
        """Prompt i into sequence i + 1; the last token's logits of each. What all prompts share
        (the system prompt) comes from sequence 0's cache; the prompts on one context (one
        cluster) share that context's cells, decoded once into the cluster's first sequence."""
        shared = common_prefix_length(prompts, keep_one=True)
        self._prepare_prefix(list(prompts[0][:shared]))
        for seq in range(1, len(prompts) + 1):
            self.session.copy(PREFIX_SEQ, seq)
        leading, reuse = [], {}
        for members in _clusters(prompts, contexts):
            local = common_prefix_length([prompts[i] for i in members], keep_one=True)
            leader = members[0]
            start = self._from_prompt_cache(prompts[leader][:local], leader + 1, shared)
            leading.extend(
                (t, pos, leader + 1, False) for pos, t in enumerate(prompts[leader][start:local], start)
            )
            reuse.update((i, (leader, local)) for i in members)
        self.session.decode_chunked(leading)
        for leader, local in set(reuse.values()):
            self.prompt_cache.store(leader + 1, prompts[leader][:local])
        entries = []
        for i in range(len(prompts)):
            leader, local = reuse[i]
            if i != leader and local > shared:
                self.session.copy(leader + 1, i + 1, shared, local)
            last = len(prompts[i]) - 1
            entries.extend((t, pos, i + 1, pos == last) for pos, t in enumerate(prompts[i][local:], local))
        first_logits = self.session.decode_chunked(entries)
        self.stats.prompt_tokens_decoded += len(leading) + len(entries)
        return first_logits

    def _from_prompt_cache(self, tokens: Sequence[int], seq: int, shared: int) -> int:
        """Copy into `seq` the cells a prompt-cache entry holds for the start of `tokens`, past
        the `shared` prefix it already has; the position where decoding must resume."""
        hit = self.prompt_cache.lookup(tokens, beyond=shared)
        if hit is None:
            return shared
        cached_seq, length = hit
        self.session.copy(cached_seq, seq, shared, length)
        self.stats.prompt_tokens_cached += length - shared
        return length

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

    def _generation(self, answers: AnswerBatch, k: int, threshold: float | None) -> Generation:
        """Answer k as a Generation, its abstention settled under the configured score."""
        first_na_prob, abstained_first = answers.na_probs[k], answers.abstained[k]
        na_prob, abstain = self._settle(first_na_prob, answers.logprobs[k], abstained_first, threshold)
        return Generation(
            text=ABSTAIN if abstain else self.session.detokenize(answers.generated[k]),
            prompt_tokens=answers.prompt_lengths[k],
            generated_tokens=len(answers.generated[k]),
            na_prob=na_prob,
            latency_s=answers.finished_at[k],
            answer_logprob=None if abstained_first else answers.logprobs[k],
            context_ends=() if abstain else answers.choosers[k].context_ends(),
        )


def _clusters(prompts: Sequence[Sequence[int]], contexts: Sequence[str] | None) -> list[list[int]]:
    """Indices of the prompts on each context, in first-seen order (one cluster without contexts)."""
    clusters: dict[str, list[int]] = {}
    for i in range(len(prompts)):
        clusters.setdefault(contexts[i] if contexts else "", []).append(i)
    return list(clusters.values())
