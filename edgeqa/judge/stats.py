"""Judge statistics: a bootstrap confidence interval for a mean score, and rank correlation
with the SQuAD metrics (numpy only; scores are small integers, so ties are the rule)."""

from __future__ import annotations

from collections.abc import Sequence

BOOTSTRAP_SAMPLES = 2000


def mean_ci95(values: Sequence[float], seed: int = 0) -> dict[str, float | list[float]]:
    """Mean and a 95% percentile-bootstrap interval (seeded, so reports are reproducible)."""
    import numpy as np

    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return {"mean": float("nan"), "ci95": [float("nan"), float("nan")]}
    resamples = np.random.default_rng(seed).choice(data, size=(BOOTSTRAP_SAMPLES, data.size)).mean(axis=1)
    low, high = np.percentile(resamples, [2.5, 97.5])
    return {"mean": round(float(data.mean()), 3), "ci95": [round(float(low), 3), round(float(high), 3)]}


def _average_ranks(values):
    import numpy as np

    data = np.asarray(values, dtype=float)
    order = data.argsort(kind="mergesort")
    ranks = np.empty(data.size)
    ranks[order] = np.arange(data.size, dtype=float)
    for value in np.unique(data):  # tied values share their mean rank
        tied = data == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rho with average ranks; None when either side is constant (rho undefined)."""
    import numpy as np

    if len(a) != len(b):
        raise ValueError("spearman needs two sequences of the same length")
    if len(a) < 2 or len(set(a)) < 2 or len(set(b)) < 2:
        return None
    return round(float(np.corrcoef(_average_ranks(a), _average_ranks(b))[0, 1]), 3)
