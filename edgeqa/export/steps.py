"""The export's finished steps, kept across a kill or a full disk: `<name>.steps.json`.

The manifest is written only when the whole export succeeds, so without this an interrupted
export would convert the F16 and compute the importance matrix again (a minute on the embedded
model, far more on a real one) while a complete file of each lies beside it. Each finished step
records its file's sha256 and what made it (the source's fingerprint and the step's own
settings); a rerun reuses the file only when all three still match.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgeqa.fileio import atomic_write_json, sha256_file


class FinishedSteps:
    """The steps record of one export folder and source name."""

    def __init__(self, out_dir: Path, name: str, fingerprint: dict[str, Any]):
        self.out_dir = out_dir
        self.path = out_dir / f"{name}.steps.json"
        self.fingerprint = fingerprint
        try:
            self.steps: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.steps = {}  # none yet, or damaged: every step is made again

    def reusable(self, step: str, settings: dict[str, Any]) -> dict[str, Any] | None:
        """The record of `step` when its file is intact and was made from this source with
        these settings; None when the step must run."""
        entry = self.steps.get(step)
        if not isinstance(entry, dict) or entry.get("fingerprint") != self.fingerprint:
            return None
        if entry.get("settings") != settings:
            return None
        path = self.out_dir / str(entry.get("file"))
        if not path.is_file() or sha256_file(path) != entry.get("sha256"):
            return None
        return entry

    def finished(self, step: str, settings: dict[str, Any], file: Path, **details: Any) -> None:
        """Record that `step` wrote `file` (whole, renamed into place) with `settings`."""
        self.steps[step] = {
            "fingerprint": self.fingerprint,
            "settings": settings,
            "file": file.name,
            "sha256": sha256_file(file),
            **details,
        }
        atomic_write_json(self.path, self.steps)
