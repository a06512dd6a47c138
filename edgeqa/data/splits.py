"""Article-level train/validation/test splits: paragraphs repeat within an article, so a
question-level split would leak the test contexts into training."""

from __future__ import annotations

import random
from collections.abc import Sequence

from edgeqa.data.squad import QAExample
from edgeqa.errors import EdgeQAError


def split_by_article(
    examples: Sequence[QAExample], fractions: Sequence[float], seed: int
) -> tuple[list[QAExample], list[QAExample], list[QAExample]]:
    """(train, validation, test) with whole articles in each part, chosen by a seeded shuffle."""
    titles = list(dict.fromkeys(e.title for e in examples))
    n_parts = sum(1 for f in fractions if f > 0)
    if len(titles) < n_parts:
        raise EdgeQAError(
            f"an article-level split into {n_parts} parts needs at least {n_parts} articles, "
            f"the data has {len(titles)}; pass --val-data or change --split"
        )
    random.Random(seed).shuffle(titles)
    counts = [round(f * len(titles)) for f in fractions]
    for i, fraction in enumerate(fractions):  # every non-empty part gets at least one article
        if fraction > 0 and counts[i] == 0:
            counts[i] = 1
    counts[0] = len(titles) - sum(counts[1:])
    if counts[0] < 1:
        raise EdgeQAError("the split leaves no article for training")
    bounds = [0, counts[0], counts[0] + counts[1], len(titles)]
    parts = [set(titles[bounds[i] : bounds[i + 1]]) for i in range(3)]
    train, val, test = ([e for e in examples if e.title in part] for part in parts)
    return train, val, test
