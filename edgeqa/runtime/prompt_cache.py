"""Contexts kept in the KV cache between groups: a server's prompt cache.

A QA server is asked many questions about the same documents, by different users at
different moments, and on a small CPU prompt processing is most of an answer's cost (about 90%
for a SQuAD paragraph on 2 cores). So the engine keeps the last few contexts it decoded in
spare llama.cpp sequences; a later prompt that starts with one of them copies its cells (free in
a unified KV cache) and decodes only the rest. Least recently used entries go first, and all of
them go when the cells are needed for the group being decoded.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from edgeqa.sequences import common_prefix_length

MIN_TOKENS = 32  # a shorter match (the system prompt alone) is not worth an entry
SAME_CONTEXT = 0.8  # an entry sharing this share of its tokens with a new one is replaced by it


class PromptCache:
    """Up to `size` token prefixes, each held by its own sequence id from `first_seq` on."""

    def __init__(self, session, first_seq: int, size: int):
        self.session = session
        self.seqs = list(range(first_seq, first_seq + size))
        self.entries: OrderedDict[int, list[int]] = OrderedDict()  # seq -> its tokens, oldest first

    def lookup(self, tokens: Sequence[int]) -> tuple[int, int] | None:
        """(sequence, matched length) of the entry sharing the longest prefix with `tokens`."""
        best = max(
            ((common_prefix_length([held, tokens]), seq) for seq, held in self.entries.items()),
            default=(0, -1),
        )
        if best[0] < MIN_TOKENS:
            return None
        self.entries.move_to_end(best[1])
        return best[1], best[0]

    def store(self, source_seq: int, tokens: Sequence[int]) -> None:
        """Keep the cells of `source_seq` that hold `tokens` (positions 0..len - 1)."""
        if not self.seqs or len(tokens) < MIN_TOKENS:
            return
        for seq, held in list(self.entries.items()):
            shared = common_prefix_length([held, tokens])
            if shared == len(tokens):
                self.entries.move_to_end(seq)  # already held, whole
                return
            if shared >= SAME_CONTEXT * len(held):  # the same context, another question: replace it
                self.entries.pop(seq)
                self.session.remove(seq)
        free = [seq for seq in self.seqs if seq not in self.entries]
        seq = free[0] if free else self._evict()
        self.session.copy(source_seq, seq, 0, len(tokens))
        self.entries[seq] = list(tokens)

    def cells(self) -> int:
        """An upper bound on the cells the entries hold beyond what the groups share."""
        return sum(len(held) for held in self.entries.values())

    def make_room(self, cells: int) -> None:
        """Evict the oldest entries until they hold at most `cells` cells."""
        while self.entries and self.cells() > cells:
            self._evict()

    def forget(self) -> None:
        """After the KV cache was cleared: the entries hold nothing any more."""
        self.entries.clear()

    def _evict(self) -> int:
        seq, _ = self.entries.popitem(last=False)
        self.session.remove(seq)
        return seq
