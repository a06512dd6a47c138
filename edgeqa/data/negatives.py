"""Made unanswerable questions, for training a reader where only answerable data is at hand.

SQuAD 2.0's unanswerable questions were written against a paragraph that stays on topic: its
paper names negation, antonyms, a swapped entity or number, mutual exclusion and impossible
conditions. Cutting the answer out teaches only "the topic is missing", so most kinds here edit
an answerable question against its own, unchanged paragraph. Every kind is a rule (no model,
offline, fast) and returns None where it does not apply:
- answer-removed: the sentences holding the gold answer are cut from the paragraph;
- other-paragraph: the question with another paragraph of its article that lacks the answer;
- entity-swap: a name in the question swapped for another name of the paragraph that no
  sentence pairs with the answer;
- number-swap: a number or year in the question swapped for one no sentence pairs with it;
- negation: "not" after the auxiliary of a passive or progressive question;
- antonym: a comparative or directional word swapped for its opposite;
- impossible-condition: "before <year>" earlier than every year the paragraph names.
An edited question keeps the original answer as its plausible answer, as SQuAD 2.0 marks one.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence

from edgeqa.data.squad import QAExample
from edgeqa.errors import EdgeQAError

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_NAME = re.compile(r"\b[A-Z][\w'\-.]*(?:\s+(?:of|the|de|von|van|and)?\s*[A-Z][\w'\-]*)*")
_NUMBER = re.compile(r"\b\d[\d,]*(?:\.\d+)?\b")
_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})\b")
_QUESTION_WORDS = {"What", "Who", "When", "Where", "Which", "Why", "How", "Whose", "Whom", "In", "On", "The"}
_AUXILIARIES = r"is|was|are|were|has|have|had|can|could|will|would|be|been"
_PARTICIPLES = (
    "made|built|known|found|held|led|given|taken|seen|born|written|called|used|said|done|sold|paid|"
    "brought|thought|told|won|lost|kept|left|set|put|run|begun|chosen|grown|shown|drawn|spoken"
)
_ADVERBS = "since|also|already|often|usually|first|still|now|once"
_NEGATABLE = re.compile(
    rf"\b({_AUXILIARIES})(?:\s+(?:{_AUXILIARIES}|{_ADVERBS}))*\s+(?=(?:\w+(?:ed|en|ing)|{_PARTICIPLES})\b)",
    re.IGNORECASE,
)
_SENTENCE_OPENERS = {
    "a",
    "after",
    "although",
    "an",
    "and",
    "as",
    "at",
    "before",
    "between",
    "both",
    "but",
    "by",
    "during",
    "for",
    "from",
    "he",
    "her",
    "his",
    "however",
    "in",
    "it",
    "its",
    "many",
    "most",
    "of",
    "on",
    "other",
    "she",
    "since",
    "some",
    "such",
    "the",
    "their",
    "there",
    "these",
    "they",
    "this",
    "to",
    "when",
    "while",
    "with",
}
_ANTONYM_PAIRS = (
    ("first", "last"),
    ("largest", "smallest"),
    ("biggest", "smallest"),
    ("most", "least"),
    ("highest", "lowest"),
    ("earliest", "latest"),
    ("before", "after"),
    ("increase", "decrease"),
    ("increased", "decreased"),
    ("larger", "smaller"),
    ("more", "less"),
    ("longest", "shortest"),
    ("oldest", "newest"),
    ("best", "worst"),
    ("north", "south"),
    ("east", "west"),
    ("northern", "southern"),
    ("eastern", "western"),
    ("maximum", "minimum"),
    ("major", "minor"),
    ("higher", "lower"),
    ("upper", "lower"),
    ("strongest", "weakest"),
    ("early", "late"),
    ("began", "ended"),
    ("start", "end"),
    ("inside", "outside"),
    ("public", "private"),
    ("legal", "illegal"),
    ("supported", "opposed"),
    ("positive", "negative"),
    ("won", "lost"),
    ("successful", "unsuccessful"),
    ("accepted", "rejected"),
    ("allowed", "forbidden"),
)
ANTONYMS = {a: b for a, b in _ANTONYM_PAIRS} | {b: a for a, b in _ANTONYM_PAIRS}
_ANTONYM_WORD = re.compile(r"\b(" + "|".join(sorted(ANTONYMS, key=len, reverse=True)) + r")\b", re.IGNORECASE)


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text) if s.strip()]


def _answer(example: QAExample) -> str:
    return example.answers[0]


def _paired_with_answer(example: QAExample, phrase: str) -> bool:
    """Whether some sentence of the paragraph holds both `phrase` and the gold answer."""
    answer = _answer(example)
    return any(phrase in s and answer in s for s in sentences(example.context))


def _made(example: QAExample, kind: str, **changes) -> QAExample:
    """The example as a made unanswerable question of `kind`, with `changes` (a new question or
    paragraph); no plausible answer unless `changes` gives one."""
    changes = {"plausible_span": None, **changes}
    return dataclasses.replace(
        example, qid=f"{example.qid}-neg-{kind}", answers=(), answer_starts=(), **changes
    )


def _edited(example: QAExample, question: str, kind: str) -> QAExample:
    """The question edited against its unchanged paragraph, its answer kept as the plausible one."""
    return _made(example, kind, question=question, plausible_span=example.answer_span())


def answer_removed(example: QAExample, rng: random.Random, article: Sequence[str]) -> QAExample | None:
    answers = [a for a in example.answers if a]
    kept = [s for s in sentences(example.context) if not any(a in s for a in answers)]
    context = " ".join(kept)
    if not kept or any(a in context for a in answers):
        return None
    return _made(example, "answer-removed", context=context)


def other_paragraph(example: QAExample, rng: random.Random, article: Sequence[str]) -> QAExample | None:
    answers = [a for a in example.answers if a]
    others = [c for c in article if c != example.context and not any(a in c for a in answers)]
    if not others:
        return None
    return _made(example, "other-paragraph", context=rng.choice(others))


def _names(text: str) -> list[str]:
    """Runs of capitalised words, less a capitalised opener such as "After" or "The"."""
    names = []
    for match in _NAME.finditer(text):
        words = match.group().rstrip(".").split()
        while words and words[0].lower() in _SENTENCE_OPENERS:
            words = words[1:]
        if words:
            names.append(" ".join(words))
    return names


def entity_swap(example: QAExample, rng: random.Random, article: Sequence[str]) -> QAExample | None:
    asked = [n for n in _names(example.question) if n.split()[0] not in _QUESTION_WORDS]
    answer = _answer(example)
    candidates = sorted(
        {
            n
            for n in _names(example.context)
            if n not in example.question
            and n not in answer
            and answer not in n
            and n.split()[0] not in _QUESTION_WORDS
            and not _paired_with_answer(example, n)
        }
    )
    if not asked or not candidates:
        return None
    old = rng.choice(asked)
    words = len(old.split())  # a name of the same shape reads as the same kind of thing
    same_shape = [n for n in candidates if len(n.split()) == words] or candidates
    return _edited(example, example.question.replace(old, rng.choice(same_shape), 1), "entity-swap")


def number_swap(example: QAExample, rng: random.Random, article: Sequence[str]) -> QAExample | None:
    asked = _NUMBER.findall(example.question)
    if not asked:
        return None
    old = rng.choice(asked)
    answer = _answer(example)
    candidates = sorted(
        {n for n in _NUMBER.findall(example.context) if n != old and n not in answer}
        - {n for n in _NUMBER.findall(example.context) if _paired_with_answer(example, n)}
    )
    if candidates:
        new = rng.choice(candidates)
    else:  # a nearby number the paragraph never names
        value = int(old.replace(",", "")) if old.replace(",", "").isdigit() else None
        if value is None:
            return None
        shifted = [value + d for d in (-7, -3, -2, 2, 3, 7) if value + d > 0]
        shifted = [s for s in shifted if str(s) not in example.context]
        if not shifted:
            return None
        new = str(rng.choice(shifted))
    return _edited(example, re.sub(rf"\b{re.escape(old)}\b", new, example.question, count=1), "number-swap")


def negation(example: QAExample, rng: random.Random, article: Sequence[str]) -> QAExample | None:
    question = example.question
    if re.search(r"\bnot\b|n't\b|\bnever\b", question, re.IGNORECASE):
        return None
    match = _NEGATABLE.search(question)
    if not match:
        return None
    negated = f"{question[: match.end(1)]} not{question[match.end(1) :]}"
    return _edited(example, negated, "negation")


def antonym(example: QAExample, rng: random.Random, article: Sequence[str]) -> QAExample | None:
    match = _ANTONYM_WORD.search(example.question)
    if not match:
        return None
    word = match.group()
    opposite = ANTONYMS[word.lower()]
    if word[0].isupper():
        opposite = opposite.capitalize()
    if _paired_with_answer(example, opposite) or re.search(rf"\b{opposite}\b", example.question, re.I):
        return None
    question = example.question[: match.start()] + opposite + example.question[match.end() :]
    return _edited(example, question, "antonym")


def impossible_condition(example: QAExample, rng: random.Random, article: Sequence[str]) -> QAExample | None:
    years = [int(y) for y in _YEAR.findall(example.context)]
    if not years or _YEAR.search(example.question):
        return None
    year = min(years) - rng.randint(10, 60)
    question = example.question.rstrip().rstrip("?").rstrip()
    return _edited(example, f"{question} before {year}?", "impossible-condition")


Maker = Callable[[QAExample, random.Random, Sequence[str]], "QAExample | None"]
"""(answerable question, generator, the paragraphs of its article) -> made question or None"""
KINDS: dict[str, Maker] = {
    "answer-removed": answer_removed,
    "other-paragraph": other_paragraph,
    "entity-swap": entity_swap,
    "number-swap": number_swap,
    "negation": negation,
    "antonym": antonym,
    "impossible-condition": impossible_condition,
}
ADVERSARIAL = ("entity-swap", "number-swap", "negation", "antonym", "impossible-condition")


def parse_kinds(value: Sequence[str]) -> tuple[str, ...]:
    """Kind names from --negatives (comma-separated or repeated; `all` and `adversarial` expand)."""
    if isinstance(value, str):
        value = [value]
    names = [n.strip() for item in value for n in item.split(",") if n.strip()]
    expanded: list[str] = []
    for name in names:
        if name == "all":
            expanded += list(KINDS)
        elif name == "adversarial":
            expanded += list(ADVERSARIAL)
        elif name in KINDS:
            expanded.append(name)
        else:
            valid = ", ".join([*KINDS, "all", "adversarial"])
            raise EdgeQAError(f"--negatives: unknown kind {name!r} (valid: {valid})")
    return tuple(dict.fromkeys(expanded))


def make_negatives(
    examples: Sequence[QAExample], kinds: Sequence[str], share: float, seed: int
) -> tuple[list[QAExample], dict[str, int]]:
    """The examples with made unanswerable questions added, so that `share` of the result is
    made; each one edits a different answerable question (seeded order), the kinds taken in
    turn, a kind that does not apply to a question passing it to the next. Returns the examples
    (each made question right after the questions of its paragraph) and the count per kind."""
    if share <= 0 or not kinds:
        return list(examples), {}
    if share >= 1:
        raise EdgeQAError("--negative-share must be below 1 (the share of made questions)")
    answerable = [e for e in examples if e.answers]
    wanted = round(len(answerable) * share / (1 - share))
    rng = random.Random(seed)
    order = rng.sample(answerable, len(answerable))
    articles: dict[str, list[str]] = {}
    for example in examples:
        paragraphs = articles.setdefault(example.title, [])
        if not paragraphs or paragraphs[-1] != example.context:
            paragraphs.append(example.context)
    made: dict[str, list[QAExample]] = {}
    counts: Counter[str] = Counter()
    turn = 0
    for source in order:
        if sum(counts.values()) >= wanted:
            break
        for offset in range(len(kinds)):
            kind = kinds[(turn + offset) % len(kinds)]
            negative = KINDS[kind](source, rng, articles[source.title])
            if negative is not None:
                made.setdefault(source.context, []).append(negative)
                counts[kind] += 1
                turn = (turn + offset + 1) % len(kinds)
                break
    merged: list[QAExample] = []
    for index, example in enumerate(examples):
        merged.append(example)
        last_of_paragraph = index + 1 == len(examples) or examples[index + 1].context != example.context
        if last_of_paragraph:
            merged += made.pop(example.context, [])
    return merged, {kind: counts[kind] for kind in kinds}
