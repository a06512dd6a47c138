"""What a long-context configuration is measured with: a long text and passkey prompts.

The default text is every paragraph of the bundled SQuAD 2.0 sample, joined: public, offline,
and real prose. Passkey prompts follow the usual recipe: a 5-digit number hidden at a given
depth of repetitive filler, then asked for.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

from edgeqa.errors import EdgeQAError

INTRO = (
    "There is an important piece of information hidden inside a lot of irrelevant text. "
    "Find it and memorize it. I will quiz you about it.\n"
)
FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
QUESTION = "\nWhat is the pass key? The pass key is"


def load_text(path: str | None) -> str:
    """A .txt file as is, or the paragraphs of a SQuAD file joined; default: the bundled sample."""
    from edgeqa.data.squad import BUNDLED_SAMPLE, load_squad

    source = Path(path) if path else BUNDLED_SAMPLE
    if not source.is_file():
        raise EdgeQAError(f"{source}: text file not found")
    if source.suffix == ".txt":
        return source.read_text(encoding="utf-8")
    try:
        return "\n\n".join(dict.fromkeys(e.context for e in load_squad(source)))
    except (EdgeQAError, json.JSONDecodeError):
        raise EdgeQAError(f"{source}: expected a .txt file or a SQuAD .json/.jsonl file") from None


def passkey_prompt(tokenize: Callable[[str], list[int]], length: int, depth: float, key: int) -> list[int]:
    """About `length` tokens with the key sentence after `depth` (0..1) of the filler."""
    needle = f"The pass key is {key}. Remember it. {key} is the pass key. "
    intro, filler, needle_tokens, question = (tokenize(t) for t in (INTRO, FILLER, needle, QUESTION))
    repeats = (length - len(intro) - len(needle_tokens) - len(question)) // len(filler)
    if repeats < 1:
        raise EdgeQAError(f"a passkey prompt needs more than {length} tokens")
    before = round(depth * repeats)
    return intro + filler * before + needle_tokens + filler * (repeats - before) + question


def passkeys(trials: int, seed: int) -> list[int]:
    generator = random.Random(seed)
    return [generator.randint(10_000, 99_999) for _ in range(trials)]


def memory_estimate_gib(model_bytes: int, hparams: dict[str, float], n_ctx: int, n_batch: int) -> float:
    """Weights + f16 KV cache + the attention scores of one batch + one batch of logits."""
    layers = hparams.get("block_count", 32)
    heads = hparams.get("attention.head_count", 32)
    kv_heads = hparams.get("attention.head_count_kv", heads)
    head_dim = hparams.get("embedding_length", 4096) / heads
    kv_cache = 2 * layers * n_ctx * kv_heads * head_dim * 2
    scores = n_batch * n_ctx * heads * 4
    logits = n_batch * 50_000 * 4
    return (model_bytes + kv_cache + scores + logits) / 2**30
