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

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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


def _records_from_file(path: Path) -> list[tuple[str, object]]:
    """(where, record) pairs; `where` names the line or index for error messages."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise EdgeQAError(f"{path}: not a UTF-8 text file") from None
    if path.suffix == ".jsonl":
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    records.append((f"{path}:{number}", json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise EdgeQAError(f"{path}:{number}: invalid JSON ({exc.msg})") from None
        return records
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EdgeQAError(f"{path}: invalid JSON at line {exc.lineno} ({exc.msg})") from None
    if isinstance(document, dict) and "data" in document:
        return [(str(path), document)]  # SQuAD's official nesting: one record, sniffed below
    if not isinstance(document, list):
        raise EdgeQAError(f"{path}: expected a JSON list of instruction records")
    return [(f"{path}: record {i}", record) for i, record in enumerate(document)]


def _records_from_hub(dataset_id: str) -> list[tuple[str, object]]:
    try:
        import datasets
    except ImportError:
        raise EdgeQAError(f"loading '{dataset_id}' from the hub needs the 'datasets' package") from None
    try:
        rows = datasets.load_dataset(dataset_id, split="train")
    except Exception as exc:  # the hub raises many types; the user needs one line
        raise EdgeQAError(f"cannot load data set '{dataset_id}' (split train): {exc}") from None
    return [(f"{dataset_id}: row {i}", dict(row)) for i, row in enumerate(rows)]


def read_records(source: str) -> list[tuple[str, object]]:
    path = Path(source)
    if path.is_file():
        return _records_from_file(path)
    if path.suffix in {".json", ".jsonl"} or path.exists():
        raise EdgeQAError(f"{source}: no such data file")
    return _records_from_hub(source)


def sniff_format(source: str) -> str:
    """The data format of a source, from its first record: 'squad' or an instruction format."""
    records = read_records(source)
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


def load_conversations(source: str, data_format: str) -> list[Conversation]:
    """Conversations with at least one non-empty assistant turn; an error if there are none."""
    if data_format not in INSTRUCTION_FORMATS:
        raise EdgeQAError(f"--data-format must be one of {', '.join(INSTRUCTION_FORMATS)} for conversations")
    conversations = [to_conversation(record, data_format, where) for where, record in read_records(source)]
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
