"""`edgeqa profile`: latency, tokens/s and memory of GGUF models on this CPU, each configuration
in its own process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeqa.command_args import int_list
from edgeqa.errors import EdgeQAError
from edgeqa.hardware import usable_cores
from edgeqa.option_field import option
from edgeqa.reader.policy import AnswerPolicy
from edgeqa.runtime.engine_config import EngineConfig

DESCRIPTION = (
    "Answer real SQuAD questions one at a time, each as a cold request, and measure what a user "
    "waits for and pays: load time, time to first token, prompt and generation tokens/s, "
    "end-to-end latency percentiles, peak and steady RSS. Each configuration runs in its own "
    "process; finished configurations are kept, so a re-run resumes."
)
EPILOG = (
    "example: edgeqa profile --model export/smollm2-squad-Q4_K_M.gguf --threads 1,2 "
    "--transformers embedded --out runs/profile"
)


@dataclass(frozen=True)
class ProfileArgs(AnswerPolicy):
    model: tuple[str, ...] = option((), metavar="GGUF")
    """GGUF file or model name (repeatable; default: the embedded model)"""
    threads: str = option(factory=lambda: str(usable_cores()), metavar="N[,N...]")
    """thread counts to measure, comma-separated (default: the usable cores)"""
    n_ctx: int = option(EngineConfig.n_ctx, minimum=1)
    """context size"""
    mmap: str = option("on", choices=("on", "off", "both"))
    """memory-map the model file, read it into RAM, or measure both"""
    data: str | None = option(metavar="PATH")
    """SQuAD file for the questions (default: the bundled sample)"""
    questions: int = option(20, minimum=1)
    """questions per repeat"""
    seed: int = 0
    """which questions"""
    warmup: int = option(2, minimum=0)
    """answers discarded before measuring"""
    repeats: int = option(2, minimum=1)
    """passes over the questions"""
    max_answer_tokens: int = option(EngineConfig.max_answer_tokens, minimum=1)
    """answer length cap"""
    transformers: str | None = option(metavar="BASE")
    """also profile this model through transformers on the CPU, the baseline (hub id, HF folder,
    GGUF or 'embedded')"""
    transformers_dtype: str = option("fp32,bf16", metavar="DTYPES")
    """torch dtypes for --transformers"""
    out: str = option("runs/profile", metavar="DIR")
    """output folder"""
    timeout: float = 1800
    """seconds per configuration"""


ARGS = ProfileArgs


def profile_specs(args: ProfileArgs) -> list:
    """Every configuration the arguments ask for, checked before anything runs."""
    from edgeqa.data.squad import data_reference, load_squad
    from edgeqa.models.base_model import resolve_base
    from edgeqa.models.gguf_info import read_gguf_info
    from edgeqa.profiling.spec import TORCH_DTYPES, ProfileSpec
    from edgeqa.reader.shipped import resolve_reader_model

    threads = int_list("--threads", args.threads)
    models = [resolve_reader_model(m) for m in (args.model or [None])]
    for model in models:
        read_gguf_info(model)
    data = data_reference(args.data)
    load_squad(data)  # a bad file fails here, not in every worker
    mmaps = {"on": [True], "off": [False], "both": [True, False]}[args.mmap]
    common = {
        "data": data,
        "questions": args.questions,
        "seed": args.seed,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "max_answer_tokens": args.max_answer_tokens,
        "n_ctx": args.n_ctx,
    }
    specs = [
        ProfileSpec("llama.cpp", str(model), t, mmap=m, policy=AnswerPolicy.of(args), **common)
        for model in models
        for m in mmaps
        for t in threads
    ]
    if args.transformers:
        base = resolve_base(args.transformers)
        dtypes = [d.strip() for d in args.transformers_dtype.split(",") if d.strip()]
        bad = [d for d in dtypes if d not in TORCH_DTYPES]
        if bad or not dtypes:
            raise EdgeQAError(
                f"--transformers-dtype: expected {' or '.join(TORCH_DTYPES)}, got {args.transformers_dtype!r}"
            )
        specs += [
            ProfileSpec("transformers", base.ref, t, dtype=d, **common) for d in dtypes for t in threads
        ]
    return specs


def _progress(record: dict, cached: bool) -> None:
    if record["status"] != "ok":
        print(f"  {record['label']}: {record['status'].upper()} - {record['error']}")
        return
    note = " (kept from an earlier run)" if cached else ""
    print(
        f"  {record['label']}: p50 {record['latency_p50_s']:.2f} s, p95 {record['latency_p95_s']:.2f} s, "
        f"TTFT p50 {record['ttft_p50_s']:.2f} s, gen {record['generation_tokens_per_s']} tok/s, "
        f"peak RSS {record['peak_rss_mib']:.0f} MiB{note}"
    )


def run(args: ProfileArgs) -> int:
    from edgeqa.profiling.report import markdown, write_report
    from edgeqa.profiling.run import run_profile
    from edgeqa.profiling.system import report_lines, system_report

    specs = profile_specs(args)
    out = Path(args.out)
    system = system_report()
    print("\n".join(report_lines(system)))
    print(
        f"edgeqa profile: {len(specs)} configuration(s), {args.questions} questions x "
        f"{args.repeats} repeats each -> {out}"
    )
    records = run_profile(specs, out, args.timeout, on_done=_progress)
    written = write_report(records, system, out)
    print()
    print(markdown(records))
    print("written: " + ", ".join(str(p) for p in written))
    return 0 if all(r["status"] == "ok" for r in records) else 1
