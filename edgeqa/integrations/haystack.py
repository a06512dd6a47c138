"""A Haystack reader component backed by `edgeqa.Reader`: a drop-in for `ExtractiveReader`.

    from haystack import Pipeline
    from edgeqa.integrations.haystack import EdgeQAReader

    pipeline = Pipeline()
    pipeline.add_component("retriever", InMemoryBM25Retriever(document_store=store))
    pipeline.add_component("reader", EdgeQAReader("smollm2-135m-squad"))
    pipeline.connect("retriever.documents", "reader.documents")
    result = pipeline.run({"retriever": {"query": q}, "reader": {"query": q}})

Like Haystack's ExtractiveReader it takes `query`, `documents` and `top_k` and returns
`ExtractedAnswer`s (the span, its `document`, its `document_offset`, its `score`), best first,
and last the no-answer answer (`data=None`) scored by the probability that no document holds
the answer: the lowest of the documents' own no-answer probabilities (answerable if any of
them is). The documents are read in one `Reader.answer_many`, so their questions share batches.
Needs `haystack-ai` (`pip install 'edgeqa[haystack]'`); llama.cpp loads on `warm_up()` or the
first run, as Haystack's components do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeqa.errors import EdgeQAError

try:
    from haystack import Document, component
    from haystack.dataclasses import ExtractedAnswer
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("edgeqa.integrations.haystack needs Haystack: pip install 'edgeqa[haystack]'") from exc


@component
class EdgeQAReader:
    """Extractive answers from `documents` for `query`, by an edgeqa reader on the CPU."""

    def __init__(self, model: str | Path = "smollm2-135m-squad", top_k: int = 20, **reader_options: Any):
        """`model` and `reader_options` as `edgeqa.Reader` takes them; `top_k` answers by default."""
        self.model, self.top_k, self.reader_options = model, top_k, reader_options
        self._reader = None

    def warm_up(self) -> None:
        """Load the model (merged on first use for a shipped reader)."""
        if self._reader is None:
            from edgeqa.reader.reader import Reader

            self._reader = Reader(self.model, **self.reader_options)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()

    @component.output_types(answers=list[ExtractedAnswer])
    def run(self, query: str, documents: list[Document], top_k: int | None = None) -> dict[str, Any]:
        """The best `top_k` spans over every document, best first, then the no-answer answer."""
        top_k = self.top_k if top_k is None else top_k
        readable = [d for d in documents if isinstance(d.content, str) and d.content.strip()]
        if not readable:
            return {"answers": [ExtractedAnswer(query=query, score=1.0, data=None)]}
        self.warm_up()
        found = self._reader.answer_many([(query, d.content) for d in readable], top_k=top_k)
        spans: list[ExtractedAnswer] = []
        for document, answers in zip(readable, found, strict=True):
            unsure = answers[0].abstained
            spans.extend(_extracted(query, document, answer, unsure) for answer in _spans(answers))
        spans.sort(key=lambda a: a.score, reverse=True)
        no_answer = min(answers[0].no_answer_prob for answers in found)
        return {"answers": [*spans[:top_k], ExtractedAnswer(query=query, score=no_answer, data=None)]}

    def to_dict(self) -> dict[str, Any]:
        """What a saved pipeline keeps of this component."""
        from haystack import default_to_dict

        return default_to_dict(self, model=str(self.model), top_k=self.top_k, **self.reader_options)


def _spans(answers: list) -> list:
    """A document's spans: its answers, or an abstention's candidates (its best guesses)."""
    if not answers:
        raise EdgeQAError("the reader returned no answer")
    best = answers[0]
    return list(best.candidates) if best.abstained else [a for a in answers if not a.abstained]


def _extracted(query: str, document: Document, answer, unsure: bool) -> ExtractedAnswer:
    """One span as Haystack's answer; `meta` says whether the reader abstained on its document
    (the span is then a best guess) and that document's no-answer probability."""
    offset = None
    if answer.start is not None:
        offset = ExtractedAnswer.Span(answer.start, answer.end)
    return ExtractedAnswer(
        query=query,
        score=answer.score,
        data=answer.text,
        document=document,
        document_offset=offset,
        meta={"no_answer_prob": answer.no_answer_prob, "best_guess": unsure},
    )
