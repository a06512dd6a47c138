"""`edgeqa export`: merge -> HF folder -> f16 GGUF -> quantized GGUFs -> verification -> manifest.

Every file is written under a temporary name and renamed when whole. A re-run with the same
source and options keeps the files that are already there and match the manifest.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeqa.errors import EdgeQAError
from edgeqa.export.request import (
    ExportRequest,
    check_disk,
    check_request,
    fingerprint,
    gguf_name,
    layout_metadata,
    previous_files,
    previous_manifest,
    template_date_metadata,
)
from edgeqa.export.steps import FinishedSteps
from edgeqa.fileio import atomic_write_text, sha256_file
from edgeqa.provenance import ExportManifest


def _tensor_widths(path: Path) -> dict[str, int]:
    """Each matrix's input width (ne0), what an importance matrix must match."""
    import gguf

    return {t.name: int(t.shape[0]) for t in gguf.GGUFReader(str(path)).tensors if len(t.shape) == 2}


def _importance_matrix(request: ExportRequest, model, tokenizer, reference: Path, steps: FinishedSteps):
    """(mean squared activations per tensor or None, what the manifest records of them); an
    automatic matrix an interrupted export finished is read back, not computed again."""
    from edgeqa.export.imatrix import check_matches, compute_imatrix, read_imatrix, write_imatrix_gguf
    from edgeqa.export.imatrix_text import imatrix_sequences, training_questions

    if request.imatrix == "none":
        return None, "none"
    started = time.perf_counter()
    if request.imatrix != "auto":
        path = Path(request.imatrix)
        matrix = read_imatrix(path)
        check_matches(matrix, _tensor_widths(reference), str(path))
        record = {"source": str(path), "sha256": sha256_file(path), "tokens": matrix.tokens}
        return matrix.means(), {**record, "datasets": list(matrix.datasets)}
    settings = {"tokens": request.imatrix_tokens}
    if finished := steps.reusable("imatrix", settings):
        print(f"edgeqa export: importance matrix kept from the interrupted export ({finished['file']})")
        return read_imatrix(request.out_dir / finished["file"]).means(), finished["record"]
    questions, described = training_questions(request.source)
    sequences, _ = imatrix_sequences(
        tokenizer, questions, request.source.prompt_layout, request.imatrix_tokens
    )
    print(f"edgeqa export: importance matrix from {sum(map(len, sequences))} tokens of {described}")
    matrix = compute_imatrix(model, sequences, f"edgeqa: {described}")
    check_matches(matrix, _tensor_widths(reference), "auto")
    path = write_imatrix_gguf(matrix, request.out_dir / f"{request.source.name}.imatrix.gguf")
    record = {
        "source": "auto",
        "dataset": described,
        "tokens": matrix.tokens,
        "file": path.name,
        "sha256": sha256_file(path),
        "seconds": round(time.perf_counter() - started, 1),
    }
    steps.finished("imatrix", settings, path, record=record)
    return matrix.means(), record


@dataclass
class _Plan:
    """What this run of an export starts from: the earlier files it may keep, its steps
    record, and whether the reference GGUF must be converted again."""

    fingerprint: dict[str, Any]
    kept: dict[str, Any]
    steps: FinishedSteps
    converting: bool
    reference: Path


def _plan(request: ExportRequest) -> _Plan:
    name = request.source.name
    source_print = fingerprint(request)
    kept = previous_files(request.manifest_path, source_print, request.recipe)
    steps = FinishedSteps(request.out_dir, name, source_print)
    converting = request.out_type not in kept and steps.reusable("reference", {}) is None
    reference = request.out_dir / gguf_name(name, request.out_type)
    return _Plan(source_print, kept, steps, converting, reference)


def _merge(request: ExportRequest, plan: _Plan):
    """The merged model and its tokenizer, with the free space checked before and after."""
    from edgeqa.export.merge import merged_model

    quants = len(request.quants)
    if known := request.source.base.parameters_before_loading():  # free space, before the merge
        check_disk(request.out_dir, known, quants, plan.converting)
    print(f"edgeqa export: merging {request.source.adapter or '(no adapter)'} into {request.source.base.ref}")
    model, tokenizer = merged_model(request.source)
    check_disk(request.out_dir, sum(p.numel() for p in model.parameters()), quants, plan.converting)
    return model, tokenizer


def _reference_gguf(request: ExportRequest, plan: _Plan, model, tokenizer) -> None:
    """The --out-type GGUF every quantized file is made from and compared with."""
    from edgeqa.export.convert import convert_to_gguf
    from edgeqa.models.base_model import save_hf_folder

    reference = plan.reference
    if request.out_type in plan.kept:
        print(f"edgeqa export: {reference.name} is up to date")
        return
    if not plan.converting:
        print(f"edgeqa export: {reference.name} kept from the interrupted export (sha256 verified)")
        return
    with tempfile.TemporaryDirectory(dir=request.out_dir, prefix=".merged-") as staging:
        # a fixed folder name: the converter derives general.finetune from it, so a random one
        # made every export's bytes differ
        folder = save_hf_folder(model, tokenizer, Path(staging) / request.source.name)
        print(f"edgeqa export: converting to {reference.name} with llama.cpp's converter")
        metadata = {**layout_metadata(request), **template_date_metadata(tokenizer)}
        convert_to_gguf(
            folder, reference, request.out_type, model_name=request.source.name, metadata=metadata
        )
    plan.steps.finished("reference", {}, reference)


