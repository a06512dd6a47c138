"""The training loss: cross-entropy on the answer tokens only, with logits only where needed.

A causal LM normally projects every position onto the vocabulary (49k for SmolLM2) and throws
most of it away; for QA the loss needs a handful of answer positions per example, so we run the
transformer body once and apply the output head only at those positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from edgeqa.finetune.examples import IGNORE_INDEX, TrainingExample


class Batch(NamedTuple):
    """Model inputs of one micro-batch. `mask` is [batch, length] for plain examples; with packed
    ones it is [batch, 1, length, length] (True where a token may attend) and `positions` is set."""

    ids: Any
    mask: Any
    labels: Any
    positions: Any = None


def collate(examples: Sequence[TrainingExample], pad_id: int, device="cpu") -> Batch:
    """Right-padded input ids, attention mask and labels as tensors on the model's device."""
    import torch

    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, example in enumerate(examples):
        n = len(example.input_ids)
        ids[row, :n] = torch.tensor(example.input_ids)
        labels[row, :n] = torch.tensor(example.labels)
        mask[row, :n] = 1
    if all(e.segments is None for e in examples):
        return Batch(ids.to(device), mask.to(device), labels.to(device))
    segments = torch.full((len(examples), width), -1, dtype=torch.long)  # -1: padding
    positions = torch.zeros((len(examples), width), dtype=torch.long)
    for row, example in enumerate(examples):
        n = len(example.input_ids)
        segments[row, :n] = torch.tensor(example.segments or [1] * n)
        positions[row, :n] = torch.tensor(example.positions or range(n))
    query, key = segments[:, :, None], segments[:, None, :]
    causal = torch.ones(width, width, dtype=torch.bool).tril()
    visible = causal & (key >= 0) & ((key == 0) | (key == query))
    visible |= torch.eye(width, dtype=torch.bool)  # padding rows attend to themselves (no NaN)
    return Batch(ids.to(device), visible[:, None].to(device), labels.to(device), positions.to(device))


def answer_loss_sum(model, batch: Batch, decision_weight: float = 1.0):
    """(weighted sum of token losses, sum of the weights) for one batch. Each answer's first
    token, where a SQuAD 2.0 answer decides between abstaining and answering, weighs
    `decision_weight`; every other target token weighs 1."""
    import torch.nn.functional as F

    causal_lm = model.get_base_model()
    hidden = causal_lm.model(
        input_ids=batch.ids, attention_mask=batch.mask, position_ids=batch.positions
    ).last_hidden_state
    targets = batch.labels[:, 1:]
    keep = targets != IGNORE_INDEX
    logits = causal_lm.lm_head(hidden[:, :-1][keep])
    losses = F.cross_entropy(logits.float(), targets[keep], reduction="none")
    before = batch.labels[:, :-1] != IGNORE_INDEX  # the token before each target is a target too
    first = (keep & ~before)[keep]
    weights = 1 + (decision_weight - 1) * first.float()
    return (losses * weights).sum(), float(weights.sum())


def weighted_target_tokens(example: TrainingExample, decision_weight: float) -> float:
    """The sum of an example's target-token weights in `answer_loss_sum`: what a batch's loss is
    divided by, known before the forward passes of gradient accumulation."""
    return example.target_tokens + (decision_weight - 1) * example.answers
