"""Training-recipe levers for small models, each a config switch so its effect can be ablated.

- answerable_share: SQuAD 2.0 is half unanswerable; a 135M model trained on that balance learns
  to abstain far more often than to answer. Fewer unanswerable examples shift that bias (on
  SmolLM2-135M it did not improve how well the model tells the two apart: README, "Answer quality").
- NEFTune (Jain et al., 2023): uniform noise on the input embeddings while training, scaled by
  alpha / sqrt(sequence length x width); a regulariser for small instruction-tuning sets.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

from edgeqa.data.squad import QAExample

Example = TypeVar("Example", bound=QAExample)


def rebalance_answerable(examples: Sequence[Example], share: float, seed: int) -> list[Example]:
    """A seeded subset in which `share` of the questions are answerable (0 keeps them all):
    whichever kind is over-represented is sampled down, the rest kept in order."""
    if share <= 0:
        return list(examples)
    answerable = [e for e in examples if e.answers]
    unanswerable = [e for e in examples if not e.answers]
    if not answerable or share >= 1:
        return answerable or list(examples)
    want_unanswerable = round(len(answerable) * (1 - share) / share)
    keep: set[str]
    rng = random.Random(seed)
    if want_unanswerable <= len(unanswerable):
        keep = {e.qid for e in answerable} | {e.qid for e in rng.sample(unanswerable, want_unanswerable)}
    else:
        want_answerable = round(len(unanswerable) * share / (1 - share))
        keep = {e.qid for e in unanswerable} | {e.qid for e in rng.sample(answerable, want_answerable)}
    return [e for e in examples if e.qid in keep]


def add_neftune_noise(model, alpha: float):
    """Hook NEFTune noise onto the input embeddings (training mode only); returns the handle,
    or None when alpha is 0."""
    if alpha <= 0:
        return None
    import torch

    def noisy(module, inputs, output):
        if not module.training:
            return output
        length, width = output.shape[-2], output.shape[-1]
        scale = alpha / (length * width) ** 0.5
        return output + torch.empty_like(output).uniform_(-scale, scale)

    return model.get_input_embeddings().register_forward_hook(noisy)
