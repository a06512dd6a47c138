"""The text rules every way into a Reader applies: Python calls, the server and the demo.

Checked at the edge, before a question joins a batch, so that one caller's bad input is one
clear `EdgeQAError` for that caller alone: inside a batch it would fail every question decoded
beside it, and inside llama.cpp a wrong type or a lone surrogate is an exception from deep in
the tokenizer, or worse.
"""

from __future__ import annotations

from collections.abc import Iterable

from edgeqa.errors import EdgeQAError

MAX_CONTEXT_CHARS = 200_000  # a long document (about 40,000 words), read in windows
MAX_QUESTION_CHARS = 1_000  # a question, not a document: SQuAD's longest is about 250


def check_text(name: str, value: object) -> str:
    """`value` as text a reader can read, or one error naming `name` and what is wrong."""
    if not isinstance(value, str):
        raise EdgeQAError(f"{name}: expected a string, not {type(value).__name__}")
    if not value.strip():
        raise EdgeQAError(f"{name}: holds no text (empty or only whitespace)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EdgeQAError(
            f"{name}: not valid Unicode text (a lone surrogate U+{ord(value[exc.start]):04X} "
            f"at character {exc.start})"
        ) from None
    return value


def check_int(value: object, name: str, least: int) -> int:
    """An integer of at least `least` (a bool or a numeric string is refused, not coerced)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise EdgeQAError(f"{name}: expected an integer, not {type(value).__name__}")
    if value < least:
        raise EdgeQAError(f"{name} must be at least {least}, not {value}")
    return value


def check_top_k(top_k: object) -> int:
    return check_int(top_k, "top_k", 1)


def check_pair(question: object, context: object, where: str = "") -> tuple[str, str]:
    """A (question, context) pair of readable texts; `where` prefixes the names (`pairs[3].`)."""
    return check_text(f"{where}question", question), check_text(f"{where}context", context)


def check_pairs(pairs: object) -> list[tuple[str, str]]:
    """Every (question, context) pair of `pairs` checked, as a list; the first bad one named."""
    if isinstance(pairs, str | bytes) or not isinstance(pairs, Iterable):
        raise EdgeQAError(f"pairs: expected (question, context) pairs, not {type(pairs).__name__}")
    checked = []
    for index, pair in enumerate(pairs):
        if isinstance(pair, str | bytes) or not isinstance(pair, tuple | list) or len(pair) != 2:
            shape = f"{len(pair)} items" if isinstance(pair, tuple | list) else type(pair).__name__
            raise EdgeQAError(f"pairs[{index}]: expected a (question, context) pair, not {shape}")
        checked.append(check_pair(pair[0], pair[1], f"pairs[{index}]."))
    return checked


def check_lengths(
    question: str,
    context: str,
    max_question_chars: int = MAX_QUESTION_CHARS,
    max_context_chars: int = MAX_CONTEXT_CHARS,
) -> None:
    """A service's size limits (the Reader itself reads any length it can fit)."""
    if len(context) > max_context_chars:
        raise EdgeQAError(f"context: {len(context)} characters; the limit is {max_context_chars}")
    if len(question) > max_question_chars:
        raise EdgeQAError(f"question: {len(question)} characters; the limit is {max_question_chars}")
