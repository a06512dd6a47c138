"""Windows over long documents: paragraphs first, long paragraphs cut with overlap, BM25 choice."""

import itertools
import re

import pytest

from edgeqa.errors import EdgeQAError
from edgeqa.reader.windows import WindowIndex, WindowOptions, plan_windows


def word_starts(text: str) -> list[int]:
    """A stand-in for a BPE tokenizer: a token per run of newlines and per word with the space
    before it."""
    return [m.start() for m in re.finditer(r"\n+|\s?\S+", text)]


def test_a_short_document_is_one_window():
    text = "one two three"
    assert [(w.start, w.end) for w in plan_windows(text, word_starts(text), 10, 2)] == [(0, len(text))]


def test_paragraphs_become_windows_and_offsets_point_into_the_document():
    paragraphs = [" ".join(f"p{p}w{i}" for i in range(60)) for p in range(3)]
    document = "\n\n".join(paragraphs)
    windows = plan_windows(document, word_starts(document), 100, 20)
    assert [w.text for w in windows] == paragraphs
    assert all(document[w.start : w.end] == w.text for w in windows)


def test_a_document_with_one_paragraph_a_line_is_windowed_by_its_lines():
    """Text copied from a web page has no blank lines, one long line a paragraph: each line is
    a paragraph; hard-wrapped short lines without blank lines stay one flow of text."""
    paragraphs = [" ".join(f"p{p}w{i}" for i in range(60)) for p in range(3)]
    document = "\n".join(paragraphs)
    windows = plan_windows(document, word_starts(document), 100, 20)
    assert [w.text.strip() for w in windows] == paragraphs
    wrapped = "\n".join(" ".join(f"w{line}x{i}" for i in range(8)) for line in range(40))
    assert len(plan_windows(wrapped, word_starts(wrapped), 100, 20)) < 8  # not a window a line


def test_a_long_paragraph_is_cut_into_overlapping_windows_at_word_starts():
    document = " ".join(f"w{i}" for i in range(250))
    windows = plan_windows(document, word_starts(document), 100, 30)
    assert len(windows) == 4
    assert all(document[w.start : w.end] == w.text and not w.text.startswith(" ") for w in windows)
    for before, after in itertools.pairwise(windows):
        shared = set(before.text.split()) & set(after.text.split())
        assert 25 <= len(shared) <= 35  # the overlap, in words (= tokens here)
    assert windows[0].text.startswith("w0 ") and windows[-1].text.endswith("w249")


def test_short_paragraphs_are_read_with_the_next():
    document = "Title line\n\n" + " ".join(f"w{i}" for i in range(80)) + "\n\n" + " ".join("x" * 80)
    windows = plan_windows(document, word_starts(document), 100, 10)
    assert windows[0].text.startswith("Title line\n\nw0")


def test_bm25_picks_the_windows_that_share_the_rare_words():
    document = "\n\n".join(
        [
            " ".join(["the castle stood on the hill"] * 10),
            " ".join(["Rollo founded the duchy of Normandy in 911"] * 10),
            " ".join(["the river flowed past the town"] * 10),
        ]
    )
    windows = plan_windows(document, word_starts(document), 100, 10)
    index = WindowIndex(windows)
    assert list(index.best("When did Rollo found Normandy?", 1)) == [1]
    assert set(index.best("anything", 0)) == {0, 1, 2}  # 0: every window
    picked = index.best("Who founded the duchy on the river?", 2)
    assert list(picked) == [1, 2] and picked[1] > picked[2] > 0


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"max_seq_len": 64}, "--max-seq-len"),
        ({"doc_stride": 300}, "--doc-stride"),
        ({"max_windows": -1}, "--max-windows"),
    ],
)
def test_bad_window_options_are_one_line_naming_the_option(values, named):
    with pytest.raises(EdgeQAError, match=named):
        WindowOptions(**values)
