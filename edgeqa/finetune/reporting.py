"""Optional metric reporting to TensorBoard or Weights & Biases (off by default).

wandb runs in offline mode unless the user has set WANDB_MODE, so a run never needs a network.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from edgeqa.errors import EdgeQAError


class Reporter:
    """Logs scalars; the 'none' reporter does nothing."""

    def __init__(self, kind: str, run_dir: Path, config: dict) -> None:
        self.kind = kind
        self._writer = None
        self._wandb = None
        if kind == "tensorboard":
            if importlib.util.find_spec("tensorboard") is None:
                raise EdgeQAError("--report-to tensorboard needs the tensorboard package")
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))
        elif kind == "wandb":
            if importlib.util.find_spec("wandb") is None:
                raise EdgeQAError("--report-to wandb needs the wandb package")
            import wandb

            os.environ.setdefault("WANDB_MODE", "offline")
            self._wandb = wandb.init(project="edgeqa", dir=str(run_dir), config=config, name=run_dir.name)

    def log(self, step: int, values: dict[str, float]) -> None:
        if self._writer is not None:
            for key, value in values.items():
                self._writer.add_scalar(key, value, step)
        if self._wandb is not None:
            self._wandb.log(values, step=step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._wandb is not None:
            self._wandb.finish()
