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
import ctypes
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeqa.errors import EdgeQAError
from edgeqa.models.gguf_info import GGUFInfo, read_gguf_info
from edgeqa.prompts import ABSTAIN, qa_messages
from edgeqa.runtime.constraints import FreeChooser, SpanChooser, VocabIndex
from edgeqa.sequences import common_prefix_length

PREFIX_SEQ = 0  # sequence holding the cached shared prefix; questions use 1..parallel

CHATML_FALLBACK = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass(frozen=True)
class RopeSettings:
    """RoPE overrides applied when the context is created (llama.cpp's load-time options).

    Zero or negative values keep the model's own setting, as in llama.cpp."""

    scaling: str = "unspecified"  # unspecified | none | linear | yarn
    freq_base: float = 0.0
    freq_scale: float = 0.0
    yarn_ext_factor: float = -1.0
    yarn_attn_factor: float = -1.0
    yarn_beta_fast: float = -1.0
    yarn_beta_slow: float = -1.0
    yarn_orig_ctx: int = 0


ROPE_SCALING_TYPES = ("unspecified", "none", "linear", "yarn")

# Where the no-answer probability comes from. abstention: the abstention's share of the first
# token's distribution (the model's own wish to abstain). answer: 1 - P(the answer the model
# decodes when it may not abstain), its doubt about its own answer; the answer is decoded for
# every question and the threshold (0.5 when none is set) decides afterwards.
NA_SCORES = ("abstention", "answer")
ANSWER_SCORE_DEFAULT_THRESHOLD = 0.5


# The command-line option each engine setting comes from, for error messages.
ENGINE_FLAGS = {
    "n_ctx": "--n-ctx",
    "n_threads": "--threads",
    "n_batch": "--batch",
    "parallel": "--parallel",
    "max_answer_tokens": "--max-answer-tokens",
}


@dataclass(frozen=True)
class EngineConfig:
    """Runtime settings; the defaults suit a 2-core CPU and SQuAD-sized prompts."""

    n_ctx: int = 4096
    n_threads: int = 2
    n_batch: int = 512
    parallel: int = 16
    max_answer_tokens: int = 32
    use_mmap: bool = True
    rope: RopeSettings = RopeSettings()
    span_constrained: bool = False  # the answer must be a span of the context or the abstention
    na_threshold: float | None = None  # abstain when the no-answer probability exceeds it; else answer
    na_score: str = "abstention"  # one of NA_SCORES

    def __post_init__(self) -> None:
        for name, flag in ENGINE_FLAGS.items():
            if getattr(self, name) < 1:
                raise EdgeQAError(f"{flag} must be at least 1, not {getattr(self, name)}")
        if self.na_threshold is not None and not 0 <= self.na_threshold <= 1:
            raise EdgeQAError(f"--na-threshold must be a probability in [0, 1], not {self.na_threshold}")
        if self.na_score not in NA_SCORES:
            raise EdgeQAError(f"--na-score must be one of {', '.join(NA_SCORES)}, not {self.na_score!r}")


@dataclass
class EngineStats:
    """What the engine actually decoded: the inputs of the throughput floor in benchmarks/."""

    prompt_tokens_decoded: int = 0
    decode_steps: int = 0
    step_sequences: int = 0  # sum over decode steps of the sequences decoded in that step


@dataclass(frozen=True)
class Generation:
    """One answer: its text, token counts, the no-answer probability, the log-probability of
    the decoded tokens (None when a threshold abstained before decoding) and when it finished."""

    text: str
    prompt_tokens: int
    generated_tokens: int
    na_prob: float
    latency_s: float
    answer_logprob: float | None = None


@dataclass
class StreamTimings:
    """What one streamed answer cost; filled in while it streams, complete once it ends."""

    prompt_tokens: int = 0
    prefill_tokens: int = 0  # prompt tokens decoded for this answer (the rest were cached)
    prefill_s: float = 0.0
    first_token_s: float = 0.0  # from the call to stream() until the first answer token
    generated_tokens: int = 0
    decoded_tokens: int = 0  # answer tokens fed back through the model (the generation rate's count)
    total_s: float = 0.0
    na_prob: float = 0.0


