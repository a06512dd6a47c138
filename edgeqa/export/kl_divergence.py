"""How far a quantized GGUF's predictions drift from its f16 reference, token by token.

As `llama-perplexity --kl-divergence` does it: the text is cut into windows of `window` tokens,
each decoded from an empty cache, and the second half of each window is scored (every scored
token has at least half a window of context). For every scored position the full next-token
distributions of the reference and the candidate are compared: KL(reference || candidate), whether
their most likely tokens agree, and each one's log-likelihood of the real next token. A
perplexity average hides a quantization that reshuffles the distribution without moving the
likelihood of the text much; the KL divergence does not.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeqa.errors import EdgeQAError


@dataclass(frozen=True)
class Drift:
    """One candidate against the reference."""

    mean: float
    median: float
    p99: float
    top1_agreement: float
    perplexity: float
    perplexity_ratio: float
    tokens: int

    def kl_dict(self) -> dict[str, Any]:
        """The manifest's `kl_divergence` object."""
        return {
            "mean": round(self.mean, 6),
            "median": round(self.median, 6),
            "p99": round(self.p99, 6),
            "top1_agreement": round(self.top1_agreement, 4),
            "tokens": self.tokens,
        }


def scored_tokens(token_count: int, window: int) -> int:
    """How many positions `compare` scores in `token_count` tokens of text."""
    return (token_count // window) * (window - window // 2 - 1)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    """In float32: a KL divergence of 1e-4 summed over 49k terms keeps about 1e-6 of error,
    and float64 would double the time of a step that rivals the model's own."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def compare(
    reference: Path,
    candidates: Sequence[Path],
    tokens: Sequence[int],
    window: int = 512,
    threads: int = 2,
    show_progress: bool = True,
) -> tuple[float, dict[Path, Drift]]:
    """(the reference's perplexity, each candidate's drift from it) over `tokens`. All models
    stay open together so the reference's distributions are computed once per window."""
    from tqdm import tqdm

    from edgeqa.runtime.engine_config import EngineConfig
    from edgeqa.runtime.language_model import LanguageModel

    windows = [tokens[start : start + window] for start in range(0, len(tokens) - window + 1, window)]
    if not windows:
        raise EdgeQAError(f"KL divergence: need at least {window} tokens of held-out text, got {len(tokens)}")
    first = window // 2
    config = EngineConfig(n_ctx=window, n_threads=threads, parallel=1)
    kl: dict[Path, list[np.ndarray]] = {path: [] for path in candidates}
    agree = dict.fromkeys(candidates, 0)
    nll, ref_nll = dict.fromkeys(candidates, 0.0), 0.0  # the reference may be a candidate too
    with contextlib.ExitStack() as stack:
        engines = {
            path: stack.enter_context(LanguageModel(path, config)) for path in [reference, *candidates]
        }
        for text in tqdm(windows, desc="KL divergence", unit="window", disable=not show_progress):
            targets = np.array(text[first + 1 :])
            rows = np.arange(len(targets))
            ref = _log_softmax(engines[reference].sequence_logits(text, first)[:-1])
            ref_nll -= ref[rows, targets].sum(dtype=np.float64)
            ref_probs = np.exp(ref)
            for path in candidates:
                own = _log_softmax(engines[path].sequence_logits(text, first)[:-1])
                kl[path].append((ref_probs * (ref - own)).sum(axis=1, dtype=np.float64))
                agree[path] += int((own.argmax(axis=1) == ref.argmax(axis=1)).sum())
                nll[path] -= own[rows, targets].sum(dtype=np.float64)
    count = len(windows) * (window - first - 1)
    ref_ppl = float(np.exp(ref_nll / count))
    drifts = {}
    for path in candidates:
        values = np.maximum(np.concatenate(kl[path]), 0.0)  # rounding can dip a hair below zero
        ppl = float(np.exp(nll[path] / count))
        drifts[path] = Drift(
            mean=float(values.mean()),
            median=float(np.median(values)),
            p99=float(np.percentile(values, 99)),
            top1_agreement=agree[path] / count,
            perplexity=ppl,
            perplexity_ratio=ppl / ref_ppl,
            tokens=count,
        )
    return ref_ppl, drifts
