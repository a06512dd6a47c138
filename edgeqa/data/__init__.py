"""SQuAD data: loading from a hub id, official JSON or JSONL, and deterministic selection."""

from edgeqa.data.squad import QAExample, load_squad, select_examples

__all__ = ["QAExample", "load_squad", "select_examples"]
