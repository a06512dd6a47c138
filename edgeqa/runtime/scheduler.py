"""Plan which questions are decoded together, and run them through a QAEngine.

Questions on the same paragraph share a prompt prefix, so they form a group; a group is split
when it exceeds the engine's parallel sequences or its KV cache.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from edgeqa.runtime.engine import QAEngine


def plan_groups(
    engine: QAEngine, contexts: Sequence[str], prompts: Sequence[Sequence[int]], branches: int = 1
) -> Iterator[list[int]]:
    """Indices of consecutive same-context prompts, in runs that fit the engine (each prompt
    answered `branches` times)."""
    group: list[int] = []
    for index, context in enumerate(contexts):
        candidate = [*group, index]
        same_paragraph = bool(group) and contexts[group[0]] == context
        fits = engine.kv_cells_needed([prompts[i] for i in candidate], branches) <= engine.config.n_ctx
        too_many = len(candidate) * branches > engine.config.parallel
        if group and (not same_paragraph or too_many or not fits):
            yield group
            group = [index]
        else:
            group = candidate
    if group:
        yield group
