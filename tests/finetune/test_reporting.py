"""--report-to: TensorBoard event files and an offline Weights & Biases run, from real steps."""

import pytest

from tests.helpers import tiny_config


def test_tensorboard_receives_the_losses(tiny_llama_dir, tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (the tracking extra)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from edgeqa.finetune.run import run_finetune

    run_dir = run_finetune(
        tiny_config(tiny_llama_dir, tmp_path, "tb", report_to="tensorboard"), show_progress=False
    )
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert any("train" in tag for tag in tags) and any("val" in tag for tag in tags)
    train_tag = next(tag for tag in tags if "train" in tag and "loss" in tag)
    assert [event.step for event in events.Scalars(train_tag)] == [1, 2]


def test_wandb_runs_offline_without_a_network(tiny_llama_dir, tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="wandb is not installed (the tracking extra)")
    from edgeqa.finetune.run import run_finetune

    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    run_dir = run_finetune(
        tiny_config(tiny_llama_dir, tmp_path, "wb", report_to="wandb"), show_progress=False
    )
    offline_runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 1
    assert any(offline_runs[0].glob("*.wandb"))
