"""Load SQuAD v1.1/v2.0 questions from an official JSON file, JSONL, or a hub id.

All three sources end as the same flat list of `QAExample`, in document order (article, then
paragraph, then question), which is the order the runtime needs to share a paragraph's KV cache.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edgeqa.data.records import hub_rows, jsonl_records, local_file, read_json
from edgeqa.errors import EdgeQAError

BUNDLED_SAMPLE = Path(__file__).parent / "samples" / "squad_v2_sample.json"
BUNDLED = "bundled"  # what every --data option takes for the sample


def data_reference(given: str | None) -> str:
    """What a --data option names: the bundled sample's path for `bundled` or nothing, else as given."""
    return str(BUNDLED_SAMPLE) if given in (None, BUNDLED) else given


@dataclass(frozen=True)
class QAExample:
    """One question with its paragraph; `answers` is empty when the question is unanswerable."""

    qid: str
    title: str
    context: str
    question: str
    answers: tuple[str, ...]
    answer_starts: tuple[int, ...] = ()
    plausible_span: tuple[int, int] | None = None
    """Character span of the answer an unanswerable question seems to ask for, where the data
    marks one (SQuAD 2.0's `plausible_answers`); training crops keep it in view."""

    @property
    def is_impossible(self) -> bool:
        return not self.answers

    def answer_span(self) -> tuple[int, int] | None:
        """Character span of the first gold answer in the paragraph (found by text when the data
        gives no offset, or a wrong one); None when unanswerable or not found."""
        if not self.answers:
            return None
        answer = self.answers[0]
        start = self.answer_starts[0] if self.answer_starts else -1
        if start < 0 or self.context[start : start + len(answer)] != answer:
            start = self.context.find(answer)
        return (start, start + len(answer)) if start >= 0 else None


def _example(record: dict, title: str, context: str, where: str) -> QAExample:
    try:
        qid, question = str(record["id"]), record["question"]
        answers = record.get("answers") or []
        if isinstance(answers, dict):  # the hub's columnar form: {"text": [...], "answer_start": [...]}
            texts, starts = list(answers.get("text", [])), list(answers.get("answer_start", []))
        else:
            texts = [a["text"] for a in answers]
            starts = [a.get("answer_start", -1) for a in answers]
    except (KeyError, TypeError, AttributeError) as exc:
        raise EdgeQAError(f"{where}: malformed question record (missing or bad field {exc})") from None
    if record.get("is_impossible"):
        texts, starts = [], []
    if not isinstance(question, str) or not isinstance(context, str):
        raise EdgeQAError(f"{where}: 'question' and 'context' must be strings")
    return QAExample(
        qid,
        str(title),
        context,
        question,
        tuple(texts),
        tuple(int(s) for s in starts),
        None if texts else _plausible_span(record, context),
    )


def _plausible_span(record: dict, context: str) -> tuple[int, int] | None:
    """The first plausible answer's span, if the record has one that matches its paragraph."""
    plausible = record.get("plausible_answers") or []
    if not isinstance(plausible, list) or not plausible or not isinstance(plausible[0], dict):
        return None
    text, start = plausible[0].get("text"), plausible[0].get("answer_start")
    if not isinstance(text, str) or not isinstance(start, int) or context[start : start + len(text)] != text:
        return None
    return start, start + len(text)


def _from_official(document: dict, path: Path) -> list[QAExample]:
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise EdgeQAError(f"{path}: not SQuAD JSON (expected an object with a 'data' list of articles)")
    examples = []
    for a, article in enumerate(document["data"]):
        try:
            title, paragraphs = article.get("title", f"article-{a}"), article["paragraphs"]
            for p, paragraph in enumerate(paragraphs):
                where = f"{path}: data[{a}].paragraphs[{p}]"
                for record in paragraph["qas"]:
                    examples.append(_example(record, title, paragraph["context"], where))
        except (KeyError, TypeError, AttributeError) as exc:
            raise EdgeQAError(
                f"{path}: data[{a}] is not a SQuAD article (missing or bad field {exc})"
            ) from None
    return examples


