"""The `pipeline:` section of a preset: what to export, evaluate and profile after training."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeqa.errors import EdgeQAError
from edgeqa.reader.policy import AnswerStyle
from edgeqa.reader.threshold import AUTO, NoAnswerThreshold
from edgeqa.runtime.engine_config import EngineConfig


@dataclass(frozen=True)
class PipelineSettings:
    """Defaults suit a 2-core CPU; every field can be set under `pipeline:` in the YAML."""

    quants: tuple[str, ...] = ("q4_k_m",)
    eval_limit: int = 200
    eval_seed: int = 0
    max_answer_tokens: int = EngineConfig.max_answer_tokens
    # the answer policy of every evaluation and profile, as edgeqa eval's options
    decoding: str = AnswerStyle.decoding  # span: answers confined to a context span; free: greedy
    na_threshold: NoAnswerThreshold = AUTO  # auto: the calibrated threshold, else the model's; model; P
    na_score: str = AnswerStyle.na_score  # abstention | answer (see edgeqa eval --na-score)
    profile_questions: int = 10
    profile_repeats: int = 1
    transformers_baseline: bool = True
    references: tuple[str, ...] = field(default_factory=tuple)
    threads: int = 0  # 0: every usable core
    report_dir: str = "reports"

    def answer_policy(self):
        """The AnswerPolicy of every evaluation and profile in the pipeline."""
        from edgeqa.reader.policy import AnswerPolicy

        try:
            return AnswerPolicy.of(self)
        except EdgeQAError as exc:
            raise EdgeQAError(f"pipeline: {exc}") from None

    def __post_init__(self) -> None:
        try:  # "auto" or 0.42 as the YAML gives it, parsed once
            object.__setattr__(self, "na_threshold", NoAnswerThreshold.parse(self.na_threshold))
        except EdgeQAError as exc:
            raise EdgeQAError(f"pipeline: {exc}") from None
        if min(self.eval_limit, self.max_answer_tokens, self.profile_questions, self.profile_repeats) < 1:
            raise EdgeQAError("pipeline: eval_limit, max_answer_tokens and profile_* must be at least 1")
        self.answer_policy()  # a bad decoding, score or threshold fails before any work
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
