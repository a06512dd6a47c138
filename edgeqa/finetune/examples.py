"""Turn SQuAD questions into token sequences for training, with the shared prompt.

The prompt is rendered with the model's own chat template (the one the GGUF carries), the target
is the first gold answer (or the abstention for unanswerable questions) plus the end-of-turn
token, and only the target tokens carry a loss, so the model learns to answer, not to copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edgeqa.data.squad import QAExample
from edgeqa.prompts import ABSTAIN, qa_messages

IGNORE_INDEX = -100


@dataclass(frozen=True)
class TrainingExample:
    input_ids: list[int]
    labels: list[int]  # IGNORE_INDEX on prompt tokens

    @property
    def target_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


def target_text(example: QAExample) -> str:
    return example.answers[0] if example.answers else ABSTAIN


def end_of_turn_id(tokenizer) -> int:
    """The token that ends the assistant's turn: what llama.cpp stops on after export."""
    return tokenizer.eos_token_id


def encode_example(tokenizer, example: QAExample) -> TrainingExample:
    prompt = tokenizer.apply_chat_template(
        qa_messages(example.context, example.question), add_generation_prompt=True, tokenize=False
    )
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(target_text(example), add_special_tokens=False)["input_ids"]
    answer_ids = [*answer_ids, end_of_turn_id(tokenizer)]
    return TrainingExample(
        input_ids=prompt_ids + answer_ids,
        labels=[IGNORE_INDEX] * len(prompt_ids) + answer_ids,
    )


def encode_examples(
    tokenizer, examples: Sequence[QAExample], max_length: int
) -> tuple[list[TrainingExample], int]:
    """(encoded examples that fit max_length, how many were left out for length)."""
    encoded = [encode_example(tokenizer, e) for e in examples]
    kept = [e for e in encoded if len(e.input_ids) <= max_length]
    return kept, len(encoded) - len(kept)
