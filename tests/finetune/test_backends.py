"""Backend-specific model building: QLoRA through bitsandbytes NF4 on the CPU."""

import json

import pytest

from tests.helpers import tiny_config


def test_qlora_trains_on_a_4bit_base_and_exports_a_16bit_merge(tiny_llama_dir, tmp_path):
    pytest.importorskip("bitsandbytes", reason="bitsandbytes is not installed (the gpu extra)")
    from bitsandbytes.nn import Linear4bit

    from edgeqa.finetune.backends import build_hf
    from edgeqa.finetune.base_model import resolve_base
    from edgeqa.finetune.run import run_finetune

    config = tiny_config(tiny_llama_dir, tmp_path, "qlora", method="qlora", max_steps=2)
    model, _ = build_hf(config, resolve_base(str(tiny_llama_dir)))
    quantized = [m for m in model.modules() if isinstance(m, Linear4bit)]
    assert len(quantized) == 2 * 7  # every projection of both layers is NF4
    assert all(m.weight.quant_type == "nf4" for m in quantized)

    run_dir = run_finetune(config, show_progress=False)
    run = json.loads((run_dir / "run.json").read_text())
    losses = json.loads((run_dir / "loss_curves.json").read_text())["train"]
    assert run["config"]["method"] == "qlora"
    assert [step for step, _ in losses] == [1, 2] and all(0 < loss < 20 for _, loss in losses)

    from edgeqa.export.merge import merged_model
    from edgeqa.export.sources import resolve_source

    merged, _ = merged_model(resolve_source(str(run_dir), None, None, None))
    assert not any(isinstance(m, Linear4bit) for m in merged.modules())  # merged into 16/32-bit weights
    assert next(merged.parameters()).dtype.is_floating_point
