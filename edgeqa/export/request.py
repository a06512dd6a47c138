"""What an export is asked to make, and what of an earlier export of the same source can be
kept: the request, its fingerprint and recipe, and the checks made before any model loads."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from edgeqa.errors import EdgeQAError
from edgeqa.export.quantize import TypeOverrides
from edgeqa.export.source_model import ExportSource
from edgeqa.fileio import ensure_dir, sha256_file
from edgeqa.provenance import ExportManifest
from edgeqa.run_folder import ADAPTER_WEIGHTS

DEFAULT_QUANTS = ("q4_k_m",)


@dataclass(frozen=True)
class ExportRequest:
    source: ExportSource
    out_dir: Path
    quants: tuple[str, ...] = DEFAULT_QUANTS
    out_type: str = "f16"
    threads: int = 2
    verify: bool = True
    ollama: bool = False
    lora_gguf: bool = False
    imatrix: str = "auto"  # auto, none, or a llama.cpp imatrix file (GGUF or legacy .dat)
    imatrix_tokens: int = 8192
    kl_tokens: int = 8192
    kl_data: Path | None = None
    overrides: TypeOverrides = field(default_factory=TypeOverrides)

    @cached_property
    def recipe(self) -> dict[str, Any]:
        """What a quantized file depends on beyond its source: kept files must match it.
        Cached: an --imatrix file is hashed once per request, not once per look."""
        if self.imatrix in ("auto", "none"):
            matrix = self.imatrix if self.imatrix == "none" else f"auto:{self.imatrix_tokens}"
        else:
            matrix = f"file:{sha256_file(Path(self.imatrix))}"
        return {"imatrix": matrix, **self.overrides.to_dict()}

    @property
    def manifest_path(self) -> Path:
        return self.out_dir / f"{self.source.name}.manifest.json"


def gguf_name(name: str, kind: str) -> str:
    return f"{name}-{kind.upper()}.gguf"


def fingerprint(request: ExportRequest) -> dict[str, Any]:
    adapter = request.source.adapter
    return {
        "base": request.source.base.to_dict(),
        "adapter_sha256": sha256_file(adapter / ADAPTER_WEIGHTS) if adapter else None,
        "out_type": request.out_type,
        **layout_metadata(request),  # absent for the default layout: earlier manifests still match
    }


def previous_manifest(manifest_path: Path) -> ExportManifest | None:
    """The earlier export's manifest; a damaged one is ignored (everything is made again)."""
    try:
        return ExportManifest.load(manifest_path) if manifest_path.is_file() else None
    except EdgeQAError:
        return None


def previous_files(
    manifest_path: Path, fingerprint: dict[str, Any], recipe: dict[str, Any]
) -> dict[str, Any]:
    """Files of an earlier export of the same source that are still intact on disk, quantized
    files only when made the same way (same importance matrix, same type overrides)."""
    manifest = previous_manifest(manifest_path)
    if manifest is None or manifest.fingerprint != fingerprint:
        return {}
    return {
        entry["quant"]: entry
        for entry in manifest.files
        if (manifest_path.parent / entry["file"]).is_file()
        and (manifest_path.parent / entry["file"]).stat().st_size == entry["size_bytes"]
        and (entry["quant"] == fingerprint["out_type"] or entry.get("quantized_with") == recipe)
    }


def current_manifest(request: ExportRequest) -> ExportManifest | None:
    """The manifest of an earlier export that already holds every requested file, verified
    if verification is asked for; None when anything would have to be redone."""
    kept = previous_files(request.manifest_path, fingerprint(request), request.recipe)
    if not kept or not {request.out_type, *request.quants} <= set(kept):
        return None
    manifest = ExportManifest.load(request.manifest_path)
    if request.verify and not manifest.verification:
        return None
    return manifest


def check_disk(out_dir: Path, parameters: int, quants: int, converting: bool = True) -> None:
    # f16 GGUF + float32 HF staging (unless the F16 is kept) + ~1 byte/param per quant
    needed = parameters * ((2 + 4 if converting else 0) + quants)
    free = shutil.disk_usage(out_dir).free
    if free < needed:
        raise EdgeQAError(
            f"{out_dir}: {free / 2**30:.1f} GiB free, the export needs about {needed / 2**30:.1f} GiB"
        )


def template_date_metadata(tokenizer) -> dict[str, str]:
    """The template date, for a model whose chat template renders one (Llama 3.x): kept with the
    model, so that every later stage asks it with the date it was trained with."""
    from edgeqa.prompts import TEMPLATE_DATE, TEMPLATE_DATE_KEY

    template = getattr(tokenizer, "chat_template", None) or ""
    renders_date = "date_string" in template or "strftime_now" in template
    return {TEMPLATE_DATE_KEY: TEMPLATE_DATE} if renders_date else {}


def layout_metadata(request: ExportRequest) -> dict[str, str]:
    """The prompt layout key, only for a model fine-tuned with a layout other than the default."""
    from edgeqa.prompts import DEFAULT_PROMPT_LAYOUT, PROMPT_LAYOUT_KEY

    layout = request.source.prompt_layout
    return {} if layout == DEFAULT_PROMPT_LAYOUT else {PROMPT_LAYOUT_KEY: layout}


def check_request(request: ExportRequest) -> None:
    """Every option checked before any model is loaded."""
    from edgeqa.export.imatrix import NEEDS_IMATRIX, read_imatrix
    from edgeqa.export.quantize import quant_types

    valid = quant_types()
    unknown = [q for q in request.quants if q not in valid]
    if unknown:
        raise EdgeQAError(f"--quant: unknown type {unknown[0]!r}; valid: {', '.join(sorted(valid))}")
    needy = [q for q in request.quants if q in NEEDS_IMATRIX]
    if needy and request.imatrix == "none":
        raise EdgeQAError(
            f"--quant {needy[0]} needs an importance matrix: use --imatrix auto or --imatrix FILE"
        )
    if request.imatrix not in ("auto", "none"):
        read_imatrix(Path(request.imatrix))  # a missing or foreign file fails here, not after the merge
    ensure_dir(request.out_dir)
    if request.imatrix_tokens < 256 or request.kl_tokens < 256:
        raise EdgeQAError("--imatrix-tokens and --kl-tokens must be at least 256")
    if request.kl_data is not None and not request.kl_data.is_file():
        raise EdgeQAError(f"--kl-data {request.kl_data}: no such file")
