"""The KV cache as prompts share it: sequence 0 holds the prefix the last prompts shared (the
system prompt, a paragraph), the prompt cache keeps recent contexts, and a group's prompts are
prefilled each into its own sequence, a context's cells decoded once and copied to the others.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgeqa.runtime.engine_config import EngineConfig, EngineStats
from edgeqa.runtime.llama_session import PREFIX_SEQ, LlamaSession
from edgeqa.runtime.prompt_cache import PromptCache
from edgeqa.sequences import common_prefix_length


class PrefixKV:
    def __init__(self, session: LlamaSession, config: EngineConfig, stats: EngineStats):
        self.session, self.config, self.stats = session, config, stats
        self.cached: list[int] = []  # what sequence 0 holds
        self.prompt_cache = PromptCache(
            session, config.parallel + 1, config.prompt_cache, config.prompt_cache_ram_mib * 2**20
        )

    def reset(self) -> None:
        """Empty the KV cache: every sequence, the cached prefix and the prompt cache."""
        self.session.clear()
        self.cached = []
        self.prompt_cache.forget()

    def prepare(self, prefix: list[int]) -> None:
        """Make sequence 0 hold exactly `prefix`, reusing whatever it already holds or the
        prompt cache has (which keeps what sequence 0 held before)."""
        for seq in range(1, self.config.parallel + 1):
            self.session.remove(seq)
        keep = common_prefix_length([self.cached, prefix])
        if keep < len(self.cached):
            self.prompt_cache.store(PREFIX_SEQ, self.cached)  # before its cells go
        self.session.remove(PREFIX_SEQ, keep)
        self.cached = self.cached[:keep]
        keep = self.from_prompt_cache(prefix, PREFIX_SEQ, keep)
        if keep < len(prefix):
            entries = [(t, keep + i, PREFIX_SEQ, False) for i, t in enumerate(prefix[keep:])]
            self.session.decode_chunked(entries)
            self.stats.prompt_tokens_decoded += len(entries)
        self.cached = list(prefix)

    def from_prompt_cache(self, tokens: Sequence[int], seq: int, shared: int) -> int:
        """Copy into `seq` the cells a prompt-cache entry holds for the start of `tokens`, past
        the `shared` prefix it already has; the position where decoding must resume."""
        hit = self.prompt_cache.lookup(tokens, beyond=shared)
        if hit is None:
            return shared
        cached_seq, length = hit
        self.session.copy(cached_seq, seq, shared, length)
        self.stats.prompt_tokens_cached += length - shared
        return length

    def cells_needed(
        self, prompts: Sequence[Sequence[int]], branches: int = 1, contexts: Sequence[str] | None = None
    ) -> int:
        """KV cells a group takes: the shared prefix once, each context's cells once (see
        `_prefill`), each prompt's own tokens and its answers."""
        shared = common_prefix_length(prompts, keep_one=True)
        cells = shared
        for cluster in _clusters(prompts, contexts):
            members = [prompts[i] for i in cluster]
            local = common_prefix_length(members, keep_one=True)
            cells += local - shared
            cells += sum(len(p) - local + branches * self.config.max_answer_tokens for p in members)
        return cells

    def prefill(self, prompts: Sequence[Sequence[int]], contexts: Sequence[str] | None) -> list[np.ndarray]:
        """Prompt i into sequence i + 1; the last token's logits of each. What all prompts share
        (the system prompt) comes from sequence 0's cache; the prompts on one context (one
        cluster) share that context's cells, decoded once into the cluster's first sequence."""
        shared = common_prefix_length(prompts, keep_one=True)
        self.prepare(list(prompts[0][:shared]))
        for seq in range(1, len(prompts) + 1):
            self.session.copy(PREFIX_SEQ, seq)
        leading, reuse = [], {}
        for members in _clusters(prompts, contexts):
            local = common_prefix_length([prompts[i] for i in members], keep_one=True)
            leader = members[0]
            start = self.from_prompt_cache(prompts[leader][:local], leader + 1, shared)
            leading.extend(
                (t, pos, leader + 1, False) for pos, t in enumerate(prompts[leader][start:local], start)
            )
            reuse.update((i, (leader, local)) for i in members)
        self.session.decode_chunked(leading)
        for leader, local in set(reuse.values()):
            self.prompt_cache.store(leader + 1, prompts[leader][:local])
        entries = []
        for i in range(len(prompts)):
            leader, local = reuse[i]
            if i != leader and local > shared:
                self.session.copy(leader + 1, i + 1, shared, local)
            last = len(prompts[i]) - 1
            entries.extend((t, pos, i + 1, pos == last) for pos, t in enumerate(prompts[i][local:], local))
        first_logits = self.session.decode_chunked(entries)
        self.stats.prompt_tokens_decoded += len(leading) + len(entries)
        return first_logits


def _clusters(prompts: Sequence[Sequence[int]], contexts: Sequence[str] | None) -> list[list[int]]:
    """Indices of the prompts on each context, in first-seen order (one cluster without contexts)."""
    clusters: dict[str, list[int]] = {}
    for i in range(len(prompts)):
        clusters.setdefault(contexts[i] if contexts else "", []).append(i)
    return list(clusters.values())
