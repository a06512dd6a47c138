"""The state of answers decoded together by the engine's one decode loop (a batch of questions,
or the single answer a stream yields piece by piece)."""

from __future__ import annotations

import time


class AnswerBatch:
    """The answers being decoded together: per answer its prompt's length, KV sequence,
    chooser, no-answer probability, forced first token (a top-k branch) and what it has so far."""

    def __init__(self, prompt_lengths, seqs, starts, forced, started: float, branching: bool):
        self.prompt_lengths, self.seqs, self.forced = prompt_lengths, seqs, forced
        self.started = started
        self.choosers = [chooser for chooser, _, _ in starts]
        self.na_probs = [na_prob for _, na_prob, _ in starts]
        # a branch without a first token of its own (fewer alternatives than branches) abstains
        self.abstained = [
            abstain or (branching and forced[k] is None) for k, (_, _, abstain) in enumerate(starts)
        ]
        self.generated: list[list[int]] = [[] for _ in seqs]
        self.logprobs = [0.0] * len(seqs)
        self.finished_at = [time.perf_counter() - started if a else 0.0 for a in self.abstained]
        self.steps_decoded = 0
