"""The no-answer threshold of a GGUF, calibrated on validation questions and kept beside it.

A small model's own choice to abstain is poorly calibrated (it abstains far too often, or too
rarely). The official SQuAD 2.0 script already finds the threshold on the no-answer probability
that maximises F1 when every question gets an answer: `edgeqa calibrate` runs exactly that on
validation questions and stores the threshold in `<model>.calibration.json`, keyed to the file's
hash and the decoding mode, so eval and the demo apply it with `--na-threshold auto`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeqa.errors import EdgeQAError
from edgeqa.fileio import atomic_write_json, sha256_file

NA_THRESHOLD_CHOICES = "auto, model, or a probability in [0, 1]"


def calibration_path(model: Path) -> Path:
    return model.with_name(model.name.removesuffix(".gguf") + ".calibration.json")


@dataclass(frozen=True)
class ThresholdChoice:
    """The threshold an engine will use (None: the model's own abstention) and why."""

    value: float | None
    reason: str


def write_calibration(model: Path, span_constrained: bool, metrics: dict[str, Any]) -> dict[str, Any]:
    """Store the best-F1 threshold of a forced-answer evaluation (its metrics.json dict)."""
    official = metrics["official"]
    record = {
        "model_sha256": metrics["model_sha256"],
        "span_constrained": span_constrained,
        "na_threshold": official["best_f1_thresh"],
        "best_f1": official["best_f1"],
        "questions": official["total"],
        "data": metrics["data"],
    }
    atomic_write_json(calibration_path(model), record)
    return record


def stored_threshold(model: Path, span_constrained: bool) -> ThresholdChoice:
    """The calibrated threshold for this exact file and decoding mode, if one is stored."""
    path = calibration_path(model)
    if not path.exists():
        return ThresholdChoice(None, f"no {path.name}: the model decides when to abstain")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        threshold, sha, span = record["na_threshold"], record["model_sha256"], record["span_constrained"]
    except (ValueError, KeyError, TypeError):
        raise EdgeQAError(
            f"{path}: not a calibration file; delete it or run edgeqa calibrate again"
        ) from None
    mode = "span-constrained" if span_constrained else "free"
    if span != span_constrained:
        return ThresholdChoice(None, f"{path.name} was calibrated for other decoding than {mode}")
    if sha != sha256_file(model):
        return ThresholdChoice(None, f"{path.name} belongs to another version of {model.name}")
    return ThresholdChoice(float(threshold), f"calibrated in {path.name} on {record['questions']} questions")


def resolve_na_threshold(option: str, model: Path, span_constrained: bool) -> ThresholdChoice:
    """Turn --na-threshold (auto | model | a probability) into the threshold to decode with."""
    if option == "auto":
        return stored_threshold(model, span_constrained)
    if option == "model":
        return ThresholdChoice(None, "the model decides when to abstain")
    try:
        value = float(option)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise EdgeQAError(f"--na-threshold: expected {NA_THRESHOLD_CHOICES}, got {option!r}")
    return ThresholdChoice(value, "given by --na-threshold")
