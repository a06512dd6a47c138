"""Long documents read in overlapping windows, and which windows a question is worth reading in.

A small reader extracts well only from contexts like those it was trained on (the shipped one:
SQuAD paragraphs, prompts up to 512 tokens); given a whole article in one prompt it loses half
its F1, and even a 400-token window of several paragraphs costs it a fifth. So a longer context
is read by its paragraphs (text between blank lines), and a paragraph longer than `max_seq_len`
prompt tokens is cut into windows that overlap by `doc_stride` tokens, where a word starts.
Each window's prefix is decoded once and serves every question
on the document; each question is then read only in the few windows BM25 ranks best for it, a
retrieval step that costs microseconds where reading a window costs a forward pass per question
token.
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from edgeqa.errors import EdgeQAError
from edgeqa.option_field import OptionSet, option

QUESTION_RESERVE = 64  # prompt tokens a window leaves for the question
WORD = re.compile(r"\w+")
PREFIX = 6
PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
LINE_BREAK = re.compile(r"\n")
PROSE_LINE_CHARS = 200  # lines this long on average are paragraphs written one to a line
SHORT_PARAGRAPH = 48  # tokens: a paragraph shorter than this is read with the next one
_STOPWORD_TEXT = (
    "a an the of in on at to for by with from into and or not no is are was were be been being "
    "what which who whom whose when where why how did does do done that this these those as it "
    "its his her their there than then also has have had can could would should may might"
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True)
class WindowOptions(OptionSet):
    """How a context longer than one window is read (`--max-seq-len` and friends)."""

    GROUP = ("long contexts", "contexts longer than one window are read in overlapping windows")

    max_seq_len: int = option(512, minimum=128)
    """prompt tokens per window (system prompt, context and question), near what the reader was
    trained on"""
    doc_stride: int = 128
    """tokens by which neighbouring windows overlap, so an answer cut by one lies whole in the next"""
    max_windows: int = option(4, metavar="N", minimum=0)
    """windows a question is read in: the N that BM25 ranks best for it; 0 reads every window"""

    def _validate(self) -> None:
        if not 0 <= self.doc_stride < self.max_seq_len // 2:
            raise EdgeQAError(
                f"--doc-stride must be in [0, {self.max_seq_len // 2}) for --max-seq-len "
                f"{self.max_seq_len}, not {self.doc_stride}"
            )

    def window_settings(self) -> WindowOptions:
        return WindowOptions(self.max_seq_len, self.doc_stride, self.max_windows)


@dataclass(frozen=True)
class Window:
    """A piece of a document: `text == document[start:end]`."""

    start: int
    end: int
    text: str


def _word_start(document: str, token_starts: Sequence[int], index: int, direction: int) -> int:
    """The token index nearest `index` (moving by `direction`, at most 8 tokens) that starts a
    word, so that a window never begins or ends inside one; `index` itself if none does."""
    for candidate in range(index, index + 8 * direction, direction):
        if not 0 < candidate < len(token_starts):
            break
        position = token_starts[candidate]
        if position == 0 or document[position - 1].isspace() or document[position].isspace():
            return candidate
    return index


def plan_windows(document: str, token_starts: Sequence[int], size: int, overlap: int) -> list[Window]:
    """The windows of a document whose token i starts at character token_starts[i]: one per
    paragraph (text between blank lines; one under SHORT_PARAGRAPH tokens joins the next), and a
    paragraph over `size` tokens cut into windows overlapping by about `overlap`. A document of
    at most `size` tokens is one window."""
    count = len(token_starts)
    if count <= size:
        return [Window(0, len(document), document)]
    windows: list[Window] = []
    for first, last in _paragraphs(document, token_starts, size):
        windows.extend(_slide(document, token_starts, first, last, size, overlap))
    return windows


def paragraph_breaks(document: str) -> re.Pattern:
    """Blank lines end paragraphs; in a document without any whose lines are long (text copied
    from a web page or Wikipedia: one paragraph a line), every line break does. Without this,
    such a document was cut into windows by token count across its paragraphs, and the reader
    abstained on 9 of 40 Warsaw questions it answered from their paragraphs."""
    if PARAGRAPH_BREAK.search(document):
        return PARAGRAPH_BREAK
    lines = [line for line in document.splitlines() if line.strip()]
    if len(lines) > 1 and sum(len(line) for line in lines) / len(lines) >= PROSE_LINE_CHARS:
        return LINE_BREAK
    return PARAGRAPH_BREAK


def _paragraphs(document: str, token_starts: Sequence[int], size: int) -> list[tuple[int, int]]:
    """Token ranges [first, last) of the paragraphs, short ones joined to the next."""
    pattern = paragraph_breaks(document)
    breaks = {bisect.bisect_left(token_starts, m.end()) for m in pattern.finditer(document)}
    bounds = sorted({0, len(token_starts)} | {b for b in breaks if 0 < b < len(token_starts)})
    ranges: list[tuple[int, int]] = []
    first = 0
    for last in bounds[1:]:
        if last - first < SHORT_PARAGRAPH and last < len(token_starts):
            continue  # too short alone: extend to the next break
        ranges.append((first, last))
        first = last
    return ranges


def _slide(
    document: str, token_starts: Sequence[int], first: int, end_token: int, size: int, overlap: int
) -> list[Window]:
    """Windows of at most `size` tokens over tokens [first, end_token), cut where words start."""
    windows: list[Window] = []
    while True:
        last = (
            end_token if first + size >= end_token else _word_start(document, token_starts, first + size, -1)
        )
        start = token_starts[first]
        end = token_starts[last] if last < len(token_starts) else len(document)
        windows.append(_trimmed(document, start, end))
        if last >= end_token:
            return windows
        following = _word_start(document, token_starts, max(first + 1, last - overlap), 1)
        first = following if following < last else max(first + 1, last - overlap)


def _trimmed(document: str, start: int, end: int) -> Window:
    """The window over document[start:end] without the whitespace at its edges."""
    text = document[start:end]
    stripped = text.strip()
    if stripped:
        start += len(text) - len(text.lstrip())
        end = start + len(stripped)
        text = stripped
    return Window(start, end, text)


def terms(text: str) -> list[str]:
    """Lower-cased words cut to their first PREFIX characters (a crude stemmer that lets
    "designed" meet "designer"), stopwords dropped."""
    return [w[:PREFIX] for w in WORD.findall(text.lower()) if w not in STOPWORDS]


class WindowIndex:
    """BM25 over a document's windows: which of them a question is most likely answered in
    (on the dev set, the gold answer lies in the best 4 of 15-51 windows for 95% of questions)."""

    def __init__(self, windows: Sequence[Window], k1: float = 1.2, b: float = 0.75):
        self.counts = [Counter(terms(w.text)) for w in windows]
        lengths = [sum(c.values()) for c in self.counts]
        average = sum(lengths) / len(lengths) or 1.0
        self.norms = [k1 * (1 - b + b * n / average) for n in lengths]
        self.k1 = k1
        frequency = Counter(term for c in self.counts for term in c)
        total = len(windows)
        self.idf = {t: math.log(1 + (total - n + 0.5) / (n + 0.5)) for t, n in frequency.items()}

    def score(self, window: int, question_terms: set[str]) -> float:
        counts, norm = self.counts[window], self.norms[window]
        return sum(
            self.idf[t] * counts[t] * (self.k1 + 1) / (counts[t] + norm) for t in question_terms if counts[t]
        )

    def best(self, question: str, keep: int) -> dict[int, float]:
        """The `keep` best windows for `question` (all when 0) with their scores."""
        asked = set(terms(question))
        scores = {w: self.score(w, asked) for w in range(len(self.counts))}
        if keep == 0 or keep >= len(scores):
            return scores
        ranked = sorted(scores, key=lambda w: (-scores[w], w))
        return {w: scores[w] for w in sorted(ranked[:keep])}


def locate(context: str, text: str, byte_ends: Sequence[int]) -> int | None:
    """Where `text` starts in `context`: at the decoded span's end nearest the start when span
    decoding recorded one (the leftmost occurrence), else the first occurrence anywhere."""
    if byte_ends:
        encoded = context.encode("utf-8")
        end = len(encoded[: byte_ends[0]].decode("utf-8", errors="ignore"))
        found = context.rfind(text, 0, end + 1)
        if found != -1 and end - found - len(text) <= 2:
            return found
    found = context.find(text)
    return None if found == -1 else found
