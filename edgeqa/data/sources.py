"""Several SQuAD sources in one fine-tuning run, each with its own size and role.

A source is written `SOURCE[:key=value,...]`, for example
`squad/train-v1.1.json:count=20000,role=train` or `rajpurkar/squad_v2:share=0.1`:
- `count=N`: about N questions, taken as whole paragraphs in a seeded order (a paragraph's
  questions stay together, so they can share its tokens while training);
- `share=S`: the same, as a fraction of the source's questions;
- `skip=N`: pass over the first N questions' worth of paragraphs of that order first, so that a
  later run (same seed, same source position) takes paragraphs an earlier `count=N` did not;
- `role=split` (the default): the source's articles are split into train/validation/test by
  `--split`; `train`, `val` or `test` gives the whole source to that part.
Every source is recorded with its sha256 (files) and how many questions it gave each part.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeqa.data.squad import QAExample, data_reference, load_squad
from edgeqa.errors import EdgeQAError

ROLES = ("split", "train", "val", "test")
_SPEC = re.compile(r"^(?P<source>.+?)(?::(?P<options>[a-z]+=[^,:]*(?:,[a-z]+=[^,:]*)*))?$")


@dataclass(frozen=True)
class DataSource:
    """One `--data` entry, parsed."""

    source: str
    count: int | None = None
    share: float | None = None
    role: str = "split"
    skip: int = 0

    @classmethod
    def parse(cls, spec: str) -> DataSource:
        match = _SPEC.match(spec.strip())
        if spec.strip().startswith(":"):
            raise EdgeQAError(f"--data {spec!r}: names no file or hub id before its options (PATH:count=N)")
        if not match:
            raise EdgeQAError(f"--data {spec!r}: expected SOURCE or SOURCE:key=value[,key=value]")
        options: dict[str, str] = {}
        for pair in filter(None, (match["options"] or "").split(",")):
            key, value = pair.split("=", 1)
            options[key] = value
        unknown = sorted(set(options) - {"count", "share", "role", "skip"})
        if unknown:
            raise EdgeQAError(f"--data {spec!r}: unknown option {unknown[0]!r} (count, share, skip or role)")
        try:
            count = int(options["count"]) if "count" in options else None
            share = float(options["share"]) if "share" in options else None
            skip = int(options.get("skip", 0))
        except ValueError:
            raise EdgeQAError(
                f"--data {spec!r}: count and skip must be whole numbers and share a fraction"
            ) from None
        role = options.get("role", "split")
        if role not in ROLES:
            raise EdgeQAError(f"--data {spec!r}: role must be one of {', '.join(ROLES)}")
        if (count is not None and count <= 0) or (share is not None and not 0 < share <= 1) or skip < 0:
            raise EdgeQAError(f"--data {spec!r}: count must be positive, share in (0, 1] and skip >= 0")
        if count is not None and share is not None:
            raise EdgeQAError(f"--data {spec!r}: give count or share, not both")
        return cls(match["source"], count, share, role, skip)

    @property
    def path(self) -> str:
        return data_reference(self.source)


def take_paragraphs(examples: Sequence[QAExample], wanted: int, seed: int, skip: int = 0) -> list[QAExample]:
    """About `wanted` questions as whole paragraphs in a seeded order, after about `skip`
    questions' worth passed over, returned in document order; the last paragraph taken (or
    skipped) may overshoot by a few questions."""
    paragraphs: dict[tuple[str, str], list[QAExample]] = {}
    for example in examples:
        paragraphs.setdefault((example.title, example.context), []).append(example)
    keys = list(paragraphs)
    random.Random(seed).shuffle(keys)
    chosen: set[tuple[str, str]] = set()
    skipped = taken = 0
    for key in keys:
        if skipped < skip:
            skipped += len(paragraphs[key])
            continue
        if taken >= wanted:
            break
        chosen.add(key)
        taken += len(paragraphs[key])
    return [e for e in examples if (e.title, e.context) in chosen]


@dataclass
class LoadedSources:
    """The questions of every source, by part, and what each source gave."""

    train: list[QAExample] = field(default_factory=list)
    val: list[QAExample] = field(default_factory=list)
    test: list[QAExample] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)


def _sha256(path: str) -> str | None:
    from edgeqa.fileio import sha256_file

    return sha256_file(Path(path)) if Path(path).is_file() else None


def load_sources(
    specs: Sequence[str], split: Sequence[float], seed: int, val_data: str | None = None
) -> LoadedSources:
    """Load, size and assign every source; `val_data` is a whole-validation source of old."""
    from edgeqa.data.splits import split_by_article

    sources = [DataSource.parse(spec) for spec in specs]
    if val_data:
        sources.append(DataSource(val_data, role="val"))
    split_roles = [s for s in sources if s.role == "split"]
    if val_data and split_roles:  # the old meaning of --val-data: the other sources only train
        fractions: Sequence[float] = (1.0, 0.0, 0.0)
    else:
        fractions = split
    loaded = LoadedSources()
    for index, source in enumerate(sources):
        hub_split = "train" if source.role in ("split", "train") else "validation"
        examples = load_squad(source.path, split=hub_split)
        total = len(examples)
        wanted = source.count if source.count is not None else round((source.share or 1.0) * total)
        if wanted < total or source.skip:
            examples = take_paragraphs(examples, wanted, seed + index, source.skip)
        if source.role == "split":
            parts = split_by_article(examples, fractions, seed)
        else:
            parts = tuple(examples if source.role == role else [] for role in ("train", "val", "test"))
        for target, part in zip((loaded.train, loaded.val, loaded.test), parts, strict=True):
            target.extend(part)
        loaded.records.append(
            {
                "source": source.source,
                "sha256": _sha256(source.path),
                "role": source.role,
                "skipped": source.skip,
                "questions_in_source": total,
                "questions_taken": len(examples),
                "train": len(parts[0]),
                "val": len(parts[1]),
                "test": len(parts[2]),
            }
        )
    return loaded