def _file_entry(request: ExportRequest, quant: str, path: Path, seconds: float | None) -> dict[str, Any]:
    from edgeqa.models.gguf_info import read_gguf_info

    info = read_gguf_info(path)
    return {
        "quant": quant,
        "file": path.name,
        "size_bytes": path.stat().st_size,
        "sha256": sha256_file(path),
        "file_type": info.file_type,
        "chat_template": info.chat_template is not None,
        **(
            {}
            if quant == request.out_type
            else {"quantized_with": request.recipe, "quantize_seconds": seconds}
        ),
    }


def _quantized_files(request: ExportRequest, plan: _Plan, model, tokenizer):
    """(every file's manifest entry, the importance matrix's record): the types not kept are
    quantized from the reference, with the importance matrix when one is asked for."""
    from edgeqa.export.quantize import quantize_gguf

    to_make = [q for q in request.quants if q not in plan.kept]
    if to_make:
        means, imatrix_record = _importance_matrix(request, model, tokenizer, plan.reference, plan.steps)
    else:  # nothing to quantize: the matrix the kept files were made with
        earlier = previous_manifest(request.manifest_path)
        means, imatrix_record = None, earlier.imatrix if earlier else "none"
    files: dict[str, dict[str, Any]] = {}
    for quant in (request.out_type, *request.quants):
        path = request.out_dir / gguf_name(request.source.name, quant)
        seconds = None
        if quant in to_make:
            print(f"edgeqa export: quantizing to {path.name}")
            began = time.perf_counter()
            quantize_gguf(plan.reference, path, quant, request.threads, means, request.overrides)
            seconds = round(time.perf_counter() - began, 1)
        files[quant] = plan.kept.get(quant) or _file_entry(request, quant, path, seconds)
    return files, imatrix_record


def run_export(request: ExportRequest) -> ExportManifest:
    """Merge, convert, quantize, verify and write the manifest; finished files are kept."""
    from edgeqa.export.verify import verify_export

    check_request(request)
    started = time.perf_counter()
    plan = _plan(request)
    model, tokenizer = _merge(request, plan)
    _reference_gguf(request, plan, model, tokenizer)
    files, imatrix_record = _quantized_files(request, plan, model, tokenizer)
    lora_files = _export_lora(request, model.config, tokenizer) if request.lora_gguf else {}
    verification = (
        verify_export(request, model, tokenizer, plan.reference, files, lora_files) if request.verify else {}
    )
    source = request.source
    manifest = ExportManifest(
        path=request.manifest_path,
        name=source.name,
        fingerprint=plan.fingerprint,
        source={
            "base": source.base.to_dict(),
            "adapter": str(source.adapter) if source.adapter else None,
            "run": str(source.run_dir) if source.run_dir else None,
            "prompt_layout": source.prompt_layout,
        },
        files=list(files.values()),
        imatrix=imatrix_record,
        type_overrides=request.overrides.to_dict(),
        lora_gguf=lora_files or None,
        verification=verification,
        versions=_versions(),
        export_seconds=round(time.perf_counter() - started, 1),
    )
    manifest.save()
    if request.ollama:
        from edgeqa.export.ollama import ollama_modelfile

        modelfile = ollama_modelfile(request.out_dir / files[request.quants[-1]]["file"])
        atomic_write_text(request.out_dir / f"{source.name}.Modelfile", modelfile)
    return manifest


def _export_lora(request: ExportRequest, model_config, tokenizer) -> dict[str, Any]:
    """The adapter as a GGUF LoRA, plus the unmerged base it applies to, both beside the merge."""
    from edgeqa.export.convert import convert_to_gguf
    from edgeqa.export.lora_gguf import write_lora_gguf
    from edgeqa.models.base_model import load_causal_lm, save_hf_folder

    if request.source.adapter is None:
        raise EdgeQAError("--lora-gguf needs an adapter (a run folder or --adapter)")
    import torch

    out_dir, name = request.out_dir, request.source.name
    base_path = out_dir / f"{name}-base-{request.out_type.upper()}.gguf"
    adapter_path = write_lora_gguf(
        request.source.adapter,
        model_config,
        out_dir / f"{name}-LoRA-F32.gguf",
        base=base_path.name,  # beside it: `--model <adapter>` loads both
        prompt_layout=request.source.prompt_layout,
    )
    if not base_path.is_file():
        with tempfile.TemporaryDirectory(dir=out_dir, prefix=".base-") as staging:
            model = load_causal_lm(request.source.base, torch.float32)
            folder = save_hf_folder(model, tokenizer, Path(staging) / base_path.stem)
            convert_to_gguf(folder, base_path, request.out_type)
    return {
        kind: {"file": path.name, "size_bytes": path.stat().st_size, "sha256": sha256_file(path)}
        for kind, path in (("adapter", adapter_path), ("base", base_path))
    }


def _versions() -> dict[str, str]:
    from edgeqa.export.convert import CONVERTER_PACKAGE
    from edgeqa.versions import library_versions

    return {
        **library_versions(("edgeqa", "llama-cpp-python", "transformers", "peft", "torch", "gguf")),
        "converter": CONVERTER_PACKAGE,
    }