def _from_jsonl(path: Path) -> list[QAExample]:
    examples = []
    for where, record in jsonl_records(path):
        if not isinstance(record, dict) or "context" not in record:
            raise EdgeQAError(f"{where}: expected an object with id, context, question, answers")
        examples.append(_example(record, record.get("title", ""), record["context"], where))
    return examples


def _from_file(path: Path) -> list[QAExample]:
    if path.suffix == ".jsonl":
        return _from_jsonl(path)
    return _from_official(read_json(path), path)


def _from_hub(dataset_id: str, split: str) -> list[QAExample]:
    return [
        _example(row, row.get("title", ""), row["context"], dataset_id) for row in hub_rows(dataset_id, split)
    ]


def load_squad(source: str | Path, split: str = "validation") -> list[QAExample]:
    """Questions from a local .json/.jsonl file, or a hub id such as `rajpurkar/squad_v2`."""
    path = local_file(source)
    examples = _from_file(path) if path is not None else _from_hub(str(source), split)
    if not examples:
        raise EdgeQAError(f"{source}: contains no questions")
    duplicate = _first_duplicate(e.qid for e in examples)
    if duplicate is not None:
        raise EdgeQAError(f"{source}: question id {duplicate!r} appears more than once")
    return examples


def _first_duplicate(values: Iterable[str]) -> str | None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            return value
        seen.add(value)
    return None


def select_examples(
    examples: Sequence[QAExample],
    *,
    articles: Sequence[str] = (),
    limit: int | None = None,
    seed: int | None = None,
) -> list[QAExample]:
    """Filter by article title, then take `limit` questions: the first ones, or a seeded sample.

    A seeded sample is returned in document order so paragraphs stay together for the runtime.
    """
    chosen = list(examples)
    if articles:
        wanted = set(articles)
        unknown = wanted - {e.title for e in chosen}
        if unknown:
            raise EdgeQAError(f"--article: no article titled {sorted(unknown)[0]!r} in the data")
        chosen = [e for e in chosen if e.title in wanted]
    if limit is not None and limit < len(chosen):
        if seed is None:
            chosen = chosen[:limit]
        else:
            keep = set(random.Random(seed).sample(range(len(chosen)), limit))
            chosen = [e for i, e in enumerate(chosen) if i in keep]
    return chosen


def as_articles(examples: Sequence[QAExample]) -> list[QAExample]:
    """Every question asked against its whole article: the article's paragraphs, in their
    order, joined by blank lines (document-level SQuAD; answer offsets are moved with them)."""
    paragraphs: dict[str, list[str]] = {}
    for example in examples:
        known = paragraphs.setdefault(example.title, [])
        if example.context not in known:
            known.append(example.context)
    offsets = {
        (title, paragraph): sum(len(p) + 2 for p in found[:position])
        for title, found in paragraphs.items()
        for position, paragraph in enumerate(found)
    }
    joined = {title: "\n\n".join(found) for title, found in paragraphs.items()}
    moved = []
    for example in examples:
        shift = offsets[(example.title, example.context)]
        span = example.plausible_span
        moved.append(
            dataclasses.replace(
                example,
                context=joined[example.title],
                answer_starts=tuple(start + shift for start in example.answer_starts),
                plausible_span=None if span is None else (span[0] + shift, span[1] + shift),
            )
        )
    return moved


def to_official_json(examples: Sequence[QAExample], version: str = "v2.0") -> dict:
    """Examples back in the official nested format (articles > paragraphs > qas), order kept."""
    articles: dict[str, dict[str, list[dict]]] = {}
    for e in examples:
        paragraphs = articles.setdefault(e.title, {})
        starts = e.answer_starts or (-1,) * len(e.answers)
        record = {
            "id": e.qid,
            "question": e.question,
            "answers": [{"text": t, "answer_start": s} for t, s in zip(e.answers, starts, strict=True)],
            "is_impossible": e.is_impossible,
        }
        if e.plausible_span is not None:
            begin, end = e.plausible_span
            record["plausible_answers"] = [{"text": e.context[begin:end], "answer_start": begin}]
        paragraphs.setdefault(e.context, []).append(record)
    return {
        "version": version,
        "data": [
            {"title": title, "paragraphs": [{"context": c, "qas": qas} for c, qas in paragraphs.items()]}
            for title, paragraphs in articles.items()
        ],
    }
