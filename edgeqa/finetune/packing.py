"""Shared-context packing: a paragraph's questions trained in one sequence, its tokens read once.

SQuAD has about five questions per paragraph, and the paragraph is most of every prompt, so
training them one by one spends most of the forward and backward passes re-reading the same
tokens. A pack is [shared prompt prefix][rest of question 1 + answer][rest of question 2 +
answer]...: every question attends to the prefix and to itself only, and its positions continue
from the prefix as if it stood alone, so each answer token sees exactly the context it would see
unpacked (the loss is the same, to float rounding; tests/finetune/test_packing.py checks it).
The prefix is the token prefix the questions' rendered prompts share, so it also matches what the
runtime caches for a paragraph at inference.
"""

from __future__ import annotations

from collections.abc import Sequence

from edgeqa.data.squad import QAExample
from edgeqa.finetune.examples import IGNORE_INDEX, TrainingExample, encode_fitting
from edgeqa.sequences import common_prefix_length


def _prompt_length(example: TrainingExample) -> int:
    return next(i for i, label in enumerate(example.labels) if label != IGNORE_INDEX)


def pack(examples: Sequence[TrainingExample]) -> TrainingExample:
    """One packed sequence of examples that share a prompt prefix (one example is returned as is)."""
    if len(examples) == 1:
        return examples[0]
    shared = min(
        common_prefix_length([e.input_ids for e in examples]), *(_prompt_length(e) for e in examples)
    )
    ids, labels = list(examples[0].input_ids[:shared]), [IGNORE_INDEX] * shared
    segments, positions = [0] * shared, list(range(shared))
    for number, example in enumerate(examples, start=1):
        rest = len(example.input_ids) - shared
        ids += example.input_ids[shared:]
        labels += example.labels[shared:]
        segments += [number] * rest
        positions += range(shared, shared + rest)
    return TrainingExample(ids, labels, tuple(segments), tuple(positions), questions=len(examples))


def pack_by_context(
    examples: Sequence[TrainingExample], contexts: Sequence[str], max_length: int
) -> list[TrainingExample]:
    """Packs of the examples that share a paragraph (`contexts[i]` is example i's), each at most
    `max_length` tokens; a paragraph with more questions than fit is split over several packs.
    A pack's length is kept as it grows (sum of lengths less the shared prefix each repeats), so
    packing is linear in the questions of a paragraph."""
    groups: dict[str, list[TrainingExample]] = {}
    for example, context in zip(examples, contexts, strict=True):
        groups.setdefault(context, []).append(example)
    packs: list[TrainingExample] = []
    for group in groups.values():
        current: list[TrainingExample] = []
        total = shared = 0
        for example in group:
            if current:
                common = common_prefix_length([current[0].input_ids, example.input_ids])
                narrowed = min(shared, common, _prompt_length(example))
                if total + len(example.input_ids) - len(current) * narrowed > max_length:
                    packs.append(pack(current))
                    current = []
                else:
                    shared = narrowed
            if not current:
                total, shared = 0, _prompt_length(example)
            current.append(example)
            total += len(example.input_ids)
        packs.append(pack(current))
    return packs


def encode_packed(
    tokenizer, examples: Sequence[QAExample], max_length: int, layout: str
) -> tuple[list[TrainingExample], int, int]:
    """(packs, questions packed, questions left out for length) of SQuAD examples."""
    fitting = encode_fitting(tokenizer, examples, max_length, layout)
    packs = pack_by_context([encoded for _, encoded in fitting], [e.context for e, _ in fitting], max_length)
    return packs, len(fitting), len(examples) - len(fitting)
