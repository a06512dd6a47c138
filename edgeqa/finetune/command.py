"""`edgeqa finetune`: the flags are FinetuneConfig's fields, given only when they override."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeqa.command_args import field_docs
from edgeqa.finetune.config import FinetuneConfig
from edgeqa.option_field import flag, option

DESCRIPTION = (
    "Fine-tune a base model on SQuAD with the shared QA prompt. Values come from the defaults, "
    "then --config, then these flags."
)
EPILOG = "example: edgeqa finetune --config configs/smollm2-135m-lora-cpu.yaml --max-steps 50"


@dataclass(frozen=True)
class FinetuneArgs:
    config: str | None = option(metavar="YAML")
    """a preset from configs/"""
    resume: str | None = option(metavar="RUN_DIR")
    """continue an interrupted run (only --max-steps and the validation/saving cadence may change)"""
    quiet: bool = False
    """no progress bar"""
    overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    """the FinetuneConfig fields given as flags"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The three options above, then one flag per FinetuneConfig field (default: not given)."""
    parser.add_argument("--config", metavar="YAML", help=field_docs(FinetuneArgs)["config"])
    parser.add_argument("--resume", metavar="RUN_DIR", help=field_docs(FinetuneArgs)["resume"])
    parser.add_argument("--quiet", action="store_true", help=field_docs(FinetuneArgs)["quiet"])
    docs = field_docs(FinetuneConfig)
    for spec in dataclasses.fields(FinetuneConfig):
        kind = str(spec.type)
        options: dict = {"default": None, "help": docs.get(spec.name, "")}
        if kind == "bool":
            options["action"] = argparse.BooleanOptionalAction
        elif kind.startswith("tuple[float"):
            options.update(nargs=3, type=float, metavar=("TRAIN", "VAL", "TEST"))
        elif kind.startswith("tuple[str"):
            options.update(nargs="+", metavar=spec.name.upper().rstrip("S"))
        elif kind in ("int", "float"):
            options["type"] = int if kind == "int" else float
        parser.add_argument(flag(spec.name), **options)


def from_namespace(namespace: argparse.Namespace) -> FinetuneArgs:
    overrides = {spec.name: getattr(namespace, spec.name) for spec in dataclasses.fields(FinetuneConfig)}
    return FinetuneArgs(namespace.config, namespace.resume, namespace.quiet, overrides)


def run(args: FinetuneArgs) -> int:
    from edgeqa.finetune.config import load_config
    from edgeqa.finetune.run import resume_config, run_finetune

    given = {k: v for k, v in args.overrides.items() if v is not None}
    if args.resume:
        run_dir = Path(args.resume)
        run_finetune(resume_config(run_dir, given), resume_dir=run_dir, show_progress=not args.quiet)
        return 0
    run_finetune(load_config(args.config, args.overrides), show_progress=not args.quiet)
    return 0
