"""Where each token of a text starts, in characters: the grid long documents are windowed on.

Why its own module: tokenizers disagree on how a text's bytes map to tokens. A byte-level BPE
(SmolLM2, Llama 3) gives the text's bytes exactly; SentencePiece (Llama 2, TinyLlama) adds a
dummy space before the text that belongs to no character; a normalising tokenizer changes the
bytes, and then the starts can only be spread evenly.
"""

from __future__ import annotations

import numpy as np


def token_starts(session, text: str) -> list[int]:
    """The character offset at which each token of `text` (tokenized alone by `session`) starts."""
    tokens = session.tokenize(text, special=False)
    pieces = [session.detokenize_bytes(t) for t in tokens]
    lengths = [len(piece) for piece in pieces]
    encoded = text.encode("utf-8")
    joined = b"".join(pieces)
    prefix = len(joined) - len(encoded)
    if 0 < prefix <= lengths[0] and joined[prefix:] == encoded and not joined[:prefix].strip():
        lengths[0] -= prefix  # SentencePiece's dummy space before the text
    elif joined != encoded:  # a tokenizer that normalises text: spread evenly
        return [i * len(text) // len(tokens) for i in range(len(tokens))]
    char_at_byte = np.repeat(np.arange(len(text)), [len(c.encode("utf-8")) for c in text])
    starts = np.cumsum([0, *lengths[:-1]])
    return [int(char_at_byte[b]) for b in starts]
