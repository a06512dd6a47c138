"""`edgeqa export`: merge -> HF folder -> f16 GGUF -> quantized GGUFs -> verification -> manifest.

Every file is written under a temporary name and renamed when whole. A re-run with the same
source and options keeps the files that are already there and match the manifest.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from edgeqa.errors import EdgeQAError
from edgeqa.export.quantize import TypeOverrides
from edgeqa.export.sources import ExportSource
from edgeqa.export.steps import FinishedSteps
from edgeqa.fileio import atomic_write_text, ensure_dir, sha256_file
from edgeqa.provenance import ExportManifest
from edgeqa.run_folder import ADAPTER_WEIGHTS

DEFAULT_QUANTS = ("q4_k_m",)
KL_WINDOW = 512


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


def gguf_name(name: str, kind: str) -> str:
    return f"{name}-{kind.upper()}.gguf"


def _fingerprint(request: ExportRequest) -> dict[str, Any]:
    adapter = request.source.adapter
    return {
        "base": request.source.base.to_dict(),
        "adapter_sha256": sha256_file(adapter / ADAPTER_WEIGHTS) if adapter else None,
        "out_type": request.out_type,
        **_layout_metadata(request),  # absent for the default layout: earlier manifests still match
    }


def _previous(manifest_path: Path) -> ExportManifest | None:
    """The earlier export's manifest; a damaged one is ignored (everything is made again)."""
    try:
        return ExportManifest.load(manifest_path) if manifest_path.is_file() else None
    except EdgeQAError:
        return None


def _previous_files(
    manifest_path: Path, fingerprint: dict[str, Any], recipe: dict[str, Any]
) -> dict[str, Any]:
    """Files of an earlier export of the same source that are still intact on disk, quantized
    files only when made the same way (same importance matrix, same type overrides)."""
    manifest = _previous(manifest_path)
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
    manifest_path = request.out_dir / f"{request.source.name}.manifest.json"
    kept = _previous_files(manifest_path, _fingerprint(request), request.recipe)
    if not kept or not {request.out_type, *request.quants} <= set(kept):
        return None
    manifest = ExportManifest.load(manifest_path)
    if request.verify and not manifest.verification:
        return None
    return manifest


def _check_disk(out_dir: Path, parameters: int, quants: int, converting: bool = True) -> None:
    # f16 GGUF + float32 HF staging (unless the F16 is kept) + ~1 byte/param per quant
    needed = parameters * ((2 + 4 if converting else 0) + quants)
    free = shutil.disk_usage(out_dir).free
    if free < needed:
        raise EdgeQAError(
            f"{out_dir}: {free / 2**30:.1f} GiB free, the export needs about {needed / 2**30:.1f} GiB"
        )


def _layout_metadata(request: ExportRequest) -> dict[str, str]:
    """The prompt layout key, only for a model fine-tuned with a layout other than the default."""
    from edgeqa.prompts import DEFAULT_PROMPT_LAYOUT, PROMPT_LAYOUT_KEY

    layout = request.source.prompt_layout
    return {} if layout == DEFAULT_PROMPT_LAYOUT else {PROMPT_LAYOUT_KEY: layout}


