"""Instruction data: Alpaca, messages and ShareGPT records all become the same chat turns."""

import json

import pytest

from edgeqa.data.instructions import load_conversations, read_records, sniff_format, split_conversations
from edgeqa.errors import EdgeQAError
from tests.conftest import ASSETS


def _load(name: str, data_format: str):
    return load_conversations(read_records(str(ASSETS / name)), name, data_format)


@pytest.mark.parametrize(
    ("name", "data_format", "count"),
    [
        ("alpaca_tiny.json", "alpaca", 12),
        ("sharegpt_tiny.jsonl", "sharegpt", 6),
        ("messages_tiny.jsonl", "messages", 6),
    ],
)
def test_each_format_is_recognised_and_loaded(name, data_format, count):
    source = str(ASSETS / name)
    records = read_records(source)
    assert sniff_format(records, source) == data_format
    conversations = load_conversations(records, source, data_format)
    assert len(conversations) == count
    for conversation in conversations:
        assert {m["role"] for m in conversation.messages} <= {"system", "user", "assistant"}
        assert conversation.messages[-1]["role"] == "assistant"


def test_alpaca_input_joins_the_instruction():
    conversation = _load("alpaca_tiny.json", "alpaca")[1]
    assert conversation.messages == (
        {"role": "user", "content": "Translate the phrase into French.\n\nGood morning"},
        {"role": "assistant", "content": "Bonjour."},
    )


def test_sharegpt_roles_are_mapped():
    conversation = _load("sharegpt_tiny.jsonl", "sharegpt")[1]
    assert [m["role"] for m in conversation.messages] == ["system", "user", "assistant", "user", "assistant"]


def test_squad_files_are_told_apart(squad_tiny):
    assert sniff_format(read_records(str(squad_tiny)), "squad_tiny") == "squad"


def test_split_is_seeded_and_disjoint():
    conversations = _load("alpaca_tiny.json", "alpaca")
    train, val, test = split_conversations(conversations, (0.5, 0.25, 0.25), seed=3)
    assert (len(train), len(val), len(test)) == (6, 3, 3)
    assert split_conversations(conversations, (0.5, 0.25, 0.25), seed=3) == (train, val, test)
    ids = [c.cid for part in (train, val, test) for c in part]
    assert len(set(ids)) == 12


def test_bad_instruction_data_gets_one_line_errors(tmp_path):
    cases = {
        "unknown.jsonl": ('{"prompt": "x", "completion": "y"}\n', "cannot tell the data format"),
        "broken.jsonl": ('{"messages": [}\n', "broken.jsonl:1: invalid JSON"),
        "role.jsonl": ('{"messages": [{"role": "robot", "content": "x"}]}\n', "each turn needs a role"),
        "noreply.json": (json.dumps([{"messages": [{"role": "user", "content": "x"}]}]), "no messages rec"),
        "object.json": (json.dumps({"rows": []}), "expected a JSON list"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(EdgeQAError, match=message):
            records = read_records(str(path))
            load_conversations(records, str(path), sniff_format(records, str(path)))


def test_a_hub_id_loads_its_train_split(monkeypatch):
    """The hub cannot be reached here: `datasets.load_dataset` stands in for it (the one mock)."""
    import datasets

    rows = [{"conversations": [{"from": "human", "value": "Hi?"}, {"from": "gpt", "value": "Hello."}]}]
    calls = []

    def fake_load_dataset(name, split):
        calls.append((name, split))
        return rows

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    records = read_records("mlabonne/FineTome-100k")
    assert sniff_format(records, "mlabonne/FineTome-100k") == "sharegpt"
    (conversation,) = load_conversations(records, "mlabonne/FineTome-100k", "sharegpt")
    assert conversation.messages[-1] == {"role": "assistant", "content": "Hello."}
    assert calls[-1] == ("mlabonne/FineTome-100k", "train")
