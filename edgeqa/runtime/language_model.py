"""A GGUF as a plain language model: prompt tokens, the next token's logits, a sequence's logits.

What the judge (scores as next-token logits), longctx (perplexity) and the export's checks (the
merged model against its GGUF) need of llama.cpp, and no more; `QAEngine` is one too, with the
batched answering on top.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgeqa.errors import EdgeQAError
from edgeqa.runtime.chat_prompts import ChatPrompts
from edgeqa.runtime.engine_config import EngineConfig, EngineStats
from edgeqa.runtime.kv_prefix import PrefixKV
from edgeqa.runtime.llama_session import PREFIX_SEQ, LlamaSession


class LanguageModel:
    """A loaded GGUF with one llama.cpp context; use as a context manager to free it promptly."""

    def __init__(self, model_path: str | Path, config: EngineConfig | None = None):
        self.config = config = config or EngineConfig()
        self.session = LlamaSession(model_path, config)
        self.stats = EngineStats()
        self.prompts = ChatPrompts(self.session)
        self.kv = PrefixKV(self.session, config, self.stats)

    def close(self) -> None:
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def tokenize(self, text: str) -> list[int]:
        """Plain text's tokens (special-token text stays text)."""
        return self.session.tokenize(text, special=False)

    def prompt_tokens(self, messages: list[dict[str, str]]) -> list[int]:
        """Chat messages as the model's prompt, up to its reply (see ChatPrompts)."""
        return self.prompts.prompt_tokens(messages)

    def reset(self) -> None:
        """Empty the KV cache: every sequence, the cached prefix and the prompt cache."""
        self.kv.reset()

    def next_token_logits(self, tokens: Sequence[int]) -> np.ndarray:
        """Logits for the token after `tokens`, reusing the cached prefix they share with the
        previous call (a judge's prompts differ only in their last few tokens)."""
        if not 0 < len(tokens) <= self.config.n_ctx:
            raise EdgeQAError(f"a prompt of {len(tokens)} tokens does not fit --n-ctx {self.config.n_ctx}")
        self.kv.prepare(list(tokens[:-1]))
        (logits,) = self.session.decode([(tokens[-1], len(tokens) - 1, PREFIX_SEQ, True)])
        self.kv.cached = list(tokens)
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
