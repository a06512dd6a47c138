"""Summaries of timed answers: percentiles pooled over repeats, and the spread between repeats."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _rate(tokens: float, seconds: float) -> float | None:
    return round(tokens / seconds, 1) if seconds > 0 else None


def pass_rates(answers: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """Prompt-processing and generation tokens/s of one pass (token-weighted, not averaged)."""
    return {
        "prompt_tokens_per_s": _rate(
            sum(a["prompt_tokens"] for a in answers), sum(a["prefill_s"] for a in answers)
        ),
        "generation_tokens_per_s": _rate(
            sum(a["decoded_tokens"] for a in answers), sum(a["decode_s"] for a in answers)
        ),
    }


def summarize(passes: Sequence[Sequence[dict[str, Any]]]) -> dict[str, Any]:
    pooled = [answer for one_pass in passes for answer in one_pass]
    latency = np.array([a["latency_s"] for a in pooled])
    ttft = np.array([a["ttft_s"] for a in pooled])
    per_pass = [pass_rates(p) for p in passes]
    p50_per_pass = [float(np.percentile([a["latency_s"] for a in p], 50)) for p in passes]
    summary: dict[str, Any] = {
        "answers": len(pooled),
        "latency_mean_s": round(float(latency.mean()), 4),
        **{f"latency_p{q}_s": round(float(np.percentile(latency, q)), 4) for q in (50, 95, 99)},
        "ttft_p50_s": round(float(np.percentile(ttft, 50)), 4),
        "ttft_p95_s": round(float(np.percentile(ttft, 95)), 4),
        **pass_rates(pooled),
        "mean_prompt_tokens": round(float(np.mean([a["prompt_tokens"] for a in pooled])), 1),
        "mean_answer_tokens": round(float(np.mean([a["generated_tokens"] for a in pooled])), 2),
        "latency_p50_per_repeat_s": [round(v, 4) for v in p50_per_pass],
        "generation_tokens_per_s_per_repeat": [r["generation_tokens_per_s"] for r in per_pass],
    }
    summary["latency_p50_spread"] = round(
        (max(p50_per_pass) - min(p50_per_pass)) / max(min(p50_per_pass), 1e-9), 3
    )
    return summary
