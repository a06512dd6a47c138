"""The no-answer threshold as one type, parsed once where it enters (a flag, a YAML key, a Python
argument) and carried as is until a policy resolves it for a model.

Why a type and not a string: a threshold written as text and read back loses precision (the
pipeline used to round each calibrated threshold to four places), and deciding `auto` / `model`
by string comparison in several places let them disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edgeqa.errors import EdgeQAError

NA_THRESHOLD_CHOICES = "auto, model, or a probability in [0, 1]"


@dataclass(frozen=True)
class NoAnswerThreshold:
    """Who decides to abstain: `auto` (the threshold `edgeqa calibrate` stored beside the GGUF,
    else the model), `model` (the model's own choice), or a probability above which the answer
    is empty."""

    kind: str  # "auto", "model" or "probability"
    probability: float | None = None

    @classmethod
    def parse(cls, value: str | float | dict | NoAnswerThreshold) -> NoAnswerThreshold:
        """From what a user writes: "auto", "model", "0.42" or 0.42 (or this type as a record
        stores it, a dict of its fields); anything else is one line."""
        if isinstance(value, NoAnswerThreshold):
            return value
        if isinstance(value, dict):
            value = value.get("probability") if value.get("kind") == "probability" else value.get("kind")
        if isinstance(value, str) and value.strip() in ("auto", "model"):
            return cls(value.strip())
        try:
            number = float(value) if not isinstance(value, bool) else math.nan
        except (TypeError, ValueError):
            number = math.nan
        if not 0 <= number <= 1:
            raise EdgeQAError(f"--na-threshold: expected {NA_THRESHOLD_CHOICES}, got {value!r}")
        return cls.at(number)

    @classmethod
    def at(cls, probability: float) -> NoAnswerThreshold:
        """A fixed threshold, kept at full precision."""
        return cls("probability", float(probability))

    @property
    def is_auto(self) -> bool:
        return self.kind == "auto"

    def __str__(self) -> str:
        return self.kind if self.probability is None else repr(self.probability)


AUTO = NoAnswerThreshold("auto")
MODEL = NoAnswerThreshold("model")
ALWAYS_ANSWER = NoAnswerThreshold.at(1.0)  # no probability exceeds 1: every question is answered
