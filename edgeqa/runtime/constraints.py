"""Choose each answer token greedily, optionally restricted to a span of the context.

Extractive QA has a hard rule a small model often breaks: the answer is a piece of the context
(or the abstention). `SpanChooser` enforces it while decoding, at the level of bytes: a token is
allowed only if the answer so far plus the token's bytes still occurs in the context (or is a
prefix of the abstention), and the answer may end only once it holds some text. Matching bytes,
not context tokens, matters because the answer is tokenized on its own ("Paris" at the start of
the assistant turn) while the context holds " Paris".

Both choosers also report the no-answer probability from the first step's distribution, can
forbid the abstention (which is how a calibrated --na-threshold decides instead of the model), and
give each chosen token's log-probability under the distribution it was chosen from, which adds up
to the answer's own probability (the confidence of the extraction).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

CONTEXT, ABSTENTION = 0, 1
LONGEST_PIECE = 32  # bytes; longer tokens (runs of spaces or dashes) never start an answer


class VocabIndex:
    """Every token's bytes, indexed by those bytes, plus the end-of-generation tokens."""

    def __init__(self, pieces: Sequence[bytes], is_end: Callable[[int], bool]):
        self.by_piece: dict[bytes, list[int]] = {}
        for token, piece in enumerate(pieces):
            if piece and not is_end(token):
                self.by_piece.setdefault(piece, []).append(token)
        self.pieces = list(pieces)
        self.longest = min(LONGEST_PIECE, max(len(piece) for piece in self.by_piece))
        self.end_tokens = np.array([t for t in range(len(pieces)) if is_end(t)], dtype=np.int64)
        self._span_starts: tuple[bytes, frozenset[int]] = (b"", frozenset())

    def abstention_starts(self, abstention: str) -> np.ndarray:
        """Tokens that begin the abstention in any casing ("un", "Un", " un"...): when the
        threshold forbids abstaining, a model falls back to these, so all of them are banned,
        and together they carry the no-answer probability. One letter ("U" of "U.S.") is too
        ambiguous to count."""
        target = abstention.lower().encode("utf-8")
        starts = [
            token
            for piece, tokens in self.by_piece.items()
            if len(piece.strip()) >= 2 and target.startswith(piece.strip().lower())
            for token in tokens
        ]
        return np.array(sorted(starts), dtype=np.int64)

    def tokens_at(self, text: bytes, position: int) -> set[int]:
        """Tokens whose bytes occur in `text` starting at `position`."""
        found: set[int] = set()
        for length in range(1, min(self.longest, len(text) - position) + 1):
            found.update(self.by_piece.get(text[position : position + length], ()))
        return found

    def span_starts(self, text: bytes) -> frozenset[int]:
        """Tokens that occur anywhere in `text`; cached, as the questions of a paragraph share it."""
        if self._span_starts[0] != text:
            tokens: set[int] = set()
            for position in range(len(text)):
                tokens |= self.tokens_at(text, position)
            self._span_starts = (text, frozenset(tokens))
        return self._span_starts[1]


def _exp_sum(logits: np.ndarray, top: float) -> float:
    """sum(exp(logits - top)): each term in the logits' float32 (in [0, 1], where float32 is exact
    to 1e-7), summed in float64. A float64 copy of the row first cost 6x as much, per step and
    proportional to the vocabulary (128K for Llama 3)."""
    return float(np.exp(logits - np.float32(top)).sum(dtype=np.float64))


def softmax_share(logits: np.ndarray, tokens: np.ndarray, allowed: np.ndarray | None = None) -> float:
    """Probability of `tokens` under the softmax over `allowed` tokens (all tokens when None)."""
    if allowed is not None:
        tokens = np.intersect1d(tokens, allowed)
        logits_allowed = logits[allowed]
    else:
        logits_allowed = logits
    top = float(logits_allowed.max())
    return _exp_sum(logits[tokens], top) / _exp_sum(logits_allowed, top)


def log_softmax_at(logits: np.ndarray, token: int) -> float:
    """log p(token) under the softmax of `logits` (masked entries are -inf and add exp(-inf) = 0)."""
    top = float(logits.max())
    return float(logits[token]) - top - float(np.log(_exp_sum(logits, top)))


