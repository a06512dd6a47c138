"""How a model turns a question into an answer or an abstention, decided in one place.

Three choices make an answer policy: the decoding (a span of the context or the abstention,
enforced while decoding; or free greedy decoding), the no-answer score (the abstention's share of
the first token's distribution, or the doubt in the answer decoded with abstention forbidden),
and the threshold on that score (`auto`: the one `edgeqa calibrate` stored beside the GGUF, else
the model's own choice; `model`; or a probability). Eval, calibrate, the demo and the pipeline
all read through a Reader built with an `AnswerPolicy`, so a threshold is resolved the same way
everywhere, and the reason for each threshold is said the same way. A new knob means changing
this type and the code that uses the knob.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from edgeqa.option_field import OptionSet, option
from edgeqa.reader.calibration import ThresholdChoice, stored_threshold
from edgeqa.reader.threshold import ALWAYS_ANSWER, AUTO, NoAnswerThreshold
from edgeqa.runtime.engine_config import EngineConfig
from edgeqa.runtime.na_scores import ANSWER_SCORE_DEFAULT_THRESHOLD, NA_SCORES

DECODINGS = ("span", "free")


@dataclass(frozen=True)
class AnswerStyle(OptionSet):
    """Decoding and no-answer score: what calibrate needs (it finds the threshold)."""

    GROUP = ("answer policy", "how an answer or an abstention is chosen")

    decoding: str = option("span", choices=DECODINGS)
    """span: the answer can only be a span of the context or the abstention, enforced while
    decoding; free: plain greedy decoding"""
    na_score: str = option("abstention", choices=NA_SCORES)
    """the no-answer probability: abstention: the abstention's share of the first token's
    distribution; answer: 1 - P(the answer decoded when the model may not abstain), its doubt in
    its own answer (every answer is decoded; abstain above the threshold, 0.5 without one)"""

    @property
    def span_constrained(self) -> bool:
        return self.decoding == "span"


@dataclass(frozen=True)
class AnswerPolicy(AnswerStyle):
    """The style plus who decides to abstain."""

    na_threshold: NoAnswerThreshold = option(AUTO, metavar="auto|model|P")
    """who decides to abstain: a no-answer probability P above which the answer is empty (below
    it the model must answer); auto: the threshold `edgeqa calibrate` stored beside the GGUF, else
    the model; model: the model's own choice"""

    def _validate(self) -> None:
        # what a flag, a YAML section or a Python caller gives ("auto", 0.42) becomes the type, once
        object.__setattr__(self, "na_threshold", NoAnswerThreshold.parse(self.na_threshold))

    def threshold_for(self, model: Path | None) -> ThresholdChoice:
        """The threshold to decode `model` with (None: the model's own abstention) and why."""
        threshold = self.na_threshold
        if threshold.probability is not None:
            return ThresholdChoice(threshold.probability, "given by --na-threshold")
        if threshold.is_auto and model is not None:
            choice = stored_threshold(model, self.span_constrained, self.na_score)
        else:
            choice = ThresholdChoice(None, f"--na-threshold {threshold}")
        if choice.value is not None:
            return choice
        if self.na_score == "answer":
            reason = f"{choice.reason}: the answer score's default"
            return ThresholdChoice(ANSWER_SCORE_DEFAULT_THRESHOLD, reason)
        return ThresholdChoice(None, f"{choice.reason}: the model decides when to abstain")

    def apply(self, base: EngineConfig, model: Path | None) -> tuple[EngineConfig, ThresholdChoice]:
        """`base` with this policy applied for `model`, and the threshold's reason."""
        threshold = self.threshold_for(model)
        config = dataclasses.replace(
            base, span_constrained=self.span_constrained, na_score=self.na_score, na_threshold=threshold.value
        )
        return config, threshold

    @classmethod
    def of(cls, options: AnswerStyle) -> AnswerPolicy:
        """The policy part of a command's options (or of a YAML section's settings)."""
        threshold = getattr(options, "na_threshold", AUTO)
        return cls(decoding=options.decoding, na_score=options.na_score, na_threshold=threshold)

    @classmethod
    def forced_answers(cls, style: AnswerStyle) -> AnswerPolicy:
        """Every question answered (threshold 1): what calibration measures."""
        return cls(decoding=style.decoding, na_score=style.na_score, na_threshold=ALWAYS_ANSWER)
