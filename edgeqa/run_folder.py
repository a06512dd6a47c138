"""A fine-tuning run's folder: the one place its files and folders are named.

Fine-tuning writes them, the trainer checkpoints into them, and export, calibration, the
pipeline and --init-adapter read them back; each asks this type for a path instead of
spelling the name again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ADAPTER_WEIGHTS = "adapter_model.safetensors"  # PEFT's names for an adapter's two files
ADAPTER_SETTINGS = "adapter_config.json"


@dataclass(frozen=True)
class RunFolder:
    """`edgeqa finetune`'s output folder for one run."""

    path: Path

    @property
    def config(self) -> Path:
        """The run's FinetuneConfig as JSON: what a resume or a rerun of the pipeline compares."""
        return self.path / "config.json"

    @property
    def record(self) -> Path:
        """run.json (provenance.RunRecord): written last, so its presence means finished."""
        return self.path / "run.json"

    @property
    def validation(self) -> Path:
        """The validation questions in SQuAD's JSON: unseen questions for calibration."""
        return self.path / "validation.json"

    @property
    def heldout(self) -> Path:
        """The test articles' questions, when the split holds some out."""
        return self.path / "heldout.json"

    @property
    def adapter(self) -> Path:
        return self.path / "adapter"

    @property
    def adapter_staging(self) -> Path:
        return self.path / ".adapter.partial"

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoint"

    @property
    def checkpoint_staging(self) -> Path:
        return self.path / ".checkpoint.partial"

    @property
    def previous_checkpoint(self) -> Path:
        """Where a save moves the last checkpoint while it swaps in the new one."""
        return self.path / ".checkpoint.old"

    @property
    def warm_start(self) -> Path:
        """What --init-adapter started from, read back by a resumed run."""
        return self.path / "warm_start.json"

    @property
    def loss_curves(self) -> Path:
        return self.path / "loss_curves.json"

    @property
    def loss_plot(self) -> Path:
        return self.path / "loss.png"
