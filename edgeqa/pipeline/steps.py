"""The pipeline's steps. Each does nothing when its outputs are already up to date, and picks
up an interrupted run where it stopped (training resumes from its checkpoint, evaluation from
its log, profiling from its finished configurations)."""

from __future__ import annotations

import json
from pathlib import Path

from edgeqa.errors import EdgeQAError
from edgeqa.finetune.config import FinetuneConfig, config_to_dict
from edgeqa.pipeline.settings import PipelineSettings
from edgeqa.provenance import ExportManifest, RunRecord
from edgeqa.run_folder import RunFolder


def finetune_step(config: FinetuneConfig, show_progress: bool) -> tuple[Path, str]:
    """(run folder, what happened): trained, resumed, or kept because it is finished."""
    from edgeqa.finetune.run import run_finetune

    run_dir = Path(config.out_dir) / str(config.run_name)
    wanted = config_to_dict(config)
    saved_path = RunFolder(run_dir).config
    if saved_path.is_file():
        saved = json.loads(saved_path.read_text(encoding="utf-8"))
        if saved != json.loads(json.dumps(wanted)):
            raise EdgeQAError(
                f"{run_dir}: holds a run with a different config; set another run_name or remove the folder"
            )
        if RunRecord.exists(run_dir):
            return run_dir, "up to date"
        run_finetune(config, resume_dir=run_dir, show_progress=show_progress)
        return run_dir, "resumed and finished"
    run_finetune(config, show_progress=show_progress)
    return run_dir, "trained"


def export_step(run_dir: Path, settings: PipelineSettings, threads: int) -> tuple[ExportManifest, str]:
    from edgeqa.export.request import ExportRequest, current_manifest
    from edgeqa.export.run import run_export
    from edgeqa.export.source_model import resolve_source

    request = ExportRequest(
        source=resolve_source(str(run_dir), None, None, None),
        out_dir=Path("export"),
        quants=tuple(q for q in settings.quants if q != "f16"),
        threads=threads,
    )
    manifest = current_manifest(request)
    if manifest is not None:
        return manifest, "up to date"
    return run_export(request), "exported"


def heldout_examples(run_dir: Path, settings: PipelineSettings):
    """The test articles the run held out; the validation articles when the split has none
    (the bundled two-article sample), said so in the report."""
    from edgeqa.data.squad import load_squad, select_examples

    heldout = RunFolder(run_dir).heldout
    if heldout.is_file():
        examples, source = load_squad(heldout), "test articles held out from training"
    else:
        run = RunRecord.load(run_dir)
        if run.data_format != "squad":
            raise EdgeQAError(f"{run_dir}: trained on {run.data_format} records; the pipeline scores SQuAD")
        val_articles = set(run.data["val_articles"])
        data = load_squad(run.data["source"])
        examples = [e for e in data if e.title in val_articles]
        source = "validation articles (the split holds out no test article)"
    if not examples:
        raise EdgeQAError(f"{run_dir}: no held-out questions to evaluate on")
    return select_examples(examples, limit=settings.eval_limit, seed=settings.eval_seed), source


def calibration_examples(run_dir: Path, settings: PipelineSettings) -> tuple[list, str]:
    """(questions, where from) for choosing every model's no-answer threshold: the training
    articles' questions on paragraphs the run left out of training, so that no row is calibrated
    on questions it trained on or is scored on. A run that trained on every paragraph of its
    articles leaves none: then its training questions, and the report says so."""
    from edgeqa.data.squad import load_squad, select_examples
    from edgeqa.finetune.config import FinetuneConfig

    run = RunRecord.load(run_dir)
    train_articles = set(run.data.get("train_articles") or ())
    examples = [e for e in load_squad(run.data["source"]) if e.title in train_articles]
    config = FinetuneConfig(**run.config)
    trained = {e.context for e in config.load_sources().train}
    unseen = [e for e in examples if e.context not in trained]
    chosen, source = (
        (unseen, "unseen paragraphs of the training articles") if unseen else (examples, "training articles")
    )
    return (
        select_examples(chosen, limit=settings.eval_limit, seed=settings.eval_seed) if chosen else []
    ), source


def _evaluate(model: Path, examples, data_name: str, out_dir: Path, policy, settings, threads: int) -> dict:
    from edgeqa.evaluation.run import EvalRequest, run_eval
    from edgeqa.runtime.engine_config import EngineConfig

    engine = EngineConfig(n_threads=threads, max_answer_tokens=settings.max_answer_tokens)
    request = EvalRequest(
        model=model, data=data_name, examples=examples, out_dir=out_dir, engine=engine, policy=policy
    )
    return run_eval(request)


def calibrate_step(
    models: dict[str, Path], examples, data_name: str, out_dir: Path, settings, threads
) -> dict:
    """Each model's answer policy. With `na_threshold: auto`, every model abstains above its own
    best-F1 threshold on the calibration questions (answered with no abstention); questions
    without unanswerable ones cannot place a threshold, and a model then keeps auto's choice."""
    import dataclasses

    from edgeqa.reader.policy import AnswerPolicy
    from edgeqa.reader.threshold import NoAnswerThreshold

    policy = settings.answer_policy()
    if not policy.na_threshold.is_auto or all(e.answers for e in examples):
        return dict.fromkeys(models, policy)
    forced = AnswerPolicy.forced_answers(policy)
    policies = {}
    for label, model in models.items():
        print(f"  calibrate {label}: {model.name}")
        metrics = _evaluate(model, examples, data_name, out_dir / label, forced, settings, threads)
        policies[label] = dataclasses.replace(
            policy, na_threshold=NoAnswerThreshold.at(metrics["official"]["best_f1_thresh"])
        )
    return policies


def eval_step(models: dict[str, Path], examples, data_name: str, out_dir: Path, policies, settings, threads):
    """Metrics per model label, all on the same questions, each with its own policy; a finished
    evaluation is only rescored."""
    results = {}
    for label, model in models.items():
        print(f"  eval {label}: {model.name}")
        results[label] = _evaluate(
            model, examples, data_name, out_dir / label, policies[label], settings, threads
        )
    return results


def profile_step(
    models: dict[str, Path], policies: dict, transformers_model: Path | None, out_dir: Path, settings, threads
):
    """Each model profiled under the answer policy it is scored with (its calibrated threshold)."""
    from edgeqa.data.squad import BUNDLED_SAMPLE
    from edgeqa.profiling.report import write_report
    from edgeqa.profiling.run import run_profile
    from edgeqa.profiling.spec import ProfileSpec
    from edgeqa.profiling.system import system_report

    common = {
        "threads": threads,
        "data": str(BUNDLED_SAMPLE),
        "questions": settings.profile_questions,
        "repeats": settings.profile_repeats,
        "max_answer_tokens": settings.max_answer_tokens,
    }
    specs = [
        ProfileSpec("llama.cpp", str(path), **common, policy=policies[label])
        for label, path in models.items()
    ]
    if transformers_model is not None:
        specs.append(ProfileSpec("transformers", str(transformers_model), dtype="fp32", **common))

    def progress(record: dict, cached: bool) -> None:
        state = "kept" if cached else record["status"]
        print(f"  profile {record['label']}: {state}")

    records = run_profile(specs, out_dir, timeout_s=1800, on_done=progress)
    write_report(records, system_report(), out_dir)
    return records
