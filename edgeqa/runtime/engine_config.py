"""The engine's settings and what it reports back: plain data, importable without llama.cpp."""

from __future__ import annotations

from dataclasses import dataclass

from edgeqa.errors import EdgeQAError
from edgeqa.runtime.na_scores import NO_ANSWER_SCORES, AbstentionScore, AnswerScore


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

# Where the no-answer probability comes from: see na_scores.py.


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
    prompt_cache: int = 0  # contexts kept in the KV cache between groups (a server's prompt cache)
    prompt_cache_ram_mib: int = 0  # evicted prompt-cache entries saved in host RAM, up to this
    use_mmap: bool = True
    rope: RopeSettings = RopeSettings()
    # the answer policy as the engine applies it (edgeqa.reader.policy resolves and checks it)
    span_constrained: bool = False  # the answer must be a span of the context or the abstention
    na_threshold: float | None = None  # abstain when the no-answer probability exceeds it; else answer
    na_score: str = "abstention"  # one of NA_SCORES

    @property
    def no_answer_score(self) -> AbstentionScore | AnswerScore:
        """The rules of the configured no-answer score."""
        return NO_ANSWER_SCORES[self.na_score]

    def __post_init__(self) -> None:
        for name, flag in ENGINE_FLAGS.items():
            if getattr(self, name) < 1:
                raise EdgeQAError(f"{flag} must be at least 1, not {getattr(self, name)}")


@dataclass
class EngineStats:
    """What the engine actually decoded: the inputs of the throughput floor in benchmarks/."""

    prompt_tokens_decoded: int = 0
    prompt_tokens_cached: int = 0  # prompt tokens copied from the prompt cache instead
    decode_steps: int = 0
    step_sequences: int = 0  # sum over decode steps of the sequences decoded in that step


@dataclass(frozen=True)
class Generation:
    """One answer: its text, token counts, the no-answer probability, the log-probability of
    the decoded tokens (None when a threshold abstained before decoding), when it finished and,
    with span decoding, where in the context's bytes the answer ends (every occurrence)."""

    text: str
    prompt_tokens: int
    generated_tokens: int
    na_prob: float
    latency_s: float
    answer_logprob: float | None = None
    context_ends: tuple[int, ...] = ()  # span decoding: byte offsets in the context where the answer ends


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
