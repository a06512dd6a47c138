"""What a reader returns: an extracted answer with its place in the context, or an abstention.

Shaped like the answers of transformers' question-answering pipeline and Haystack's
`ExtractedAnswer`, so code written for those reads ours: the text, its character offsets in the
context that was given, a score, and the probability that the context holds no answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Answer:
    """One answer. `context[start:end] == text` whenever `start` is set; an abstention has
    `text == ""`, `start`/`end` None and `abstained` True."""

    text: str
    start: int | None
    end: int | None
    score: float
    """the answer's probability: P(this span | answering) x P(answering) in the window it came
    from (with the answer no-answer score, P(this span | answering) alone); for an abstention,
    the no-answer probability"""
    no_answer_prob: float
    """the probability that the context holds no answer (over windows: the lowest of theirs)"""
    abstained: bool
    window: int | None = None
    """the window of a long context the answer came from (0 for a context read whole)"""
    windows_read: int = 1
    no_answer_probs: dict[int, float] = field(default_factory=dict)
    """window -> its no-answer probability, for every window read"""
    raw: str = ""
    """the model's reply as decoded, before it became `text`"""
    prompt_tokens: int = 0
    generated_tokens: int = 0
    latency_s: float = 0.0
    answer_tokens: int = 0
    """the tokens this span was decoded in (`generated_tokens` counts every read's)"""
    candidates: tuple[Answer, ...] = ()
    """for an abstention over a threshold, asked with top_k > 1: the spans the reader found
    anyway, best first (its best guesses; empty when the model itself chose to abstain)"""

    @classmethod
    def abstention(cls, no_answer_prob: float, candidates: tuple[Answer, ...] = (), **cost) -> Answer:
        return cls("", None, None, no_answer_prob, no_answer_prob, True, candidates=candidates, **cost)

    @property
    def best_guess(self) -> Answer | None:
        """The span to show when unsure: itself when it answers, else its best candidate."""
        if not self.abstained:
            return self
        return self.candidates[0] if self.candidates else None