class QAEngine:
    """A loaded GGUF with one llama.cpp context; use as a context manager to free it promptly."""

    def __init__(self, model_path: str | Path, config: EngineConfig | None = None):
        import llama_cpp
        from llama_cpp import _internals
        from llama_cpp._logger import set_verbose

        self.info = read_gguf_info(model_path)  # a bad file fails here, not in native code
        self.adapter = None
        if self.info.is_adapter:  # a LoRA GGUF: its base is the model, the LoRA applied at load
            self.adapter = self.info
            self.info = adapter_base_info(self.info)
            model_path = self.info.path
        self.config = config = config or EngineConfig()
        self._llama_cpp = llama_cpp
        set_verbose(False)
        model_params = llama_cpp.llama_model_default_params()
        model_params.use_mmap = config.use_mmap
        try:
            self._model = _internals.LlamaModel(
                path_model=str(model_path), params=model_params, verbose=False
            )
        except ValueError as exc:
            raise EdgeQAError(f"{model_path}: llama.cpp cannot load this model ({exc})") from None
        self._lora = None
        if self.adapter is not None:
            self._lora = llama_cpp.llama_adapter_lora_init(self._model.model, str(self.adapter.path).encode())
            if not self._lora:
                self._free_model()
                raise EdgeQAError(f"{self.adapter.path}: llama.cpp cannot apply this LoRA to {model_path}")
        context_params = llama_cpp.llama_context_default_params()
        context_params.n_ctx = config.n_ctx
        context_params.n_batch = config.n_batch
        context_params.n_ubatch = config.n_batch
        context_params.n_seq_max = config.parallel + 1
        context_params.kv_unified = True
        context_params.n_threads = config.n_threads
        context_params.n_threads_batch = config.n_threads
        _apply_rope(context_params, config.rope)
        try:
            self._context = _internals.LlamaContext(model=self._model, params=context_params, verbose=False)
        except ValueError:
            self._free_model()
            raise EdgeQAError(f"{model_path}: cannot create a context of {config.n_ctx} tokens") from None
        if self._lora is not None:
            adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(self._lora)
            if llama_cpp.llama_set_adapters_lora(self._context.ctx, adapters, 1, (ctypes.c_float * 1)(1.0)):
                self.close()
                raise EdgeQAError(f"{self.adapter.path}: llama.cpp could not set this LoRA")  # type: ignore[union-attr]
        self._batch = llama_cpp.llama_batch_init(max(config.n_batch, config.parallel), 0, config.parallel + 1)
        self.n_vocab = self._model.n_vocab()
        self.n_ctx_train = self._model.n_ctx_train()
        self._memory = llama_cpp.llama_get_memory(self._context.ctx)
        self._cached_prefix: list[int] = []
        self.stats = EngineStats()
        self._formatter = self._chat_formatter()
        self._vocab_index: VocabIndex | None = None

    # --- resources -------------------------------------------------------------------------
    def close(self) -> None:
        if getattr(self, "_batch", None) is not None:
            self._llama_cpp.llama_batch_free(self._batch)
            self._batch = None
        self._context.close()
        self._free_model()

    def _free_model(self) -> None:
        if self._lora:
            self._llama_cpp.llama_adapter_lora_free(self._lora)
        self._lora = None
        self._model.close()

    def __enter__(self) -> QAEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- text <-> tokens -------------------------------------------------------------------
    def _chat_formatter(self):
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self.info.chat_template
        if template is None:
            import warnings

            warnings.warn(f"{self.info.path}: no chat template in the GGUF; using ChatML", stacklevel=2)
            template = CHATML_FALLBACK
        model = self._model
        bos, eos = model.token_bos(), model.token_eos()
        return Jinja2ChatFormatter(
            template=template,
            eos_token=model.token_get_text(eos) if eos != -1 else "",
            bos_token=model.token_get_text(bos) if bos != -1 else "",
        )

    def render(self, messages: list[dict[str, str]]) -> str:
        """Messages rendered with the GGUF's chat template, ending at the assistant turn."""
        return self._formatter(messages=messages).prompt

    def tokenize(self, text: str, special: bool = True) -> list[int]:
        """Tokens of rendered text; BOS comes from the template, never added twice."""
        return self._model.tokenize(text.encode("utf-8"), add_bos=False, special=special)

    def prompt_tokens(self, messages: list[dict[str, str]]) -> list[int]:
        return self.tokenize(self.render(messages))

    def qa_prompt(self, context: str, question: str) -> list[int]:
        """The QA prompt in the layout this model was fine-tuned with (read from its GGUF)."""
        return self.prompt_tokens(qa_messages(context, question, self.info.prompt_layout))

    def detokenize_bytes(self, token: int) -> bytes:
        """One token's bytes; a multi-byte character may be split across tokens."""
        buffer = ctypes.create_string_buffer(256)
        n = self._llama_cpp.llama_token_to_piece(self._model.vocab, token, buffer, 256, 0, False)
        return buffer.raw[: max(n, 0)]

    def detokenize(self, tokens: Sequence[int]) -> str:
        return b"".join(self.detokenize_bytes(t) for t in tokens).decode("utf-8", errors="ignore")

    def is_end_of_generation(self, token: int) -> bool:
        return bool(self._llama_cpp.llama_vocab_is_eog(self._model.vocab, token))

    # --- answer policy ---------------------------------------------------------------------
    @property
    def vocab_index(self) -> VocabIndex:
        """Every token's bytes (built on first use: about 0.2 s for a 49K vocabulary)."""
        if self._vocab_index is None:
            self._vocab_index = VocabIndex(
                [self.detokenize_bytes(t) for t in range(self.n_vocab)], self.is_end_of_generation
            )
            self._abstain_tokens = self._vocab_index.abstention_starts(ABSTAIN)
        return self._vocab_index

    def _chooser(self, context: str | None) -> FreeChooser | SpanChooser:
        index = self.vocab_index
        if not self.config.span_constrained:
            return FreeChooser(self._abstain_tokens)
        if context is None:
            raise ValueError("span-constrained decoding needs the context of every prompt")
        return SpanChooser(index, context, ABSTAIN, self._abstain_tokens)

    def _start_answer(
        self, logits: np.ndarray, context: str | None
    ) -> tuple[FreeChooser | SpanChooser, float, bool]:
        """(chooser, no-answer probability, abstain now): with --na-threshold the threshold
        decides, and an answer below it may not be the abstention. With the answer score the
        answer is always decoded and `_settle` decides once it is complete."""
        chooser = self._chooser(context)
        na_prob = chooser.na_prob(logits)
        threshold = self.config.na_threshold
        if threshold is None and self.config.na_score == "abstention":
            return chooser, na_prob, False
        chooser.forbid_abstention()
        return chooser, na_prob, self.config.na_score == "abstention" and na_prob > threshold

    def _settle(self, na_prob: float, answer_logprob: float, abstained: bool) -> tuple[float, bool]:
        """(no-answer probability, abstain) of a decoded answer under the configured score."""
        if self.config.na_score == "abstention":
            return na_prob, abstained
        doubt = 1.0 - math.exp(answer_logprob)
        threshold = self.config.na_threshold
        return doubt, doubt > (ANSWER_SCORE_DEFAULT_THRESHOLD if threshold is None else threshold)

    # --- decoding --------------------------------------------------------------------------
    def _decode(self, entries: Sequence[tuple[int, int, int, bool]]) -> list[np.ndarray]:
        """Decode (token, position, seq_id, wants_logits) entries; logits of those that want them."""
        batch = self._batch
        for i, (token, pos, seq, logits) in enumerate(entries):
            batch.token[i] = token
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = logits
        batch.n_tokens = len(entries)
        status = self._llama_cpp.llama_decode(self._context.ctx, batch)
        if status != 0:
            raise EdgeQAError(
                f"llama_decode failed (status {status}): the KV cache is full; raise --n-ctx "
                "or lower --parallel"
            )
        out = []
        for i, (_, _, _, logits) in enumerate(entries):
            if logits:
                pointer = self._llama_cpp.llama_get_logits_ith(self._context.ctx, i)
                out.append(np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).copy())
        return out

    def _decode_chunked(self, entries: list[tuple[int, int, int, bool]]) -> list[np.ndarray]:
        logits: list[np.ndarray] = []
        step = self.config.n_batch
        for start in range(0, len(entries), step):
            logits.extend(self._decode(entries[start : start + step]))
        return logits

    def _prepare_prefix(self, prefix: list[int]) -> None:
        """Make sequence 0 hold exactly `prefix`, reusing whatever it already holds."""
        llama_cpp, memory = self._llama_cpp, self._memory
        for seq in range(1, self.config.parallel + 1):
            llama_cpp.llama_memory_seq_rm(memory, seq, -1, -1)
        keep = common_prefix_length([self._cached_prefix, prefix])
        llama_cpp.llama_memory_seq_rm(memory, PREFIX_SEQ, keep, -1)
        self._cached_prefix = self._cached_prefix[:keep]
        if keep < len(prefix):
            entries = [(t, keep + i, PREFIX_SEQ, False) for i, t in enumerate(prefix[keep:])]
            self._decode_chunked(entries)
            self.stats.prompt_tokens_decoded += len(entries)
        self._cached_prefix = list(prefix)

    def next_token_logits(self, tokens: Sequence[int]) -> np.ndarray:
        """Logits for the token after `tokens`, reusing the cached prefix they share with the
        previous call (a judge's prompts differ only in their last few tokens)."""
        if not 0 < len(tokens) <= self.config.n_ctx:
            raise EdgeQAError(f"a prompt of {len(tokens)} tokens does not fit --n-ctx {self.config.n_ctx}")
        self._prepare_prefix(list(tokens[:-1]))
        (logits,) = self._decode([(tokens[-1], len(tokens) - 1, PREFIX_SEQ, True)])
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
        self._llama_cpp.llama_memory_clear(self._memory, True)
        self._cached_prefix = []
        rows = self._decode_chunked([(t, i, PREFIX_SEQ, i >= first) for i, t in enumerate(tokens)])
        self._llama_cpp.llama_memory_clear(self._memory, True)
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
            self._llama_cpp.llama_memory_clear(self._memory, True)
            self._cached_prefix = []
        before = self.stats.prompt_tokens_decoded
        self._prepare_prefix(list(prompt[:-1]))
        (logits,) = self._decode([(prompt[-1], len(prompt) - 1, PREFIX_SEQ, True)])
        timings.prompt_tokens = len(prompt)
        timings.prefill_tokens = self.stats.prompt_tokens_decoded - before + 1
        timings.prefill_s = time.perf_counter() - started
        chooser, timings.na_prob, abstain = self._start_answer(logits, context)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
        held: list[str] | None = [] if self.config.na_score == "answer" else None  # until settled
        try:
            if abstain:
                timings.first_token_s = time.perf_counter() - started
                yield ABSTAIN
                return
            answer_logprob = 0.0
            for step in range(self.config.max_answer_tokens):
                token = chooser.choose(logits)
                answer_logprob += chooser.log_prob(logits, token)
                if self.is_end_of_generation(token):
                    break
                chooser.advance(token)
                timings.generated_tokens += 1
                piece = decoder.decode(self.detokenize_bytes(token))
                if held is not None:
                    held.append(piece)
                else:
                    if step == 0:
                        timings.first_token_s = time.perf_counter() - started
                    yield piece
                if step + 1 < self.config.max_answer_tokens:
                    (logits,) = self._decode([(token, len(prompt) + step, PREFIX_SEQ, True)])
                    timings.decoded_tokens += 1
                    self.stats.decode_steps += 1
                    self.stats.step_sequences += 1
            if held is not None:
                timings.na_prob, abstain = self._settle(timings.na_prob, answer_logprob, False)
                timings.first_token_s = time.perf_counter() - started
                yield ABSTAIN if abstain else "".join(held)
        finally:
            # keep only the prompt's prefix cached, as generate_group expects
            self._llama_cpp.llama_memory_seq_rm(self._memory, PREFIX_SEQ, len(prompt) - 1, -1)
            timings.total_s = time.perf_counter() - started
            if timings.first_token_s == 0.0:
                timings.first_token_s = timings.total_s

    def window_nll(self, tokens: Sequence[int], first_scored: int) -> tuple[float, int]:
        """(sum of -log p(next token), count) for the positions from `first_scored` on, decoding
        `tokens` from an empty cache. Scored chunk by chunk, so a 32K-token window never holds
        more than one batch of logits."""
        if not 0 < len(tokens) <= self.config.n_ctx:
            raise ValueError(f"need 1..{self.config.n_ctx} tokens, got {len(tokens)}")
        self._llama_cpp.llama_memory_clear(self._memory, True)
        self._cached_prefix = []
        nll, count = 0.0, 0
        step = self.config.n_batch
        for start in range(0, len(tokens), step):
            entries = [
                (t, i, PREFIX_SEQ, first_scored <= i < len(tokens) - 1)
                for i, t in enumerate(tokens[start : start + step], start=start)
            ]
            rows = self._decode(entries)
            positions = [i for _, i, _, wanted in entries if wanted]
            for row, position in zip(rows, positions, strict=True):
                shifted = row.astype(np.float64) - row.max()
                nll -= shifted[tokens[position + 1]] - np.log(np.exp(shifted).sum())
                count += 1
        self._llama_cpp.llama_memory_clear(self._memory, True)
        return nll, count

    def kv_cells_needed(self, prompts: Sequence[Sequence[int]]) -> int:
        shared = common_prefix_length(prompts, keep_one=True)
        return shared + sum(len(p) - shared + self.config.max_answer_tokens for p in prompts)

    def generate_group(
        self, prompts: Sequence[Sequence[int]], contexts: Sequence[str] | None = None
    ) -> list[Generation]:
        """Greedy answers for prompts decoded together (at most `parallel`, sharing a prefix).
        `contexts` (one per prompt) are needed when the engine decodes span-constrained."""
        if not 0 < len(prompts) <= self.config.parallel:
            raise ValueError(f"a group holds 1..{self.config.parallel} prompts, got {len(prompts)}")
        started = time.perf_counter()
        shared = common_prefix_length(prompts, keep_one=True)
        self._prepare_prefix(list(prompts[0][:shared]))
        for seq in range(1, len(prompts) + 1):
            self._llama_cpp.llama_memory_seq_cp(self._memory, PREFIX_SEQ, seq, -1, -1)

        entries = []
        for seq, prompt in enumerate(prompts, start=1):
            last = len(prompt) - 1
            entries.extend((t, pos, seq, pos == last) for pos, t in enumerate(prompt) if pos >= shared)
        logits = self._decode_chunked(entries)
        self.stats.prompt_tokens_decoded += len(entries)

        generated: list[list[int]] = [[] for _ in prompts]
        logprobs = [0.0] * len(prompts)
        starts = [self._start_answer(row, contexts[i] if contexts else None) for i, row in enumerate(logits)]
        choosers = [chooser for chooser, _, _ in starts]
        abstained = [abstain for _, _, abstain in starts]
        finished_at = [time.perf_counter() - started if a else 0.0 for a in abstained]
        active = [i for i, abstain in enumerate(abstained) if not abstain]
        logits = [logits[i] for i in active]
        while active:
            step = []
            for index, row in zip(active, logits, strict=True):
                token = choosers[index].choose(row)
                logprobs[index] += choosers[index].log_prob(row, token)
                done = self.is_end_of_generation(token)
                if not done:
                    generated[index].append(token)
                    choosers[index].advance(token)
                if done or len(generated[index]) >= self.config.max_answer_tokens:
                    finished_at[index] = time.perf_counter() - started
                else:
                    step.append(index)
            active = step
            if active:
                entries = [
                    (generated[i][-1], len(prompts[i]) + len(generated[i]) - 1, i + 1, True) for i in active
                ]
                logits = self._decode(entries)
                self.stats.decode_steps += 1
                self.stats.step_sequences += len(entries)
        generations = []
        for prompt, tokens, (_, first_na_prob, abstained_first), latency, logprob in zip(
            prompts, generated, starts, finished_at, logprobs, strict=True
        ):
            na_prob, abstain = self._settle(first_na_prob, logprob, abstained_first)
            generations.append(
                Generation(
                    text=ABSTAIN if abstain else self.detokenize(tokens),
                    prompt_tokens=len(prompt),
                    generated_tokens=len(tokens),
                    na_prob=na_prob,
                    latency_s=latency,
                    answer_logprob=None if abstained_first else logprob,
                )
            )
        return generations