class FreeChooser:
    """Plain greedy decoding; the abstention can be forbidden at the first token."""

    def __init__(self, abstain_tokens: np.ndarray, end_tokens: np.ndarray):
        self.abstain_tokens = abstain_tokens
        self.ends = frozenset(end_tokens.tolist())
        self.abstention_allowed = True

    def na_prob(self, logits: np.ndarray) -> float:
        return softmax_share(logits, self.abstain_tokens)

    def forbid_abstention(self) -> None:
        self.abstention_allowed = False

    def _masked(self, logits: np.ndarray) -> np.ndarray:
        if self.abstention_allowed:
            return logits
        logits = logits.copy()
        logits[self.abstain_tokens] = -np.inf
        return logits

    def choose(self, logits: np.ndarray) -> int:
        return int(np.argmax(self._masked(logits)))

    def log_prob(self, logits: np.ndarray, token: int) -> float:
        """log p(token) under the distribution `choose` picks from (before `advance`)."""
        return log_softmax_at(self._masked(logits), token)

    def ranked(self, logits: np.ndarray, count: int) -> list[int]:
        """The `count` likeliest first tokens, best first, never an end of generation."""
        masked = self._masked(logits)
        order = np.argsort(-masked, kind="stable")
        return [int(t) for t in order[: count + len(self.ends)] if t not in self.ends][:count]

    def advance(self, token: int) -> None:
        self.abstention_allowed = True  # only the first token decides between answer and abstention

    def context_ends(self) -> tuple[int, ...]:
        return ()  # free decoding is not tied to positions in the context


class SpanChooser:
    """Greedy decoding over the tokens that keep the answer a span of the context.

    State: the set of (source, end position) pairs where the bytes generated so far occur,
    source 0 being the context (any start) and 1 the abstention (start 0 only)."""

    def __init__(self, index: VocabIndex, context: str, abstention: str, abstain_tokens: np.ndarray):
        self.index = index
        self.sources = (context.encode("utf-8"), abstention.encode("utf-8"))
        self.abstain_tokens = abstain_tokens
        self.states = {(CONTEXT, p) for p in range(len(self.sources[CONTEXT]))} | {(ABSTENTION, 0)}
        self.has_text = False
        self.at_start = True  # every context position is still a possible start
        self.abstention_allowed = True
        self._allowed: np.ndarray | None = None

    def forbid_abstention(self) -> None:
        """Only context spans, and none starting with a token that begins the abstention: the
        model means "unanswerable" by it, even where the context has it too ("un" in "unit")."""
        self.states = {s for s in self.states if s[0] == CONTEXT}
        self.abstention_allowed = False
        self._allowed = None

    def _can_end(self) -> bool:
        complete_abstention = (ABSTENTION, len(self.sources[ABSTENTION])) in self.states
        return complete_abstention or (self.has_text and any(s[0] == CONTEXT for s in self.states))

    def allowed(self) -> np.ndarray:
        """Token ids the constraint allows next (computed once per step)."""
        if self._allowed is None:
            at_start = self.at_start
            tokens = set(self.index.span_starts(self.sources[CONTEXT])) if at_start else set()
            for source, position in self.states:
                if not (at_start and source == CONTEXT):
                    tokens |= self.index.tokens_at(self.sources[source], position)
            if at_start and not self.abstention_allowed:
                tokens.difference_update(self.abstain_tokens.tolist())
            allowed = np.fromiter(tokens, dtype=np.int64, count=len(tokens))
            if self._can_end():
                allowed = np.concatenate([allowed, self.index.end_tokens])
            self._allowed = allowed
        return self._allowed

    def na_prob(self, logits: np.ndarray) -> float:
        """The abstention's share of the probability over what the constraint allows."""
        return softmax_share(logits, self.abstain_tokens, self.allowed())

    def choose(self, logits: np.ndarray) -> int:
        allowed = self.allowed()
        if allowed.size == 0:  # the answer reached the end of the context: stop
            return int(self.index.end_tokens[0])
        return int(allowed[np.argmax(logits[allowed])])

    def ranked(self, logits: np.ndarray, count: int) -> list[int]:
        """The `count` likeliest allowed tokens, best first (the first step allows no end)."""
        allowed = self.allowed()
        order = np.argsort(-logits[allowed], kind="stable")[:count]
        return [int(t) for t in allowed[order]]

    def context_ends(self) -> tuple[int, ...]:
        """Byte offsets in the context where the text decoded so far ends, leftmost first."""
        return tuple(sorted(position for source, position in self.states if source == CONTEXT))

    def log_prob(self, logits: np.ndarray, token: int) -> float:
        """log p(token) over the tokens the constraint allows (before `advance`); the forced end
        at the end of the context is certain."""
        allowed = self.allowed()
        if allowed.size == 0:
            return 0.0
        return log_softmax_at(logits[allowed], int(np.flatnonzero(allowed == token)[0]))

    def advance(self, token: int) -> None:
        piece = self.index.pieces[token]
        self.states = {
            (source, position + len(piece))
            for source, position in self.states
            if self.sources[source].startswith(piece, position)
        }
        self.has_text = self.has_text or bool(piece.strip())
        self.at_start = False
        self._allowed = None
