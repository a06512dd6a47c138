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


def answer_loss_sum(model, ids, mask, labels):
    """(sum of token losses, number of target tokens) for one batch."""
    import torch.nn.functional as F

    causal_lm = model.get_base_model()
    hidden = causal_lm.model(input_ids=ids, attention_mask=mask).last_hidden_state
    targets = labels[:, 1:]
    keep = targets != IGNORE_INDEX
    logits = causal_lm.lm_head(hidden[:, :-1][keep])
    loss = F.cross_entropy(logits.float(), targets[keep], reduction="sum")
    return loss, int(keep.sum())
