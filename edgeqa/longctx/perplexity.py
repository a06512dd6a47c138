"""Perplexity of a long window through llama.cpp: what `edgeqa longctx` reports at each context
length and RoPE setting."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgeqa.runtime.language_model import LanguageModel
from edgeqa.runtime.llama_session import PREFIX_SEQ


def window_nll(engine: LanguageModel, tokens: Sequence[int], first_scored: int) -> tuple[float, int]:
    """(sum of -log p(next token), count) for the positions from `first_scored` on, decoding
    `tokens` from an empty cache. Scored chunk by chunk, so a 32K-token window never holds
    more than one batch of logits."""
    if not 0 < len(tokens) <= engine.config.n_ctx:
        raise ValueError(f"need 1..{engine.config.n_ctx} tokens, got {len(tokens)}")
    engine.reset()
    nll, count = 0.0, 0
    step = engine.config.n_batch
    for start in range(0, len(tokens), step):
        entries = [
            (t, i, PREFIX_SEQ, first_scored <= i < len(tokens) - 1)
            for i, t in enumerate(tokens[start : start + step], start=start)
        ]
        rows = engine.session.decode(entries)
        positions = [i for _, i, _, wanted in entries if wanted]
        for row, position in zip(rows, positions, strict=True):
            shifted = row.astype(np.float64) - row.max()
            nll -= shifted[tokens[position + 1]] - np.log(np.exp(shifted).sum())
            count += 1
    engine.reset()
    return nll, count
