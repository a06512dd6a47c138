"""The two texts an export measures with, kept apart: calibration text for the importance
matrix (the run's own training questions, rendered with the chat template as the model reads
them) and held-out text for the KL divergence (paragraphs the matrix never saw)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from edgeqa.data.squad import BUNDLED_SAMPLE, QAExample, load_squad
from edgeqa.errors import EdgeQAError
from edgeqa.export.source_model import ExportSource
from edgeqa.run_folder import RunFolder


def training_questions(source: ExportSource) -> tuple[list[QAExample], str]:
    """(the run's training questions, where they came from); for a bare base, or a run whose
    data is no longer where it was, the bundled SQuAD sample."""
    config_file = RunFolder(source.run_dir).config if source.run_dir else None
    if config_file and config_file.is_file():
        from edgeqa.finetune.config import FinetuneConfig

        config = FinetuneConfig(**json.loads(config_file.read_text(encoding="utf-8")))
        try:
            loaded = config.load_sources()
        except (EdgeQAError, OSError) as exc:
            print(f"edgeqa export: the run's training data cannot be read ({exc}); calibrating on the sample")
        else:
            if loaded.train:
                return loaded.train, f"training questions of {source.run_dir.name}"
    return load_squad(BUNDLED_SAMPLE), "the bundled SQuAD sample"


def imatrix_sequences(
    tokenizer, questions: list[QAExample], layout: str, budget: int, seed: int = 0
) -> tuple[list[list[int]], set[str]]:
    """Rendered prompts with their answers, in a seeded order, until `budget` tokens; and the
    paragraphs they used (which the held-out text must then leave out)."""
    from edgeqa.finetune.examples import encode_example

    order = list(questions)
    random.Random(seed).shuffle(order)
    sequences, contexts, total = [], set(), 0
    for question in order:
        if total >= budget:
            break
        ids = encode_example(tokenizer, question, layout).input_ids[: budget - total]
        sequences.append(ids)
        contexts.add(question.context)
        total += len(ids)
    return sequences, contexts


def heldout_tokens(
    tokenizer, source: ExportSource, calibration_budget: int, wanted: int, extra: Path | None = None
) -> list[int]:
    """Up to `wanted` tokens of paragraphs the automatic importance matrix (of
    `calibration_budget` tokens) does not calibrate on, whether or not this export makes one, so
    that every export of a source is scored on the same text: `extra` (a SQuAD file) first, then
    the run's validation and held-out questions, then the bundled sample."""
    questions, _ = training_questions(source)
    _, exclude = imatrix_sequences(tokenizer, questions, source.prompt_layout, calibration_budget)
    files = [extra] if extra else []
    if source.run_dir:
        files += [RunFolder(source.run_dir).validation, RunFolder(source.run_dir).heldout]
    files.append(BUNDLED_SAMPLE)
    paragraphs: dict[str, None] = {}
    for path in files:
        if path.is_file():
            paragraphs.update(dict.fromkeys(e.context for e in load_squad(path) if e.context not in exclude))
    tokens: list[int] = []
    for paragraph in paragraphs:
        if len(tokens) >= wanted:
            break
        tokens += tokenizer(paragraph + "\n\n", add_special_tokens=False)["input_ids"]
    return tokens[:wanted]
