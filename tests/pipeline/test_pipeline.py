"""The whole pipeline on the tiny random Llama: real training steps, export, eval, profile, report."""

import json
import re

import pytest

from edgeqa.errors import EdgeQAError
from edgeqa.pipeline.settings import PipelineSettings, load_settings
from edgeqa.reader.threshold import AUTO, NoAnswerThreshold
from tests.helpers import tiny_config

# the transformers baseline is left out here: loading a GGUF through transformers takes a minute;
# tests/profiling covers it
FAST = {"eval_limit": 4, "max_answer_tokens": 4, "profile_questions": 2, "transformers_baseline": False}


def test_settings_come_from_the_pipeline_section(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text("max_steps: 3\npipeline:\n  quants: q8_0,q4_k_m\n  eval_limit: 7\n")
    settings = load_settings(preset, {"report_dir": "out"})
    assert settings.quants == ("q8_0", "q4_k_m") and settings.eval_limit == 7 and settings.report_dir == "out"
    preset.write_text("pipeline:\n  evals: 3\n")
    with pytest.raises(EdgeQAError, match="unknown pipeline option 'evals'"):
        load_settings(preset, {})
    preset.write_text("pipeline:\n  na_score: vibes\n")
    with pytest.raises(EdgeQAError, match="pipeline: --na-score must be one of abstention, answer"):
        load_settings(preset, {})
    preset.write_text("pipeline:\n  na_threshold: 0.3\n")
    assert load_settings(preset, {}).answer_policy().na_threshold == NoAnswerThreshold.at(0.3)
    assert PipelineSettings().answer_policy().na_threshold == AUTO  # one default everywhere


def test_pipeline_runs_every_step_then_skips_them(tiny_llama_dir, tmp_path, monkeypatch, capsys):
    from edgeqa.pipeline.run import run_pipeline

    monkeypatch.chdir(tmp_path)
    config = tiny_config(tiny_llama_dir, tmp_path / "models", "tiny-pipeline")
    settings = PipelineSettings(
        **FAST, report_dir=str(tmp_path / "reports"), references=("smollm2-135m-squad",)
    )
    report = run_pipeline(config, settings, show_progress=False)

    text = report.read_text()
    for section in ("## Training", "## Accuracy", "## Export", "## Latency and memory on this CPU"):
        assert section in text
    assert "fine-tuned f16" in text and "fine-tuned q4_k_m" in text
    assert re.search(r"Time per step: finetune [\d.]+ min, export [\d.]+ min, eval [\d.]+ min, profile", text)
    assert "reader smollm2-135m-squad" in text  # the shipped reader, as the quickstart shows it
    for label in ("fine-tuned f16", "fine-tuned q4_k_m", "reader smollm2-135m-squad"):  # each row, in words
        stands = rf"- {re.escape(label)}: F1 [\d.]+, ([\d.]+ above|[\d.]+ below|level with) always abstaining"
        assert re.search(stands, text), label
    assert "validation articles" in text  # the two-article sample has no test article
    for plot in ("accuracy.png", "sizes.png", "loss.png", "latency.png", "throughput_rss.png"):
        assert (report.parent / plot).stat().st_size > 0
    for label in ("fine-tuned f16", "fine-tuned q4_k_m", "reader smollm2-135m-squad"):
        # every row abstains above its own best-F1 threshold on the training article's questions
        chosen = json.loads((report.parent / "calibrate" / label / "metrics.json").read_text())
        scored = json.loads((report.parent / "eval" / label / "metrics.json").read_text())
        assert chosen["data"].endswith("training articles") and scored["official"]["total"] == 4
        assert scored["na_threshold"] == chosen["official"]["best_f1_thresh"]  # every digit
    # each model's latency is measured under the threshold it is scored with
    profiled = json.loads((report.parent / "profile" / "profile.json").read_text())["configurations"]
    thresholds = {
        r["spec"]["model"]: r["spec"]["policy"]["na_threshold"]["probability"]
        for r in profiled
        if r["spec"]["backend"] == "llama.cpp"
    }
    calibrated = {
        json.loads((report.parent / "eval" / label / "metrics.json").read_text())["na_threshold"]
        for label in ("fine-tuned f16", "fine-tuned q4_k_m", "reader smollm2-135m-squad")
    }
    assert len(thresholds) == 3 and set(thresholds.values()) == calibrated
    capsys.readouterr()

    run_pipeline(config, settings, show_progress=False)
    rerun = capsys.readouterr().out
    assert "[1/5] finetune: up to date" in rerun and "[2/5] export: up to date" in rerun
    assert "profile tiny-pipeline-Q4_K_M t" in rerun and ": kept" in rerun


def test_instruction_data_is_refused_before_any_training(tmp_path):
    from edgeqa.pipeline.run import run_pipeline
    from tests.conftest import ASSETS

    config = tiny_config(tmp_path, tmp_path / "models", "alpaca", data=str(ASSETS / "alpaca_tiny.json"))
    settings = PipelineSettings(**FAST, report_dir=str(tmp_path / "reports"))
    with pytest.raises(EdgeQAError, match="alpaca records; the pipeline scores SQuAD"):
        run_pipeline(config, settings, show_progress=False)
    assert not (tmp_path / "models").exists()


def test_a_run_from_a_shipped_reader_shows_as_that_reader_adapted(tmp_path):
    from edgeqa.pipeline.run import models_to_compare
    from edgeqa.provenance import ExportManifest, RunRecord

    run = RunRecord(
        path=tmp_path,
        config={},
        base={"ref": "base.gguf"},
        data={"warm_start": {"from": "smollm2-135m-squad"}},
        metrics={},
    )
    manifest = ExportManifest(
        path=tmp_path / "x.manifest.json",
        name="x",
        fingerprint={"out_type": "f16"},
        source={},
        files=[{"quant": "f16", "file": "x-F16.gguf"}, {"quant": "q4_k_m", "file": "x-Q4_K_M.gguf"}],
    )
    models, roles = models_to_compare(run, manifest, PipelineSettings(references=("smollm2-135m-squad",)))
    assert list(models)[:2] == ["base", "reader smollm2-135m-squad"]
    assert roles == {"reader adapted f16": "fine-tuned f16", "reader adapted q4_k_m": "fine-tuned q"}


@pytest.mark.parametrize(
    ("data", "source"),
    [("bundled:count=300", "unseen paragraphs of the training articles"), ("bundled", "training articles")],
)
def test_thresholds_are_chosen_on_paragraphs_the_run_did_not_train_on(tmp_path, data, source):
    import dataclasses

    from edgeqa.data.sources import load_sources
    from edgeqa.data.squad import BUNDLED_SAMPLE
    from edgeqa.finetune.config import FinetuneConfig
    from edgeqa.pipeline.steps import calibration_examples
    from edgeqa.provenance import RunRecord

    config = FinetuneConfig(data=(data,), split=(0.5, 0.5, 0.0))
    trained = load_sources(config.data, config.split, config.seed).train
    articles = sorted({e.title for e in trained})
    RunRecord(
        path=tmp_path / RunRecord.FILE,
        config=dataclasses.asdict(config),
        base={},
        data={"source": str(BUNDLED_SAMPLE), "train_articles": articles},
        metrics={},
    ).save()
    examples, chosen_from = calibration_examples(tmp_path, PipelineSettings(eval_limit=500))
    assert chosen_from == source and examples and {e.title for e in examples} == set(articles)
    trained_contexts = {e.context for e in trained}
    if source.startswith("unseen"):  # none of the run's own training paragraphs
        assert not {e.context for e in examples} & trained_contexts
    else:  # the run took every paragraph of its articles: its training questions it is
        assert {e.context for e in examples} <= trained_contexts
