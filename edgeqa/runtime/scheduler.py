"""Plan which questions are decoded together (the Reader then runs each group on its QAEngine).

Questions on the same context share a prompt prefix, so they go together; a context with more
questions than one group holds gets groups of its own (its prefix stays cached in sequence 0
from one to the next). When mixing is allowed (a server's batches), contexts with few questions
share a group (each context's cells decoded once, its questions' answers decoded in the same
steps as the others'). A group is
split when it exceeds the engine's parallel sequences or its KV cache.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from edgeqa.runtime.engine import QAEngine


def plan_groups(
    engine: QAEngine,
    contexts: Sequence[str],
    prompts: Sequence[Sequence[int]],
    branches: int = 1,
    mix: bool = False,
) -> Iterator[list[int]]:
    """Indices of consecutive prompts (same-context prompts adjacent) in runs that fit the
    engine, each prompt answered `branches` times. With `mix`, a context joins a group holding
    others when all its prompts fit there too; without, every group holds one context (what a
    resumed evaluation needs to decode every question in the group it had: on a quantized model
    the batch's shape moves the numbers a little)."""
    run_end = _run_ends(contexts)
    group: list[int] = []
    for index, context in enumerate(contexts):
        starts_context = index == 0 or contexts[index - 1] != context
        whole = list(range(index, run_end[index])) if starts_context and group else [index]
        if group and starts_context and not mix:
            yield group
            group = []
        if group and not _fits(engine, contexts, prompts, [*group, *whole], branches):
            yield group
            group = []
        group.append(index)
    if group:
        yield group


def _fits(engine: QAEngine, contexts, prompts, indices: list[int], branches: int) -> bool:
    if len(indices) * branches > engine.config.parallel:
        return False
    needed = engine.kv_cells_needed([prompts[i] for i in indices], branches, [contexts[i] for i in indices])
    return needed <= engine.config.n_ctx


def _run_ends(contexts: Sequence[str]) -> list[int]:
    """For each index, where its run of equal consecutive contexts ends."""
    ends = [0] * len(contexts)
    end = len(contexts)
    for index in reversed(range(len(contexts))):
        if index + 1 < len(contexts) and contexts[index + 1] != contexts[index]:
            end = index + 1
        ends[index] = end
    return ends
