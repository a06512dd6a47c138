"""`edgeqa pipeline`: finetune -> export -> eval (base vs fine-tuned) -> profile -> one report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeqa.option_field import option

DESCRIPTION = (
    "Run the whole story for one preset: train, export f16 + quantized GGUFs, evaluate the base and "
    "the fine-tuned model on the same held-out questions, profile them on this CPU, and write a "
    "Markdown report with plots. Steps whose outputs are up to date are skipped, so re-running "
    "after an interruption continues where it stopped. Settings come from the preset's "
    "`pipeline:` section."
)
EPILOG = "example: edgeqa pipeline --config configs/quickstart.yaml"


@dataclass(frozen=True)
class PipelineArgs:
    config: str | None = option(metavar="YAML", required=True)
    """a preset from configs/"""
    run_name: str | None = None
    """run folder name (default: the preset's file name)"""
    max_steps: int | None = None
    """override the preset's training steps"""
    eval_limit: int | None = None
    """held-out questions to evaluate"""
    report_dir: str | None = option(metavar="DIR")
    """where reports go (default: reports)"""
    quiet: bool = False
    """no progress bars"""


ARGS = PipelineArgs


def run(args: PipelineArgs) -> int:
    from edgeqa.finetune.config import load_config
    from edgeqa.pipeline.run import run_pipeline
    from edgeqa.pipeline.settings import load_settings

    preset = Path(args.config or "")
    config = load_config(preset, {"run_name": args.run_name or preset.stem, "max_steps": args.max_steps})
    settings = load_settings(preset, {"eval_limit": args.eval_limit, "report_dir": args.report_dir})
    report = run_pipeline(config, settings, show_progress=not args.quiet)
    print(f"\nedgeqa pipeline: report written to {report}")
    return 0
