"""The GPU paths for real: unsloth QLoRA and the hf backend on an NVIDIA GPU.

Marked `gpu` (skipped by default; CI has no GPU). Run by hand on a GPU machine with the gpu
extra installed: `python -m pytest -m gpu tests/finetune/test_gpu.py`.
"""

import json

import pytest

from tests.helpers import tiny_config

pytestmark = pytest.mark.gpu


@pytest.fixture(autouse=True)
def _needs_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no NVIDIA GPU visible")


def _finished_run(config):
    from edgeqa.finetune.run import run_finetune

    run_dir = run_finetune(config, show_progress=False)
    run = json.loads((run_dir / "run.json").read_text())
    losses = [loss for _, loss in json.loads((run_dir / "loss_curves.json").read_text())["train"]]
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()
    assert len(losses) == config.max_steps and all(0 < loss < 20 for loss in losses)
    assert run["metrics"]["peak_gpu_memory_gib"] > 0
    return run


def test_unsloth_qlora_trains_the_embedded_gguf_base(embedded_model, tmp_path):
    pytest.importorskip("unsloth")
    config = tiny_config(embedded_model, tmp_path, "unsloth", backend="auto", method="qlora", dtype="bf16")
    run = _finished_run(config)
    assert run["backend"]["name"] == "unsloth"  # auto picks it on a GPU with unsloth installed
    assert run["base"]["kind"] == "gguf"  # export merges into the GGUF's own weights


def test_hf_backend_trains_on_the_gpu(tiny_llama_dir, tmp_path):
    run = _finished_run(tiny_config(tiny_llama_dir, tmp_path, "hf-gpu", dtype="bf16"))
    assert run["backend"]["name"] == "hf"
