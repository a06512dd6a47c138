"""Turn SQuAD questions and instruction conversations into token sequences for training.

The prompt is rendered with the model's own chat template (the one the GGUF carries), the target
is the first gold answer (or the abstention for unanswerable questions) plus the end-of-turn
token, and only the target tokens carry a loss, so the model learns to answer, not to copy.
Conversations are rendered turn by turn the same way; every assistant turn is a target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edgeqa.data.instructions import Conversation
from edgeqa.data.squad import QAExample
from edgeqa.errors import EdgeQAError
from edgeqa.models.chat_tokens import end_of_turn_id, prompt_ids, render_chat, with_bos
from edgeqa.prompts import ABSTAIN, DEFAULT_PROMPT_LAYOUT, qa_messages

IGNORE_INDEX = -100


@dataclass(frozen=True)
class TrainingExample:
    input_ids: list[int]
    labels: list[int]  # IGNORE_INDEX on prompt tokens
    segments: tuple[int, ...] | None = None
    """Packed questions (finetune/packing.py): 0 on the shared prefix, k on the k-th question."""
    positions: tuple[int, ...] | None = None
    """Packed questions: each token's position as if its question stood alone."""
    questions: int = 1

    @property
    def target_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)

    @property
    def answers(self) -> int:
        """Target runs: each answer's first token is where the model abstains or answers."""
        previous = IGNORE_INDEX
        runs = 0
        for label in self.labels:
            runs += label != IGNORE_INDEX and previous == IGNORE_INDEX
            previous = label
        return runs


def target_text(example: QAExample) -> str:
    return example.answers[0] if example.answers else ABSTAIN


def encode_example(tokenizer, example: QAExample, layout: str = DEFAULT_PROMPT_LAYOUT) -> TrainingExample:
    prompt = prompt_ids(tokenizer, qa_messages(example.context, example.question, layout))
    answer_ids = tokenizer(target_text(example), add_special_tokens=False)["input_ids"]
    answer_ids = [*answer_ids, end_of_turn_id(tokenizer)]
    return TrainingExample(
        input_ids=prompt + answer_ids,
        labels=[IGNORE_INDEX] * len(prompt) + answer_ids,
    )


def _assistant_reply_ids(tokenizer, reply: str) -> tuple[list[int], list[int]]:
    """(ids, labels) of one rendered assistant reply: the loss stops at the end-of-turn token
    (appended when the template has none); whatever the template adds after it carries none."""
    eot = end_of_turn_id(tokenizer)
    ids = tokenizer(reply, add_special_tokens=False)["input_ids"]
    if eot not in ids:
        ids = [*ids, eot]
    cut = ids.index(eot) + 1
    return ids, ids[:cut] + [IGNORE_INDEX] * (len(ids) - cut)


def encode_conversation(tokenizer, conversation: Conversation) -> TrainingExample:
    """Render turn by turn with the chat template; the prefix up to each assistant turn is
    context, the turn itself the target. Needs a template whose renderings extend each other."""
    messages = list(conversation.messages)
    ids: list[int] = []
    labels: list[int] = []
    rendered = ""
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prefix = render_chat(tokenizer, messages[:i], add_generation_prompt=True)
        full = render_chat(tokenizer, messages[: i + 1])
        if not (prefix.startswith(rendered) and full.startswith(prefix)):
            raise EdgeQAError(
                f"conversation {conversation.cid}: the model's chat template renders earlier turns "
                "differently once later turns are added; cannot tell which tokens are the reply"
            )
        context_ids = tokenizer(prefix[len(rendered) :], add_special_tokens=False)["input_ids"]
        context_ids = context_ids if rendered else with_bos(tokenizer, context_ids)
        reply_ids, reply_labels = _assistant_reply_ids(tokenizer, full[len(prefix) :])
        ids += context_ids + reply_ids
        labels += [IGNORE_INDEX] * len(context_ids) + reply_labels
        rendered = full
    return TrainingExample(input_ids=ids, labels=labels)


def _encode_one(tokenizer, example: QAExample | Conversation, layout: str) -> TrainingExample:
    if isinstance(example, Conversation):
        return encode_conversation(tokenizer, example)
    return encode_example(tokenizer, example, layout)


def encode_fitting(
    tokenizer,
    examples: Sequence[QAExample | Conversation],
    max_length: int,
    layout: str = DEFAULT_PROMPT_LAYOUT,
) -> list[tuple[QAExample | Conversation, TrainingExample]]:
    """Each example beside its encoding, those longer than max_length left out."""
    pairs = [(e, _encode_one(tokenizer, e, layout)) for e in examples]
    return [(source, encoded) for source, encoded in pairs if len(encoded.input_ids) <= max_length]


def encode_examples(
    tokenizer,
    examples: Sequence[QAExample | Conversation],
    max_length: int,
    layout: str = DEFAULT_PROMPT_LAYOUT,
) -> tuple[list[TrainingExample], int]:
    """(encoded examples that fit max_length, how many were left out for length)."""
    kept = [encoded for _, encoded in encode_fitting(tokenizer, examples, max_length, layout)]
    return kept, len(examples) - len(kept)
