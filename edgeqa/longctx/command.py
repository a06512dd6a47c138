"""`edgeqa longctx`: perplexity and passkey retrieval at longer contexts with RoPE scaling."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeqa.command_args import int_list
from edgeqa.errors import EdgeQAError
from edgeqa.hardware import usable_cores
from edgeqa.option_field import OptionSet, option

DESCRIPTION = (
    "For each RoPE setting of the grid (none, linear, yarn, ntk with a factor, or llama.cpp's raw "
    "options) and each context length: perplexity over a long text (second half of each window, "
    "as llama.cpp's perplexity tool) and passkey retrieval at several depths. Each configuration "
    "runs in its own process; finished ones are kept, so a re-run resumes. Configurations that "
    "would not fit in memory are skipped."
)
EPILOG = "example: edgeqa longctx --ctx 2048,4096,8192 --grid grid.yaml --out runs/longctx"


@dataclass(frozen=True)
class LongCtxArgs(OptionSet):
    model: str | None = option(metavar="GGUF")
    """GGUF file or model name (default: the embedded model)"""
    ctx: str | None = option(metavar="N[,N...]", required=True)
    """context lengths, e.g. 4096,8192,16384"""
    grid: str | None = option(metavar="YAML")
    """settings file (`settings:` list of {method, factor} or raw options); default: none, linear
    x2/x4, yarn x2/x4, ntk x2/x4"""
    text: str | None = option(metavar="PATH")
    """long text: .txt or a SQuAD file (default: the bundled sample's paragraphs)"""
    windows: int = option(1, minimum=1)
    """perplexity windows per length"""
    depths: str = "0.1,0.5,0.9"
    """passkey depths, 0..1; 'none' to skip"""
    trials: int = option(2, minimum=1)
    """passkey trials per depth"""
    threads: int = option(factory=usable_cores, minimum=1)
    """CPU threads (default: the usable cores)"""
    out: str = option("runs/longctx", metavar="DIR")
    """output folder"""
    timeout: float = 3600
    """seconds per configuration"""


ARGS = LongCtxArgs


def _depths(text: str) -> list[float]:
    if text == "none":
        return []
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or not all(0 <= v <= 1 for v in values):
        raise EdgeQAError(
            f"--depths: expected comma-separated numbers from 0 to 1 such as 0.1,0.5, got {text!r}"
        )
    return values


def _progress(record: dict, cached: bool) -> None:
    from edgeqa.longctx.report import passkey_accuracy

    where = f"{record['setting']} @ {record['n_ctx']}"
    if record["status"] != "ok":
        print(f"  {where}: {record['status']} - {record.get('error', '')}")
        return
    accuracy = passkey_accuracy(record)
    passkey = "" if accuracy is None else f", passkey {accuracy:.0%}"
    note = " (kept)" if cached else f", peak RSS {record['peak_rss_mib']:.0f} MiB"
    print(f"  {where}: perplexity {record['perplexity']:.2f}{passkey}{note}")


def run(args: LongCtxArgs) -> int:
    from edgeqa.longctx.grid import load_grid
    from edgeqa.longctx.report import markdown, write_report
    from edgeqa.longctx.run import LongCtxRequest, run_longctx
    from edgeqa.models.gguf_info import read_gguf_info
    from edgeqa.models.registry import resolve_model

    model = resolve_model(args.model)
    info = read_gguf_info(model)
    contexts = sorted(int_list("--ctx", args.ctx or ""))
    if min(contexts) < 64:
        raise EdgeQAError("--ctx: each context length must be at least 64 tokens")
    request = LongCtxRequest(
        model=model,
        contexts=tuple(contexts),
        grid=load_grid(Path(args.grid) if args.grid else None),
        out_dir=Path(args.out),
        text=args.text,
        windows=args.windows,
        depths=tuple(_depths(args.depths)),
        trials=args.trials,
        threads=args.threads,
        timeout_s=args.timeout,
    )
    print(
        f"edgeqa longctx: {model.name} (trained on {info.context_length} tokens) at {contexts} -> {args.out}"
    )
    settings, records = run_longctx(request, _progress)
    names = [s.name for s in settings]
    trained = int(info.context_length or 0)
    written = write_report(names, contexts, records, trained, Path(args.out))
    print()
    print(markdown(names, contexts, records, trained))
    print("written: " + ", ".join(str(p) for p in written))
    return 0 if all(r["status"] in ("ok", "skipped") for r in records) else 1
