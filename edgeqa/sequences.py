"""Token-sequence helpers shared by the runtime (KV-cache reuse) and training (packing)."""

from __future__ import annotations

from collections.abc import Sequence


def common_prefix_length(sequences: Sequence[Sequence[int]], keep_one: bool = False) -> int:
    """Length of the longest common prefix; with keep_one, leave each sequence one own token."""
    if not sequences:
        return 0
    limit = min(len(s) for s in sequences) - (1 if keep_one else 0)
    first = sequences[0]
    length = 0
    while length < limit and all(s[length] == first[length] for s in sequences):
        length += 1
    return length
