"""The two no-answer scores, each in one place: when the abstention is decided, what the
no-answer probability of a decoded answer is, and how an answer's probability is formed.

- abstention: the abstention's share of the first token's distribution (the model's own wish to
  abstain), decided at the first token;
- answer: 1 - P(the answer the model decodes when it may not abstain), its doubt about its own
  answer; every answer is decoded and the threshold (0.5 when none is set) decides afterwards.

Why one home: these rules were string comparisons in the engine (four) and the reader (two).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ANSWER_SCORE_DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class AbstentionScore:
    name: str = "abstention"
    decided_after_decoding: bool = False

    def at_first_token(self, na_prob: float, threshold: float | None) -> tuple[bool, bool]:
        """(forbid the abstention from here on, abstain now)."""
        if threshold is None:
            return False, False  # the model decides by what it decodes
        return True, na_prob > threshold

    def settle(self, na_prob: float, answer_logprob: float, abstained: bool, threshold: float | None):
        """(no-answer probability, abstain) once the answer is decoded."""
        return na_prob, abstained

    def answering_logprob(self, na_prob: float, span_logprob: float) -> float:
        """log P(answering at all), as a reader ranks windows' spans."""
        return math.log(max(1e-9, 1.0 - na_prob))

    def span_probability(self, span_logprob: float, na_prob: float) -> float:
        """An answer's score: P(this span | answering) x P(answering)."""
        return math.exp(span_logprob) * (1.0 - na_prob)


@dataclass(frozen=True)
class AnswerScore:
    name: str = "answer"
    decided_after_decoding: bool = True

    def at_first_token(self, na_prob: float, threshold: float | None) -> tuple[bool, bool]:
        return True, False  # always decode the answer; settle() judges it

    def settle(self, na_prob: float, answer_logprob: float, abstained: bool, threshold: float | None):
        doubt = 1.0 - math.exp(answer_logprob)
        return doubt, doubt > (ANSWER_SCORE_DEFAULT_THRESHOLD if threshold is None else threshold)

    def answering_logprob(self, na_prob: float, span_logprob: float) -> float:
        return span_logprob  # the no-answer probability is 1 - P(span)

    def span_probability(self, span_logprob: float, na_prob: float) -> float:
        return math.exp(span_logprob)


NO_ANSWER_SCORES = {score.name: score for score in (AbstentionScore(), AnswerScore())}
NA_SCORES = tuple(NO_ANSWER_SCORES)
