"""`--init-adapter`: start a run's LoRA from an earlier run's adapter, to go on training it on
new data (a run too long for one sitting on a CPU, or a reader taught more). Only the weights are
taken: the optimizer, schedule and data are the new run's own, which is what tells this apart
from `--resume`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeqa.errors import EdgeQAError
from edgeqa.provenance import RunRecord

ADAPTER_FILE = "adapter_model.safetensors"


def adapter_folder(ref: str | Path) -> Path:
    """The folder that holds the adapter: `ref` itself, or a run folder's `adapter/`."""
    path = Path(ref)
    for folder in (path, path / "adapter"):
        if (folder / ADAPTER_FILE).is_file():
            return folder
    raise EdgeQAError(f"--init-adapter {ref}: no {ADAPTER_FILE} there or in its adapter/ folder")


def check_init_adapter(ref: str | Path, lora_r: int, target_modules: tuple[str, ...]) -> Path:
    """The adapter's folder, checked against this run's LoRA from its adapter_config.json
    before any model loads (load_init_adapter checks every tensor once the model is there)."""
    import json

    folder = adapter_folder(ref)
    settings_path = folder / "adapter_config.json"
    if not settings_path.is_file():
        return folder
    try:
        settings = json.loads(settings_path.read_text(encoding="utf-8"))
    except ValueError:
        raise EdgeQAError(f"--init-adapter {ref}: {settings_path.name} is not JSON") from None
    if settings.get("r") not in (None, lora_r):
        raise EdgeQAError(f"--init-adapter {ref}: its rank is {settings['r']}, this run's --lora-r {lora_r}")
    theirs = settings.get("target_modules")
    if isinstance(theirs, list) and set(theirs) != set(target_modules):
        raise EdgeQAError(
            f"--init-adapter {ref}: it adapts {', '.join(sorted(theirs))}; this run's --target-modules "
            f"are {', '.join(sorted(target_modules))}"
        )
    return folder


def load_init_adapter(model: Any, ref: str | Path) -> dict[str, Any]:
    """Copy the adapter's weights into `model`'s LoRA; every tensor must match by name and shape
    (same rank, same target modules, same base). Returns what run.json records of it."""
    from peft import get_peft_model_state_dict, set_peft_model_state_dict
    from safetensors.torch import load_file

    from edgeqa.fileio import sha256_file

    folder = adapter_folder(ref)
    weights = load_file(folder / ADAPTER_FILE)
    expected = get_peft_model_state_dict(model)
    missing = sorted(set(expected) - set(weights))
    if missing:
        raise EdgeQAError(
            f"--init-adapter {ref}: it has no {missing[0]} (were --target-modules or the base different?)"
        )
    for name, tensor in expected.items():
        if tuple(weights[name].shape) != tuple(tensor.shape):
            raise EdgeQAError(
                f"--init-adapter {ref}: {name} is {tuple(weights[name].shape)}, this run's is "
                f"{tuple(tensor.shape)} (was --lora-r different?)"
            )
    set_peft_model_state_dict(model, {name: weights[name] for name in expected})
    record: dict[str, Any] = {"adapter_sha256": sha256_file(folder / ADAPTER_FILE)}
    if RunRecord.exists(folder.parent):  # the earlier run's data and length: the new model's lineage
        earlier = RunRecord.load(folder.parent)
        record["run"] = {
            "sources": earlier.data.get("sources"),
            "made_unanswerable": earlier.data.get("made_unanswerable"),
            "train_questions": earlier.data.get("train_questions"),
            "metrics": earlier.metrics,
            "warm_start": earlier.data.get("warm_start"),
        }
    return record
