"""Training-recipe levers for small models, each a config switch so its effect can be ablated.

- answerable_share: SQuAD 2.0 is half unanswerable; a 135M model trained on that balance learns
  to abstain far more often than to answer. Fewer unanswerable examples shift that bias (on
  SmolLM2-135M it did not improve how well the model tells the two apart: README, "Answer quality").
- context_window: SQuAD paragraphs run to several hundred tokens, while the answer sits in one
  sentence. Cropping each training paragraph to a window of words that holds the answer (at a
  seeded random place in it, so the model learns no position) makes every step cheaper on a
  CPU. An unanswerable question's window holds its plausible answer, where the data marks one
  (SQuAD 2.0 does), and it keeps its whole paragraph otherwise: a random window could drop the
  sentence the question was written against and teach the easy "not in the text" kind of
  abstention instead of the hard one. Validation and evaluation keep whole paragraphs.
- NEFTune (Jain et al., 2023): uniform noise on the input embeddings while training, scaled by
  alpha / sqrt(sequence length x width); a regulariser for small instruction-tuning sets.
"""

from __future__ import annotations

import bisect
import dataclasses
import random
import re
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


def _target_span(example: QAExample) -> tuple[int, int] | None:
    """Character span the crop must keep: the first gold answer (the training target, found by
    text when the data gives no offset), or an unanswerable question's plausible answer."""
    return example.answer_span() if example.answers else example.plausible_span


def crop_context(example: Example, words: int, rng: random.Random) -> Example:
    """The example with its paragraph cut to `words` whitespace-separated words that hold its
    target span at a random place; unchanged when the paragraph is that short, the span is
    longer, or there is no span to keep."""
    if words <= 0:  # the default: no scan of every training paragraph
        return example
    spans = [m.span() for m in re.finditer(r"\S+", example.context)]
    target = _target_span(example)
    if len(spans) <= words or target is None:
        return example
    starts = [start for start, _ in spans]
    first = max(bisect.bisect_right(starts, target[0]) - 1, 0)
    last = bisect.bisect_right(starts, target[1] - 1) - 1
    if last - first + 1 > words:
        return example
    begin = rng.randint(max(0, last - words + 1), min(first, len(spans) - words))
    cut, end = spans[begin][0], spans[begin + words - 1][1]
    moved = (target[0] - cut, target[1] - cut)
    if not example.answers:
        return dataclasses.replace(example, context=example.context[cut:end], plausible_span=moved)
    return dataclasses.replace(
        example, context=example.context[cut:end], answers=example.answers[:1], answer_starts=(moved[0],)
    )


def crop_contexts(examples: Sequence[Example], words: int, seed: int) -> list[Example]:
    """`crop_context` over a training set with one seeded generator (0 words keeps them all)."""
    rng = random.Random(seed)
    return [crop_context(example, words, rng) for example in examples]


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
