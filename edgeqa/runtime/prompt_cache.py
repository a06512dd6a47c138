"""Contexts kept between groups: a server's prompt cache, in KV cells and then in host RAM.

A QA server is asked many questions about the same documents, by different users at
different moments, and on a small CPU prompt processing is most of an answer's cost (about 90%
for a SQuAD paragraph on 2 cores). So the engine keeps the last few contexts it decoded in
spare llama.cpp sequences; a later prompt that starts with one of them copies its cells (free in
a unified KV cache) and decodes only the rest. Least recently used entries go first, and all of
them go when the cells are needed for the group being decoded.

An entry evicted from the cells is not lost when a RAM budget is set (llama-server's
`--cache-ram`): its cells are saved as llama.cpp sequence state in host memory (about 23 KiB a
token for SmolLM2-135M), least recently used first out of the budget, and a later prompt that
starts with it restores them instead of decoding the context again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from edgeqa.sequences import common_prefix_length

MIN_TOKENS = 32  # a shorter match (the system prompt alone) is not worth an entry
SAME_CONTEXT = 0.8  # an entry sharing this share of its tokens with a new one is replaced by it


@dataclass
class CacheStats:
    """What the prompt cache did, for /metrics."""

    hits: int = 0  # lookups served from the KV cells
    ram_hits: int = 0  # lookups served by restoring saved state
    misses: int = 0
    restored_tokens: int = 0
    ram_bytes: int = 0  # held in host memory now
    ram_entries: int = 0


class RamTier:
    """Saved sequence states by their tokens, within `budget` bytes, least recently used out."""

    def __init__(self, budget: int, stats: CacheStats):
        self.budget, self.stats = budget, stats
        self.states: OrderedDict[tuple[int, ...], bytes] = OrderedDict()

    def put(self, tokens: Sequence[int], state: bytes) -> None:
        if not state or len(state) > self.budget:
            return
        key = tuple(tokens)
        self.states.pop(key, None)
        self.states[key] = state
        while sum(len(s) for s in self.states.values()) > self.budget:
            self.states.popitem(last=False)
        self._count()

    def best(self, tokens: Sequence[int]) -> tuple[tuple[int, ...], int] | None:
        """(key, matched length) of the saved state sharing the longest prefix with `tokens`."""
        best = max(((common_prefix_length([key, tokens]), key) for key in self.states), default=(0, ()))
        return (best[1], best[0]) if best[0] >= MIN_TOKENS else None

    def take(self, key: tuple[int, ...]) -> bytes:
        """The state of `key`, out of RAM (it goes back into the cells)."""
        state = self.states.pop(key)
        self._count()
        return state

    def _count(self) -> None:
        self.stats.ram_bytes = sum(len(s) for s in self.states.values())
        self.stats.ram_entries = len(self.states)


class PromptCache:
    """Up to `size` token prefixes, each held by its own sequence id from `first_seq` on, and
    with `ram_bytes` > 0 the evicted ones saved in host memory."""

    def __init__(self, session, first_seq: int, size: int, ram_bytes: int = 0):
        self.session = session
        self.seqs = list(range(first_seq, first_seq + size))
        self.entries: OrderedDict[int, list[int]] = OrderedDict()  # seq -> its tokens, oldest first
        self.stats = CacheStats()
        self.ram = RamTier(ram_bytes, self.stats) if ram_bytes > 0 and size > 0 else None

    def lookup(self, tokens: Sequence[int], beyond: int = 0) -> tuple[int, int] | None:
        """(sequence, matched length) of the entry sharing the longest prefix with `tokens`, if
        it reaches past `beyond` tokens (what the caller holds already: the system prompt); a
        longer match saved in RAM is restored into the cells first. Counted as a hit or a miss."""
        floor = max(beyond + 1, MIN_TOKENS)
        best = max(
            ((common_prefix_length([held, tokens]), seq) for seq, held in self.entries.items()),
            default=(0, -1),
        )
        saved = self.ram.best(tokens) if self.ram is not None else None
        if saved is not None and saved[1] >= floor and saved[1] > best[0]:
            seq = self._restore(*saved)
            if seq is not None:
                self.stats.ram_hits += 1
                self.stats.restored_tokens += saved[1] - beyond
                return seq, saved[1]
        if best[0] < floor:
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        self.entries.move_to_end(best[1])
        return best[1], best[0]

    def _restore(self, key: tuple[int, ...], matched: int) -> int | None:
        """Load the saved state `key` into a cache sequence, keeping its first `matched` tokens;
        None (the state stays saved) when the cells have no room for it."""
        free = [seq for seq in self.seqs if seq not in self.entries]
        seq = free[0] if free else self._evict()
        state = self.ram.take(key)
        if not self.session.restore(state, seq):
            self.session.remove(seq)
            self.ram.put(key, state)
            return None
        self.session.remove(seq, matched)
        self.entries[seq] = list(key[:matched])
        return seq

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
        """After the KV cache was cleared: the entries hold nothing any more (what RAM holds
        stays valid: it is a copy)."""
        self.entries.clear()

    def _evict(self) -> int:
        """Free the oldest entry's sequence, saving its cells to RAM first when there is a tier."""
        seq, tokens = self.entries.popitem(last=False)
        if self.ram is not None:
            self.ram.put(tokens, self.session.save(seq))
        self.session.remove(seq)
        return seq
