"""The training loss: cross-entropy on the answer tokens only, with logits only where needed.

A causal LM normally projects every position onto the vocabulary (49k for SmolLM2) and throws
most of it away; for QA the loss needs a handful of answer positions per example, so we run the
transformer body once and apply the output head only at those positions.
"""

from __future__ import annotations

from collections.abc import Sequence

from edgeqa.finetune.examples import IGNORE_INDEX, TrainingExample


def collate(examples: Sequence[TrainingExample], pad_id: int, device="cpu"):
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
    return ids.to(device), mask.to(device), labels.to(device)


def answer_loss_sum(model, ids, mask, labels, decision_weight: float = 1.0):
    """(weighted sum of token losses, sum of the weights) for one batch. Each example's first
    target token, where a SQuAD 2.0 answer decides between abstaining and answering, weighs
    `decision_weight`; every other target token weighs 1."""
    import torch.nn.functional as F

    causal_lm = model.get_base_model()
    hidden = causal_lm.model(input_ids=ids, attention_mask=mask).last_hidden_state
    targets = labels[:, 1:]
    keep = targets != IGNORE_INDEX
    logits = causal_lm.lm_head(hidden[:, :-1][keep])
    losses = F.cross_entropy(logits.float(), targets[keep], reduction="none")
    first = (keep & (keep.cumsum(dim=1) == 1))[keep]
    weights = 1 + (decision_weight - 1) * first.float()
    return (losses * weights).sum(), float(weights.sum())


def weighted_target_tokens(example: TrainingExample, decision_weight: float) -> float:
    """The sum of an example's target-token weights in `answer_loss_sum`: what a batch's loss is
    divided by, known before the forward passes of gradient accumulation."""
    if example.target_tokens == 0:
        return 0.0
    return example.target_tokens + decision_weight - 1
