"""`edgeqa export`: merge, convert, quantize (with an importance matrix), verify, manifest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeqa.hardware import usable_cores
from edgeqa.option_field import option
from edgeqa.provenance import ExportManifest

DESCRIPTION = (
    "Merge a LoRA adapter into a 16/32-bit copy of its base, convert it to GGUF with llama.cpp's "
    "converter, quantize it with llama.cpp (weighted by an importance matrix), check every file "
    "against the merged model and the reference, and write <name>.manifest.json. Files already "
    "exported from the same source the same way are kept."
)
EPILOG = (
    "examples: edgeqa export models/smollm2-squad --quant q8_0,q4_k_m\n"
    "          edgeqa export --base embedded --quant q4_k_m\n"
    "          edgeqa export models/smollm2-squad --quant iq3_xxs --imatrix my.imatrix.gguf"
)


@dataclass(frozen=True)
class ExportArgs:
    run: str | None = option(positional=True, nargs="?", metavar="RUN_DIR")
    """a finetune run folder (models/<run>)"""
    base: str | None = None
    """base model (hub id, HF folder, GGUF or 'embedded'); default: the base recorded in
    RUN_DIR/run.json"""
    adapter: str | None = option(metavar="DIR")
    """PEFT adapter folder (default: RUN_DIR/adapter)"""
    name: str | None = None
    """file name stem (default: the run folder's name)"""
    out: str = option("export", metavar="DIR")
    """output folder"""
    quant: str = "q4_k_m"
    """comma-separated llama.cpp quant types"""
    outtype: str = option("f16", choices=("f16", "bf16", "f32"))
    """precision of the converted reference GGUF"""
    imatrix: str = option("auto", metavar="auto|none|FILE")
    """importance matrix for the quantizer: auto computes one from the run's training questions
    (the bundled sample for a bare --base) and writes <name>.imatrix.gguf beside the export; FILE
    is one from llama.cpp's llama-imatrix (GGUF or legacy .dat); none quantizes without"""
    imatrix_tokens: int = 8192
    """calibration tokens for --imatrix auto"""
    tensor_type: tuple[str, ...] = option((), metavar="PATTERN=TYPE")
    """quantize tensors whose name matches the regular expression to this ggml type (repeatable;
    e.g. attn_v=q8_0), as llama-quantize --tensor-type"""
    output_type: str | None = option(metavar="TYPE")
    """ggml type of output.weight (e.g. q8_0)"""
    embedding_type: str | None = option(metavar="TYPE")
    """ggml type of token_embd.weight (e.g. q8_0)"""
    kl_tokens: int = 8192
    """held-out tokens the KL divergence against the reference is scored on"""
    kl_data: str | None = option(metavar="SQUAD_JSON")
    """paragraphs for the KL divergence, before the run's validation questions and the bundled
    sample"""
    threads: int = option(factory=usable_cores)
    """quantization and verification threads (default: the usable cores)"""
    no_verify: bool = False
    """skip the verification step"""
    ollama: bool = False
    """also write an Ollama Modelfile"""
    lora_gguf: bool = False
    """also write the adapter alone as a GGUF LoRA (+ the unmerged base GGUF) for llama.cpp's --lora"""


ARGS = ExportArgs


def _print_summary(manifest: ExportManifest, outtype: str) -> None:
    columns = f"{'perplexity':>11} {'vs ref':>7} {'KL mean':>8} {'top-1':>6}"
    print(f"\n{'file':40} {'MiB':>8} {columns}  squad smoke answer")
    for entry in manifest.files:
        smoke, kl = entry.get("squad_smoke", {}), entry.get("kl_divergence", {})
        agreement = f"{kl['top1_agreement']:.1%}" if kl else "-"
        print(
            f"{entry['file']:40} {entry['size_bytes'] / 2**20:8.1f} {entry.get('perplexity', '-'):>11} "
            f"{entry.get('perplexity_vs_reference', '-'):>7} {kl.get('mean', '-'):>8} {agreement:>6}  "
            f"{smoke.get('answer', '-')!r}"
        )
    imatrix = manifest.imatrix
    if isinstance(imatrix, dict):
        print(f"importance matrix: {imatrix['source']} ({imatrix['tokens']} tokens)")
    check = manifest.verification.get("hf_vs_f16")
    if check:
        print(
            f"\nmerged HF model vs {outtype} GGUF: top-1 agreement {check['top1_agreement']:.0%} "
            f"on {check['prompts']} prompts, max logit difference {check['max_logit_diff']:.3f}"
        )
    lora = manifest.verification.get("lora_gguf_vs_merged")
    if lora:
        print(
            f"base + LoRA GGUF vs merged GGUF: top-1 agreement {lora['top1_agreement']:.0%}, "
            f"max logit difference {lora['max_logit_diff']:.3f}"
        )
    print(f"manifest: {manifest.path}")


def run(args: ExportArgs) -> int:
    from edgeqa.export.quantize import TypeOverrides
    from edgeqa.export.request import ExportRequest
    from edgeqa.export.run import run_export
    from edgeqa.export.source_model import resolve_source

    overrides = TypeOverrides.parse(args.tensor_type, args.output_type, args.embedding_type)
    source = resolve_source(args.run, args.base, args.adapter, args.name)
    quants = tuple(dict.fromkeys(q.strip().lower() for q in args.quant.split(",") if q.strip()))
    request = ExportRequest(
        source=source,
        out_dir=Path(args.out),
        quants=tuple(q for q in quants if q != args.outtype),
        out_type=args.outtype,
        threads=args.threads,
        verify=not args.no_verify,
        ollama=args.ollama,
        lora_gguf=args.lora_gguf,
        imatrix=args.imatrix,
        imatrix_tokens=args.imatrix_tokens,
        kl_tokens=args.kl_tokens,
        kl_data=Path(args.kl_data) if args.kl_data else None,
        overrides=overrides,
    )
    _print_summary(run_export(request), args.outtype)
    return 0
