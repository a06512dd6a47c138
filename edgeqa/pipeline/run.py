"""Run the whole story for one preset and say where the report is."""

from __future__ import annotations

import os
import time
from pathlib import Path

from edgeqa.errors import EdgeQAError
from edgeqa.finetune.config import FinetuneConfig
from edgeqa.pipeline.settings import PipelineSettings
from edgeqa.provenance import RunRecord


def run_pipeline(config: FinetuneConfig, settings: PipelineSettings, show_progress: bool = True) -> Path:
    from edgeqa.data.sources import DataSource
    from edgeqa.models.registry import reader_name
    from edgeqa.pipeline.report import write_pipeline_report
    from edgeqa.pipeline.steps import eval_step, export_step, finetune_step, heldout_examples, profile_step
    from edgeqa.profiling.system import system_report
    from edgeqa.reader.shipped import resolve_reader_model

    threads = settings.threads or len(os.sched_getaffinity(0))
    started = time.perf_counter()
    out_dir = Path(settings.report_dir) / str(config.run_name)

    def step(number: int, name: str, outcome: str) -> None:
        minutes = (time.perf_counter() - started) / 60
        print(f"edgeqa pipeline: [{number}/5] {name}: {outcome} ({minutes:.1f} min)")

    data_format = config.data_format
    first = DataSource.parse(config.data[0]).path
    if data_format == "auto":
        from edgeqa.data.instructions import read_records, sniff_format

        data_format = sniff_format(read_records(first), first)
    if data_format != "squad":
        raise EdgeQAError(
            f"{first}: {data_format} records; the pipeline scores SQuAD, so fine-tune on "
            "SQuAD data here, or run edgeqa finetune, export, profile and demo on their own"
        )
    run_dir, outcome = finetune_step(config, show_progress)
    step(1, "finetune", f"{outcome} -> {run_dir}")
    manifest, outcome = export_step(run_dir, settings, threads)
    step(2, "export", f"{outcome} -> {manifest.path}")

    files = {entry["quant"]: manifest.path.parent / entry["file"] for entry in manifest.files}
    run = RunRecord.load(run_dir)
    base_gguf = Path(run.base["ref"])
    models: dict[str, Path] = {}
    roles: dict[str, str] = {}
    if base_gguf.suffix == ".gguf":
        models["base"], roles["base"] = base_gguf, "base"
    for quant, path in files.items():
        label = f"fine-tuned {quant}"
        models[label] = path
        roles[label] = "fine-tuned f16" if quant == manifest.fingerprint["out_type"] else "fine-tuned q"
    for reference in settings.references:
        path = resolve_reader_model(reference)
        models[f"reference {reader_name(reference) or path.stem}"] = path

    examples, heldout_source = heldout_examples(run_dir, settings)
    evals = eval_step(models, examples, f"{run_dir.name} held-out", out_dir / "eval", settings, threads)
    step(3, "eval", f"{len(models)} models on {len(examples)} questions")

    reference = files[manifest.fingerprint["out_type"]]
    profile = profile_step(
        models, reference if settings.transformers_baseline else None, out_dir / "profile", settings, threads
    )
    step(4, "profile", f"{len(profile)} configurations")

    report = write_pipeline_report(
        out_dir,
        run,
        run_dir,
        heldout_source,
        evals,
        roles,
        manifest,
        profile,
        out_dir / "profile",
        system_report(),
    )
    step(5, "report", str(report))
    return report
