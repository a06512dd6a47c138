"""`--init-adapter`: start a run's LoRA from an earlier adapter, to go on training it on new data
(a run too long for one sitting on a CPU, or a reader adapted to a user's documents). Only the
weights are taken: the optimizer, schedule and data are the new run's own, which is what tells
this apart from `--resume`.

The adapter is a run folder (or its `adapter/`), a GGUF LoRA, or a shipped reader by name
(`smollm2-135m-squad`): the shipped readers are GGUF LoRAs only, so their PEFT weights are
rebuilt from the GGUF (stored in float16 there; the rebuilt start differs from the trained
float32 weights by float16 rounding only).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeqa.errors import EdgeQAError
from edgeqa.provenance import RunRecord
from edgeqa.run_folder import ADAPTER_SETTINGS, ADAPTER_WEIGHTS, RunFolder


@dataclass(frozen=True)
class InitAdapter:
    """Where an --init-adapter value points: a PEFT folder or a GGUF LoRA file."""

    ref: str
    path: Path
    is_gguf: bool

    @property
    def weights_file(self) -> Path:
        return self.path if self.is_gguf else self.path / ADAPTER_WEIGHTS


def locate_init_adapter(ref: str | Path) -> InitAdapter:
    """Resolve `ref`: a shipped reader's name, a GGUF LoRA, a PEFT folder or a run folder."""
    from edgeqa.models.registry import READERS, resolve_model

    if str(ref) in READERS:
        return InitAdapter(str(ref), resolve_model(str(ref)), is_gguf=True)
    path = Path(ref)
    if path.suffix == ".gguf":
        if not path.is_file():
            raise EdgeQAError(f"--init-adapter {ref}: no such file")
        return InitAdapter(str(ref), path, is_gguf=True)
    for folder in (path, RunFolder(path).adapter):
        if (folder / ADAPTER_WEIGHTS).is_file():
            return InitAdapter(str(ref), folder, is_gguf=False)
    raise EdgeQAError(
        f"--init-adapter {ref}: expected a shipped reader's name, a LoRA .gguf, or a folder with "
        f"{ADAPTER_WEIGHTS} (itself or its adapter/)"
    )


def _settings(adapter: InitAdapter) -> tuple[int | None, float | None, set[str] | None]:
    """The adapter's rank, alpha and target modules, as far as its files say."""
    if adapter.is_gguf:
        from edgeqa.models.lora_layout import gguf_lora_rank_and_modules, read_gguf_lora

        tensors, alpha = read_gguf_lora(adapter.path)
        rank, modules = gguf_lora_rank_and_modules(tensors)
        return rank, alpha, modules
    settings_path = adapter.path / ADAPTER_SETTINGS
    if not settings_path.is_file():
        return None, None, None
    try:
        settings = json.loads(settings_path.read_text(encoding="utf-8"))
    except ValueError:
        raise EdgeQAError(f"--init-adapter {adapter.ref}: {settings_path.name} is not JSON") from None
    theirs = settings.get("target_modules")
    return settings.get("r"), settings.get("lora_alpha"), set(theirs) if isinstance(theirs, list) else None


def check_init_adapter(
    ref: str | Path, lora_r: int, lora_alpha: float, target_modules: tuple[str, ...]
) -> InitAdapter:
    """The adapter, checked against this run's LoRA (rank, alpha, modules) before any model
    loads; load_init_adapter checks every tensor once the model is there."""
    adapter = locate_init_adapter(ref)
    rank, alpha, modules = _settings(adapter)
    if rank not in (None, lora_r):
        raise EdgeQAError(f"--init-adapter {ref}: its rank is {rank}, this run's --lora-r {lora_r}")
    if alpha is not None and rank and abs(alpha / rank - lora_alpha / lora_r) > 1e-6:
        raise EdgeQAError(
            f"--init-adapter {ref}: its alpha/rank is {alpha:g}/{rank}; this run's --lora-alpha/--lora-r "
            f"{lora_alpha:g}/{lora_r} would scale it differently"
        )
    if modules is not None and modules != set(target_modules):
        raise EdgeQAError(
            f"--init-adapter {ref}: it adapts {', '.join(sorted(modules))}; this run's --target-modules "
            f"are {', '.join(sorted(target_modules))}"
        )
    return adapter


def _adapter_weights(adapter: InitAdapter, expected: dict[str, Any], model_config: Any) -> dict[str, Any]:
    """The adapter's tensors as torch tensors under the PEFT names the model expects."""
    import torch

    if adapter.is_gguf:
        from edgeqa.models.lora_layout import peft_weights_from_gguf, read_gguf_lora

        tensors, _ = read_gguf_lora(adapter.path)
        try:
            arrays = peft_weights_from_gguf(tensors, list(expected), model_config)
        except EdgeQAError as exc:
            raise EdgeQAError(f"--init-adapter {adapter.ref}: {exc} (a different base?)") from None
        return {name: torch.from_numpy(array.copy()) for name, array in arrays.items()}
    from safetensors.torch import load_file

    weights = load_file(adapter.weights_file)
    missing = sorted(set(expected) - set(weights))
    if missing:
        raise EdgeQAError(
            f"--init-adapter {adapter.ref}: it has no {missing[0]} "
            "(were --target-modules or the base different?)"
        )
    return weights


def load_init_adapter(model: Any, ref: str | Path) -> dict[str, Any]:
    """Copy the adapter's weights into `model`'s LoRA; every tensor must match by name and shape
    (same rank, same target modules, same base). Returns what run.json records of it."""
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    from edgeqa.fileio import sha256_file

    adapter = locate_init_adapter(ref)
    expected = get_peft_model_state_dict(model)
    weights = _adapter_weights(adapter, expected, model.config)
    for name, tensor in expected.items():
        if tuple(weights[name].shape) != tuple(tensor.shape):
            raise EdgeQAError(
                f"--init-adapter {ref}: {name} is {tuple(weights[name].shape)}, this run's is "
                f"{tuple(tensor.shape)} (was --lora-r different?)"
            )
    set_peft_model_state_dict(
        model, {name: weights[name].to(tensor.dtype) for name, tensor in expected.items()}
    )
    record: dict[str, Any] = {"adapter_sha256": sha256_file(adapter.weights_file)}
    if not adapter.is_gguf and RunRecord.exists(adapter.path.parent):  # the earlier run's lineage
        earlier = RunRecord.load(adapter.path.parent)
        record["run"] = {
            "sources": earlier.data.get("sources"),
            "made_unanswerable": earlier.data.get("made_unanswerable"),
            "train_questions": earlier.data.get("train_questions"),
            "metrics": earlier.metrics,
            "warm_start": earlier.data.get("warm_start"),
        }
    return record
