"""The `pipeline:` section of a preset: what to export, evaluate and profile after training."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeqa.errors import EdgeQAError


@dataclass(frozen=True)
class PipelineSettings:
    """Defaults suit a 2-core CPU; every field can be set under `pipeline:` in the YAML."""

    quants: tuple[str, ...] = ("q4_k_m",)
    eval_limit: int = 200
    eval_seed: int = 0
    max_answer_tokens: int = 32
    decoding: str = "span"  # span: answers confined to a context span; free: plain greedy
    na_threshold: float | None = None  # None: the model decides to abstain; else abstain above it
    na_score: str = "abstention"  # abstention | answer (see edgeqa eval --na-score)
    profile_questions: int = 10
    profile_repeats: int = 1
    transformers_baseline: bool = True
    references: tuple[str, ...] = field(default_factory=tuple)
    threads: int = 0  # 0: every usable core
    report_dir: str = "reports"

    def answer_policy(self):
        """The evaluation's AnswerPolicy: a fixed threshold, or the model's own choice."""
        from edgeqa.evaluation.answer_policy import AnswerPolicy

        threshold = "model" if self.na_threshold is None else str(self.na_threshold)
        return AnswerPolicy(decoding=self.decoding, na_score=self.na_score, na_threshold=threshold)

    def __post_init__(self) -> None:
        if min(self.eval_limit, self.max_answer_tokens, self.profile_questions, self.profile_repeats) < 1:
            raise EdgeQAError("pipeline: eval_limit, max_answer_tokens and profile_* must be at least 1")
        if self.decoding not in ("span", "free"):
            raise EdgeQAError(f"pipeline: decoding must be span or free, not {self.decoding!r}")
        if self.na_threshold is not None and not 0 <= self.na_threshold <= 1:
            raise EdgeQAError("pipeline: na_threshold must be a probability in [0, 1] or null")
        from edgeqa.runtime.engine_config import NA_SCORES

        if self.na_score not in NA_SCORES:
            choices = ", ".join(NA_SCORES)
            raise EdgeQAError(f"pipeline: na_score must be one of {choices}, not {self.na_score!r}")
        if not self.quants:
            raise EdgeQAError("pipeline: quants must name at least one llama.cpp type")


def load_settings(preset: Path, overrides: dict[str, Any]) -> PipelineSettings:
    from edgeqa.fileio import read_yaml

    loaded = read_yaml(preset, "config")
    section = loaded.get("pipeline") or {} if isinstance(loaded, dict) else {}
    if not isinstance(section, dict):
        raise EdgeQAError(f"{preset}: `pipeline:` must be a mapping of option: value")
    known = {f.name for f in dataclasses.fields(PipelineSettings)}
    values = {**section, **{k: v for k, v in overrides.items() if v is not None}}
    unknown = sorted(set(values) - known)
    if unknown:
        raise EdgeQAError(
            f"{preset}: unknown pipeline option {unknown[0]!r} (valid: {', '.join(sorted(known))})"
        )
    for key in ("quants", "references"):
        if key in values:
            value = values[key]
            values[key] = tuple(v.strip() for v in (value.split(",") if isinstance(value, str) else value))
    try:
        return PipelineSettings(**values)
    except TypeError as exc:
        raise EdgeQAError(f"{preset}: pipeline: {exc}") from None
