import itertools
import json

import pytest

from edgeqa.finetune.config import FinetuneConfig
from edgeqa.finetune.trainer import lr_factor, micro_batch
from tests.helpers import tiny_config


def test_schedule_warms_up_then_decays_to_zero():
    config = FinetuneConfig(max_steps=100, warmup_steps=10, lr_schedule="cosine")
    factors = [lr_factor(step, config) for step in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert factors[10] == pytest.approx(1.0) and factors[-1] < 0.01
    assert all(a >= b for a, b in itertools.pairwise(factors[10:]))
    assert lr_factor(50, FinetuneConfig(lr_schedule="constant", warmup_steps=0)) == 1.0


def test_micro_batches_cover_each_epoch_once_and_are_reproducible():
    items = list(range(10))
    first_epoch = [x for i in range(5) for x in micro_batch(items, i, 2, seed=3)]
    assert sorted(first_epoch) == items
    assert micro_batch(items, 7, 2, seed=3) == micro_batch(items, 7, 2, seed=3)
    assert [micro_batch(items, i, 2, seed=3) for i in range(5)] != [
        micro_batch(items, i, 2, seed=3) for i in range(5, 10)
    ]


@pytest.mark.parametrize(("max_steps", "stopped_at", "early"), [(5, 3, True), (3, 3, False)])
def test_early_stopping_counts_evaluations_without_improvement(
    tiny_llama_dir, tmp_path, monkeypatch, max_steps, stopped_at, early
):
    """Patience 2: validation losses 1.0, 2.0, 3.0 stop training after the third evaluation;
    reaching max_steps at that very evaluation is a normal end, not an early stop."""
    from edgeqa.finetune.run import run_finetune
    from edgeqa.finetune.trainer import Trainer

    losses = iter([1.0, 2.0, 3.0, 4.0, 5.0])
    monkeypatch.setattr(Trainer, "validation_loss", lambda self: next(losses))
    config = tiny_config(
        tiny_llama_dir, tmp_path, "patience", max_steps=max_steps, eval_every=1, early_stopping_patience=2
    )
    run = json.loads((run_finetune(config, show_progress=False) / "run.json").read_text())
    assert run["metrics"]["steps"] == stopped_at
    assert run["metrics"]["stopped_early"] is early
    assert run["metrics"]["best_val_loss"] == 1.0


def test_a_run_resumed_past_its_early_stop_ends_normally(tiny_llama_dir, tmp_path, monkeypatch):
    """Stopped early at step 3 of 5, then resumed without patience and keeping the final weights:
    it trains to step 5, its record no longer says it stopped early, and adapter/ holds step 5's
    weights although step 1 had the best validation loss."""
    from safetensors.torch import load_file

    from edgeqa.finetune.run import resume_config, run_finetune
    from edgeqa.finetune.trainer import Trainer

    losses = iter([1.0, 2.0, 3.0, 4.0, 5.0])
    monkeypatch.setattr(Trainer, "validation_loss", lambda self: next(losses))
    config = tiny_config(
        tiny_llama_dir, tmp_path, "resumed", max_steps=5, eval_every=1, early_stopping_patience=2
    )
    run_dir = run_finetune(config, show_progress=False)
    assert json.loads((run_dir / "run.json").read_text())["metrics"]["stopped_early"] is True
    best = load_file(run_dir / "adapter" / "adapter_model.safetensors")
    resumed = resume_config(run_dir, {"early_stopping_patience": 0, "keep_adapter": "final"})
    run_finetune(resumed, resume_dir=run_dir, show_progress=False)
    metrics = json.loads((run_dir / "run.json").read_text())["metrics"]
    assert (metrics["steps"], metrics["stopped_early"], metrics["best_val_loss"]) == (5, False, 1.0)
    kept = load_file(run_dir / "adapter" / "adapter_model.safetensors")
    final = load_file(run_dir / "checkpoint" / "adapter_model.safetensors")
    assert all((kept[key] == final[key]).all() for key in final)
    assert any((kept[key] != best[key]).any() for key in best)
