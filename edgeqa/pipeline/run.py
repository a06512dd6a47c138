"""Run the whole story for one preset and say where the report is."""

from __future__ import annotations

import time
from pathlib import Path

from edgeqa.errors import EdgeQAError
from edgeqa.finetune.config import FinetuneConfig
from edgeqa.pipeline.settings import PipelineSettings
from edgeqa.provenance import ExportManifest, RunRecord


class _StepClock:
    """Prints each finished step with the minutes since the start, and keeps each step's own
    seconds for the report (where a run's minutes went)."""

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()
        self.seconds: dict[str, float] = {}

    def done(self, number: int, name: str, outcome: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = now - self.last
        self.last = now
        print(f"edgeqa pipeline: [{number}/5] {name}: {outcome} ({(now - self.started) / 60:.1f} min)")


def _require_squad(config: FinetuneConfig) -> None:
    """The pipeline scores SQuAD: other data is refused before any training."""
    from edgeqa.data.instructions import read_records, sniff_format
    from edgeqa.data.sources import DataSource

    first = DataSource.parse(config.data[0]).path
    data_format = config.data_format
    if data_format == "auto":
        data_format = sniff_format(read_records(first), first)
    if data_format != "squad":
        raise EdgeQAError(
            f"{first}: {data_format} records; the pipeline scores SQuAD, so fine-tune on "
            "SQuAD data here, or run edgeqa finetune, export, profile and demo on their own"
        )


def models_to_compare(
    run: RunRecord, manifest: ExportManifest, settings: PipelineSettings
) -> tuple[dict[str, Path], dict[str, str]]:
    """Label -> GGUF for every row of the report, and each fine-tuned label's role. A run that
    started from a shipped reader shows as that reader adapted."""
    from edgeqa.models.registry import READERS, reader_name
    from edgeqa.reader.shipped import resolve_reader_model

    models: dict[str, Path] = {}
    roles: dict[str, str] = {}
    base_gguf = Path(run.base["ref"])
    if base_gguf.suffix == ".gguf":
        models["base"] = base_gguf
    for reference in settings.references:
        name = reader_name(reference)
        models[f"reader {name}" if name else f"reference {Path(reference).stem}"] = resolve_reader_model(
            reference
        )
    started_from = (run.data.get("warm_start") or {}).get("from")
    tuned = "reader adapted" if started_from in READERS else "fine-tuned"
    for entry in manifest.files:
        label = f"{tuned} {entry['quant']}"
        models[label] = manifest.path.parent / entry["file"]
        roles[label] = (
            "fine-tuned f16" if entry["quant"] == manifest.fingerprint["out_type"] else "fine-tuned q"
        )
    return models, roles


def run_pipeline(config: FinetuneConfig, settings: PipelineSettings, show_progress: bool = True) -> Path:
    from edgeqa.hardware import usable_cores
    from edgeqa.pipeline.report import PipelineOutcome, write_pipeline_report
    from edgeqa.pipeline.steps import (
        calibrate_step,
        calibration_examples,
        eval_step,
        export_step,
        finetune_step,
        heldout_examples,
        profile_step,
    )
    from edgeqa.profiling.system import system_report

    threads = settings.threads or usable_cores()
    out_dir = Path(settings.report_dir) / str(config.run_name)
    clock = _StepClock()
    _require_squad(config)
    run_dir, outcome = finetune_step(config, show_progress)
    clock.done(1, "finetune", f"{outcome} -> {run_dir}")
    manifest, outcome = export_step(run_dir, settings, threads)
    clock.done(2, "export", f"{outcome} -> {manifest.path}")

    run = RunRecord.load(run_dir)
    models, roles = models_to_compare(run, manifest, settings)
    calibration, calibration_source = calibration_examples(run_dir, settings)
    policies = calibrate_step(
        models, calibration, f"{run_dir.name} {calibration_source}", out_dir / "calibrate", settings, threads
    )
    heldout, heldout_source = heldout_examples(run_dir, settings)
    evals = eval_step(
        models, heldout, f"{run_dir.name} held-out", out_dir / "eval", policies, settings, threads
    )
    clock.done(3, "eval", f"{len(models)} models on {len(heldout)} questions")

    f16 = next(label for label, role in roles.items() if role == "fine-tuned f16")
    transformers_model = models[f16] if settings.transformers_baseline else None
    profile = profile_step(models, policies, transformers_model, out_dir / "profile", settings, threads)
    clock.done(4, "profile", f"{len(profile)} configurations")

    calibrated = any(policies[label] != settings.answer_policy() for label in models)
    outcome = PipelineOutcome(
        run,
        run_dir,
        heldout_source,
        calibration_source if calibrated else None,
        evals,
        roles,
        manifest,
        profile,
        out_dir / "profile",
        system_report(),
        clock.seconds,
    )
    report = write_pipeline_report(out_dir, outcome)
    clock.done(5, "report", str(report))
    return report