def _verification_prompts(tokenizer, examples, layout: str, count: int = 8) -> list[list[int]]:
    from edgeqa.prompts import qa_messages

    prompts = []
    for example in examples[:: max(1, len(examples) // count)][:count]:
        text = tokenizer.apply_chat_template(
            qa_messages(example.context, example.question, layout), add_generation_prompt=True, tokenize=False
        )
        prompts.append(tokenizer(text, add_special_tokens=False)["input_ids"])
    return prompts


def _heldout_examples(source: ExportSource):
    from edgeqa.data.squad import BUNDLED_SAMPLE, load_squad
    from edgeqa.run_folder import RunFolder

    heldout = RunFolder(source.run_dir).heldout if source.run_dir else None
    return load_squad(heldout if heldout and heldout.is_file() else BUNDLED_SAMPLE)


def _ollama_modelfile(gguf_file: str) -> str:
    from edgeqa.prompts import SYSTEM_PROMPT

    return (
        f"FROM ./{gguf_file}\n"
        "PARAMETER temperature 0\n"
        'PARAMETER stop "<|im_end|>"\n'
        f'SYSTEM """{SYSTEM_PROMPT}"""\n'
    )


def _check_request(request: ExportRequest) -> None:
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


def _tensor_widths(path: Path) -> dict[str, int]:
    """Each matrix's input width (ne0), what an importance matrix must match."""
    import gguf

    return {t.name: int(t.shape[0]) for t in gguf.GGUFReader(str(path)).tensors if len(t.shape) == 2}


def _importance_matrix(request: ExportRequest, model, tokenizer, reference: Path, steps: FinishedSteps):
    """(mean squared activations per tensor or None, what the manifest records of them); an
    automatic matrix an interrupted export finished is read back, not computed again."""
    from edgeqa.export.calibration import calibration_sequences, training_questions
    from edgeqa.export.imatrix import check_matches, compute_imatrix, read_imatrix, write_imatrix_gguf

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
    sequences, _ = calibration_sequences(
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


def _verify_drift(
    request: ExportRequest, tokenizer, reference: Path, files: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Perplexity and KL divergence of every file against the reference, on held-out text (the
    same for every export of a source; its sha256 goes into the manifest)."""
    import hashlib
    import math

    from edgeqa.export.calibration import heldout_tokens
    from edgeqa.export.kl_divergence import compare, scored_tokens

    wanted = math.ceil(request.kl_tokens / scored_tokens(KL_WINDOW, KL_WINDOW)) * KL_WINDOW
    tokens = heldout_tokens(tokenizer, request.source, request.imatrix_tokens, wanted, request.kl_data)
    scored = scored_tokens(len(tokens), KL_WINDOW)
    if scored < request.kl_tokens:
        print(
            f"edgeqa export: only {scored} held-out tokens to score the KL divergence on "
            f"(asked for {request.kl_tokens}); --kl-data <squad.json> adds paragraphs"
        )
    quantized = {q: request.out_dir / e["file"] for q, e in files.items() if q != request.out_type}
    print(f"edgeqa export: perplexity and KL divergence against {reference.name} on {scored} tokens")
    ref_ppl, drifts = compare(reference, list(quantized.values()), tokens, KL_WINDOW, request.threads)
    files[request.out_type].update(perplexity=round(ref_ppl, 4), perplexity_vs_reference=1.0)
    for quant, path in quantized.items():
        drift = drifts[path]
        files[quant].update(
            perplexity=round(drift.perplexity, 4),
            perplexity_vs_reference=round(drift.perplexity_ratio, 4),
            kl_divergence=drift.kl_dict(),
        )
    text = hashlib.sha256(" ".join(map(str, tokens)).encode()).hexdigest()
    return {"kl_window": KL_WINDOW, "kl_tokens": scored, "kl_text_sha256": text}


def run_export(request: ExportRequest) -> ExportManifest:
    from edgeqa.export.convert import convert_to_gguf
    from edgeqa.export.merge import merged_model
    from edgeqa.export.quantize import quantize_gguf
    from edgeqa.export.verify import hf_vs_gguf, squad_smoke
    from edgeqa.models.base_model import save_hf_folder
    from edgeqa.models.gguf_info import read_gguf_info

    _check_request(request)
    out_dir, name = request.out_dir, request.source.name
    manifest_path = out_dir / f"{name}.manifest.json"
    fingerprint, recipe = _fingerprint(request), request.recipe
    kept = _previous_files(manifest_path, fingerprint, recipe)
    steps = FinishedSteps(out_dir, name, fingerprint)
    converting = request.out_type not in kept and steps.reusable("reference", {}) is None
    started = time.perf_counter()

    if known := request.source.base.parameters_before_loading():  # free space, before the merge
        _check_disk(out_dir, known, len(request.quants), converting)
    print(f"edgeqa export: merging {request.source.adapter or '(no adapter)'} into {request.source.base.ref}")
    model, tokenizer = merged_model(request.source)
    _check_disk(out_dir, sum(p.numel() for p in model.parameters()), len(request.quants), converting)
    files: dict[str, dict[str, Any]] = {}
    reference = out_dir / gguf_name(name, request.out_type)
    if request.out_type in kept:
        print(f"edgeqa export: {reference.name} is up to date")
    elif not converting:
        print(f"edgeqa export: {reference.name} kept from the interrupted export (sha256 verified)")
    else:
        with tempfile.TemporaryDirectory(dir=out_dir, prefix=".merged-") as staging:
            save_hf_folder(model, tokenizer, Path(staging))
            print(f"edgeqa export: converting to {reference.name} with llama.cpp's converter")
            convert_to_gguf(
                Path(staging),
                reference,
                request.out_type,
                model_name=name,
                metadata=_layout_metadata(request),
            )
        steps.finished("reference", {}, reference)
    to_make = [q for q in request.quants if q not in kept]
    if to_make:
        means, imatrix_record = _importance_matrix(request, model, tokenizer, reference, steps)
    else:  # nothing to quantize: the matrix the kept files were made with
        earlier = _previous(manifest_path)
        means, imatrix_record = None, earlier.imatrix if earlier else "none"
    for quant in (request.out_type, *request.quants):
        path = out_dir / gguf_name(name, quant)
        seconds = None
        if quant in to_make:
            print(f"edgeqa export: quantizing to {path.name}")
            began = time.perf_counter()
            quantize_gguf(reference, path, quant, request.threads, means, request.overrides)
            seconds = round(time.perf_counter() - began, 1)
        info = read_gguf_info(path)
        files[quant] = kept.get(quant) or {
            "quant": quant,
            "file": path.name,
            "size_bytes": path.stat().st_size,
            "sha256": sha256_file(path),
            "file_type": info.file_type,
            "chat_template": info.chat_template is not None,
            **({} if quant == request.out_type else {"quantized_with": recipe, "quantize_seconds": seconds}),
        }

    lora_files: dict[str, Any] = {}
    if request.lora_gguf:
        lora_files = _export_lora(request, model.config, tokenizer)

    verification: dict[str, Any] = {}
    if request.verify:
        examples = _heldout_examples(request.source)
        if lora_files:
            from edgeqa.export.verify import lora_vs_merged

            verification["lora_gguf_vs_merged"] = lora_vs_merged(
                out_dir / lora_files["base"]["file"],
                out_dir / lora_files["adapter"]["file"],
                reference,
                _verification_prompts(tokenizer, examples, request.source.prompt_layout, count=4),
                request.threads,
            )
        print("edgeqa export: verifying against the merged model")
        verification["hf_vs_f16"] = hf_vs_gguf(
            model,
            reference,
            _verification_prompts(tokenizer, examples, request.source.prompt_layout),
            request.threads,
        )
        verification.update(_verify_drift(request, tokenizer, reference, files))
        smoke_example = next((e for e in examples if e.answers), examples[0])
        for entry in files.values():
            entry["squad_smoke"] = squad_smoke(out_dir / entry["file"], smoke_example, request.threads)

    manifest = ExportManifest(
        path=manifest_path,
        name=name,
        fingerprint=fingerprint,
        source={
            "base": request.source.base.to_dict(),
            "adapter": str(request.source.adapter) if request.source.adapter else None,
            "run": str(request.source.run_dir) if request.source.run_dir else None,
            "prompt_layout": request.source.prompt_layout,
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
        atomic_write_text(out_dir / f"{name}.Modelfile", _ollama_modelfile(files[request.quants[-1]]["file"]))
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
            save_hf_folder(load_causal_lm(request.source.base, torch.float32), tokenizer, Path(staging))
            convert_to_gguf(Path(staging), base_path, request.out_type)
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
