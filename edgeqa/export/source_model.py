"""What to export: a finetune run folder (base found in its run.json), --base + --adapter, or a
base alone. Resolved once, so every later step and the manifest agree on it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeqa.errors import EdgeQAError
from edgeqa.models.base_model import BaseModel, resolve_base
from edgeqa.prompts import DEFAULT_PROMPT_LAYOUT
from edgeqa.provenance import RunRecord
from edgeqa.run_folder import ADAPTER_SETTINGS, ADAPTER_WEIGHTS


@dataclass(frozen=True)
class ExportSource:
    base: BaseModel
    adapter: Path | None
    run_dir: Path | None
    name: str
    prompt_layout: str = DEFAULT_PROMPT_LAYOUT  # the run's, written into the GGUF


def resolve_source(
    run_dir: str | None, base: str | None, adapter: str | None, name: str | None
) -> ExportSource:
    if run_dir is not None:
        folder = Path(run_dir)
        if not RunRecord.exists(folder):
            raise EdgeQAError(f"{folder}: not a finished finetune run (no run.json)")
        run = RunRecord.load(folder)
        recorded = BaseModel(**run.base)
        resolved = resolve_base(base or recorded.ref)
        if recorded.sha256 and resolved.sha256 != recorded.sha256:
            raise EdgeQAError(
                f"{resolved.ref}: the base weights changed since {folder} was trained "
                f"(sha256 {resolved.sha256[:12]}… != recorded {recorded.sha256[:12]}…)"
            )
        adapter_dir = Path(adapter) if adapter else run.adapter_dir
        _check_adapter(adapter_dir)
        layout = run.config.get("prompt_layout", DEFAULT_PROMPT_LAYOUT)
        return ExportSource(resolved, adapter_dir, folder, name or folder.name, layout)
    if base is None:
        raise EdgeQAError("export needs a run folder, or --base (and optionally --adapter)")
    resolved = resolve_base(base)
    adapter_dir = Path(adapter) if adapter else None
    if adapter_dir is not None:
        _check_adapter(adapter_dir)
    default_name = Path(resolved.ref).stem if resolved.kind != "hub" else resolved.ref.split("/")[-1]
    if base == "embedded":
        default_name = "SmolLM2-135M-Instruct"
    return ExportSource(resolved, adapter_dir, None, name or default_name)


def _check_adapter(folder: Path) -> None:
    for required in (ADAPTER_SETTINGS, ADAPTER_WEIGHTS):
        if not (folder / required).is_file():
            raise EdgeQAError(f"{folder}: not a PEFT adapter folder (missing {required})")
