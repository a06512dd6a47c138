"""The no-answer thresholds of a GGUF, calibrated on validation questions and kept beside it.

A small model's own choice to abstain is poorly calibrated (it abstains far too often, or too
rarely). The official SQuAD 2.0 script already finds the threshold on the no-answer probability
that maximises F1 when every question gets an answer: `edgeqa calibrate` runs exactly that on
validation questions and stores the threshold in `<model>.calibration.json`, keyed to the file's
hash, with one entry per decoding mode and no-answer score (each has its own scale), so eval and
the demo apply the right one with `--na-threshold auto`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeqa.errors import EdgeQAError
from edgeqa.fileio import atomic_write_json, sha256_file


def calibration_path(model: Path) -> Path:
    return model.with_name(model.name.removesuffix(".gguf") + ".calibration.json")


def policy_key(span_constrained: bool, na_score: str) -> str:
    """The entry of a decoding mode and no-answer score, e.g. "span/answer"."""
    return f"{'span' if span_constrained else 'free'}/{na_score}"


@dataclass(frozen=True)
class ThresholdChoice:
    """The threshold an engine will use (None: the model's own abstention) and why."""

    value: float | None
    reason: str


def read_calibration(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(record["model_sha256"], str) and isinstance(record["thresholds"], dict):
            return record
    except (ValueError, KeyError, TypeError):
        pass
    raise EdgeQAError(f"{path}: not a calibration file; delete it or run edgeqa calibrate again")


def write_calibration(
    model: Path, span_constrained: bool, na_score: str, metrics: dict[str, Any]
) -> dict[str, Any]:
    """Store the best-F1 threshold of a forced-answer evaluation (its metrics.json dict) as the
    entry of its decoding and score; the other entries stay if they belong to the same file."""
    path = calibration_path(model)
    record = {"model_sha256": metrics["model_sha256"], "thresholds": {}}
    if path.exists():
        existing = read_calibration(path)
        if existing["model_sha256"] == record["model_sha256"]:
            record = existing
    official = metrics["official"]
    entry = {
        "na_threshold": official["best_f1_thresh"],
        "best_f1": official["best_f1"],
        "questions": official["total"],
        "data": metrics["data"],
    }
    record["thresholds"][policy_key(span_constrained, na_score)] = entry
    atomic_write_json(path, record)
    return entry


def stored_threshold(model: Path, span_constrained: bool, na_score: str) -> ThresholdChoice:
    """The calibrated threshold for this exact file, decoding mode and score, if one is stored."""
    path = calibration_path(model)
    if not path.exists():
        return ThresholdChoice(None, f"no {path.name}")
    record = read_calibration(path)
    key = policy_key(span_constrained, na_score)
    entry = record["thresholds"].get(key)
    if entry is None:
        return ThresholdChoice(None, f"{path.name} has no threshold for {key} (run edgeqa calibrate)")
    if record["model_sha256"] != sha256_file(model):
        return ThresholdChoice(None, f"{path.name} belongs to another version of {model.name}")
    return ThresholdChoice(
        float(entry["na_threshold"]), f"calibrated in {path.name} ({key}) on {entry['questions']} questions"
    )
