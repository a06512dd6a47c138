"""Instruction data for `edgeqa finetune`: Alpaca, `messages` and ShareGPT records as chat turns.

Every format ends as the same `Conversation` (system/user/assistant turns), which the trainer
renders with the model's own chat template, so an instruction-tuned adapter exports, profiles and
demos exactly like a SQuAD one. Records come from a local .json (a list) or .jsonl file, or a hub
id (its train split).

- alpaca:   {"instruction", "input" (optional), "output"}
- messages: {"messages": [{"role": "system"|"user"|"assistant", "content": ...}, ...]}
- sharegpt: {"conversations": [{"from": "system"|"human"|"gpt", "value": ...}, ...]}
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from edgeqa.data.records import hub_rows, jsonl_records, local_file, read_json
from edgeqa.errors import EdgeQAError

INSTRUCTION_FORMATS = ("alpaca", "messages", "sharegpt")
DATA_FORMATS = ("auto", "squad", *INSTRUCTION_FORMATS)
ROLES = ("system", "user", "assistant")
SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
}


@dataclass(frozen=True)
class Conversation:
    """One training conversation; the loss falls on its assistant turns only."""

    cid: str
    messages: tuple[dict[str, str], ...]


def record_format(record: object) -> str | None:
    """Which instruction format a record is in, or 'squad' for a SQuAD question, or None."""
    if not isinstance(record, dict):
        return None
    if "messages" in record:
        return "messages"
    if "conversations" in record:
        return "sharegpt"
    if "instruction" in record and "output" in record:
        return "alpaca"
    if ("context" in record and "question" in record) or isinstance(record.get("data"), list):
        return "squad"
    return None


Records = list[tuple[str, object]]  # (where, record): `where` names the line or row in errors


def read_records(source: str) -> Records:
    """Every record of a local .json (a list, or SQuAD's one object) or .jsonl file, or of a hub
    data set's train split; read once and handed to `sniff_format` and `load_conversations`."""
    path = local_file(source)
    if path is not None:
        if path.suffix == ".jsonl":
            return jsonl_records(path)
        document = read_json(path)
        if isinstance(document, dict) and "data" in document:
            return [(str(path), document)]  # SQuAD's official nesting: one record, sniffed below
        if not isinstance(document, list):
            raise EdgeQAError(f"{path}: expected a JSON list of instruction records")
        return [(f"{path}: record {i}", record) for i, record in enumerate(document)]
    return [(f"{source}: row {i}", row) for i, row in enumerate(hub_rows(source, "train"))]


def sniff_format(records: Records, source: str) -> str:
    """The data format of a source, from its first record: 'squad' or an instruction format."""
    found = record_format(records[0][1]) if records else None
    if found is None:
        raise EdgeQAError(
            f"{source}: cannot tell the data format from its first record; expected SQuAD "
            f"(context, question, answers) or instructions ({', '.join(INSTRUCTION_FORMATS)}); "
            "or pass --data-format"
        )
    return found


def _turn(role: object, content: object, where: str) -> dict[str, str]:
    if role not in ROLES or not isinstance(content, str):
        raise EdgeQAError(f"{where}: each turn needs a role ({', '.join(ROLES)}) and text content")
    return {"role": str(role), "content": content}


def to_conversation(record: object, data_format: str, where: str) -> Conversation:
    if not isinstance(record, dict):
        raise EdgeQAError(f"{where}: expected a JSON object")
    try:
        if data_format == "alpaca":
            prompt = record["instruction"].strip()
            if (record.get("input") or "").strip():
                prompt += "\n\n" + record["input"].strip()
            turns = [_turn("user", prompt, where), _turn("assistant", record["output"], where)]
        elif data_format == "messages":
            turns = [_turn(m["role"], m["content"], where) for m in record["messages"]]
        else:
            turns = [_turn(SHAREGPT_ROLES.get(m["from"]), m["value"], where) for m in record["conversations"]]
    except (KeyError, TypeError, AttributeError) as exc:
        raise EdgeQAError(f"{where}: not a {data_format} record (missing or bad field {exc})") from None
    return Conversation(str(record.get("id", where)), tuple(turns))


def load_conversations(records: Records, source: str, data_format: str) -> list[Conversation]:
    """Conversations with at least one non-empty assistant turn; an error if there are none."""
    if data_format not in INSTRUCTION_FORMATS:
        raise EdgeQAError(f"--data-format must be one of {', '.join(INSTRUCTION_FORMATS)} for conversations")
    conversations = [to_conversation(record, data_format, where) for where, record in records]
    usable = [
        c for c in conversations if any(m["role"] == "assistant" and m["content"].strip() for m in c.messages)
    ]
    if not usable:
        raise EdgeQAError(f"{source}: no {data_format} record has an assistant reply to train on")
    return usable


def split_conversations(
    conversations: Sequence[Conversation], fractions: Sequence[float], seed: int
) -> tuple[list[Conversation], list[Conversation], list[Conversation]]:
    """(train, validation, test) by a seeded shuffle; every part with a fraction > 0 gets one."""
    order = list(conversations)
    random.Random(seed).shuffle(order)
    counts = [max(1, round(f * len(order))) if f > 0 else 0 for f in fractions[1:]]
    if len(order) - sum(counts) < 1:
        raise EdgeQAError(f"{len(order)} conversations are too few for --split {tuple(fractions)}")
    n_val, n_test = counts
    return order[n_val + n_test :], order[:n_val], order[n_val : n_val + n_test]