def _apply_rope(params, rope: RopeSettings) -> None:
    import llama_cpp

    if rope.scaling not in ROPE_SCALING_TYPES:
        raise EdgeQAError(
            f"RoPE scaling must be one of {', '.join(ROPE_SCALING_TYPES)}, not {rope.scaling!r}"
        )
    params.rope_scaling_type = getattr(llama_cpp, f"LLAMA_ROPE_SCALING_TYPE_{rope.scaling.upper()}")
    params.rope_freq_base = rope.freq_base
    params.rope_freq_scale = rope.freq_scale
    params.yarn_ext_factor = rope.yarn_ext_factor
    params.yarn_attn_factor = rope.yarn_attn_factor
    params.yarn_beta_fast = rope.yarn_beta_fast
    params.yarn_beta_slow = rope.yarn_beta_slow
    params.yarn_orig_ctx = rope.yarn_orig_ctx


def adapter_base_info(adapter: GGUFInfo) -> GGUFInfo:
    """The GGUF a LoRA adapter applies to (its `edgeqa.lora.base`: a path relative to the adapter,
    or a model name), carrying the adapter's prompt layout."""
    import dataclasses

    from edgeqa.models.registry import resolve_model

    if not adapter.adapter_base:
        raise EdgeQAError(
            f"{adapter.path}: a LoRA GGUF that names no base model; export it with edgeqa or load "
            "its base with llama.cpp's --lora"
        )
    relative = adapter.path.parent / adapter.adapter_base
    named = resolve_model(adapter.adapter_base)
    if not relative.is_file() and not named.is_file():
        raise EdgeQAError(
            f"{adapter.path}: its base {adapter.adapter_base!r} is neither a file beside it nor a "
            "model name (embedded, or a shipped reader's)"
        )
    base = read_gguf_info(relative if relative.is_file() else named)
    if base.is_adapter:
        raise EdgeQAError(f"{adapter.path}: its base {base.path} is itself a LoRA adapter")
    return dataclasses.replace(base, prompt_layout=adapter.prompt_layout)
