"""The `edgeqa` command: a table of subcommands, each owned by its stage and imported only when
chosen, so `edgeqa --help` and a mistyped command answer at once.

Each stage module declares DESCRIPTION, EPILOG, a `run(args)` and either ARGS (a dataclass whose
fields are the flags, see command_args.py) or its own `add_arguments` / `from_namespace`.
User mistakes (EdgeQAError) print one line and exit 1; Ctrl-C or SIGTERM exits 130 and says how
to resume.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import textwrap
from collections.abc import Sequence
from types import ModuleType

from edgeqa.errors import EdgeQAError

# name: (module, one line for `edgeqa --help`)
COMMANDS = {
    "finetune": (
        "edgeqa.finetune.command",
        "LoRA/QLoRA fine-tuning for extractive QA (unsloth on NVIDIA GPUs, transformers+PEFT elsewhere)",
    ),
    "export": (
        "edgeqa.export.command",
        "merge the adapter, convert to GGUF, quantize with llama.cpp, verify, write a manifest",
    ),
    "eval": ("edgeqa.evaluation.eval_command", "score SQuAD EM/F1 of one or more GGUF models on the CPU"),
    "calibrate": (
        "edgeqa.evaluation.calibrate_command",
        "find a GGUF's no-answer threshold on validation questions and store it beside it",
    ),
    "judge": (
        "edgeqa.judge.command",
        "LLM-as-a-judge scores (1-5) for the answers of one or more evaluations",
    ),
    "models": ("edgeqa.models.command", "list the GGUF models edgeqa can find"),
    "profile": (
        "edgeqa.profiling.command",
        "latency (TTFT, p50/p95/p99), tokens/s and RSS of GGUF models on this CPU",
    ),
    "doctor": (
        "edgeqa.profiling.doctor_command",
        "check this machine: hardware, llama.cpp build, a real quantized inference",
    ),
    "demo": ("edgeqa.demo.command", "the Gradio demo (the same app as the Hugging Face Space in apps/space)"),
    "serve": (
        "edgeqa.serve.command",
        "an HTTP API for the reader: /v1/answer, /health, /metrics; concurrent requests batched",
    ),
    "pipeline": (
        "edgeqa.pipeline.command",
        "finetune -> export -> eval (base vs fine-tuned) -> profile -> one report",
    ),
    "longctx": (
        "edgeqa.longctx.command",
        "perplexity and passkey retrieval at longer contexts with RoPE scaling",
    ),
}


def _chosen(argv: Sequence[str]) -> str | None:
    """The subcommand named on the command line, if any (the first word that is one)."""
    return next((word for word in argv if word in COMMANDS), None)


def _add_command(subparsers: argparse._SubParsersAction, name: str) -> ModuleType:
    from edgeqa.command_args import add_arguments

    module = importlib.import_module(COMMANDS[name][0])
    parser = subparsers.add_parser(
        name,
        help=COMMANDS[name][1],
        description=textwrap.fill(module.DESCRIPTION, 100),
        epilog=module.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if hasattr(module, "add_arguments"):
        module.add_arguments(parser)
    else:
        add_arguments(parser, module.ARGS)
    return module


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser, with full options for the command in `argv` only (the others list their help)."""
    from edgeqa import __version__

    parser = argparse.ArgumentParser(
        prog="edgeqa",
        description="Fine-tune, export and evaluate small Llama-family models for extractive QA "
        "(SQuAD v1.1/v2) on the edge: llama.cpp on a plain CPU.",
    )
    parser.add_argument("--version", action="version", version=f"edgeqa {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = _chosen(argv)
    for name, (_, summary) in COMMANDS.items():
        if name == chosen:
            parser.set_defaults(module=_add_command(subparsers, name))
        else:
            subparsers.add_parser(name, help=summary)
    return parser


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM (`kill`, a job scheduler, a reclaimed spot instance, `timeout`) stops a command the
    way Ctrl-C does: a fine-tuning run saves its checkpoint, evaluations keep their logs, and the
    resume hint is printed. A background job started from a script ignores SIGINT, so without
    this the usual way to stop it would lose the work since the last checkpoint."""
    raise KeyboardInterrupt


def quiet_libraries() -> None:
    """Keep each command's output to its own lines: bitsandbytes logs, at import, that an
    optional kernel hub is unreachable (it is, offline, and nothing needs it), and transformers
    warns of API changes edgeqa's users cannot act on."""
    import logging
    import warnings

    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers(\.|$)")


def main(argv: Sequence[str] | None = None) -> int:
    from edgeqa.command_args import from_namespace

    quiet_libraries()
    words = list(sys.argv[1:] if argv is None else argv)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        namespace = build_parser(words).parse_args(words)
        module = namespace.module
        if hasattr(module, "from_namespace"):
            args = module.from_namespace(namespace)
        else:
            args = from_namespace(module.ARGS, namespace)
        return module.run(args)
    except EdgeQAError as exc:
        print(f"edgeqa: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        hint = str(exc) or "run the same command again to resume"
        print(f"\nedgeqa: interrupted; {hint}", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
