"""--init-adapter on a tiny random Llama: a new run starts from an earlier run's weights."""

import json

import pytest
from safetensors.torch import load_file

from edgeqa.errors import EdgeQAError
from tests.helpers import tiny_config


def test_a_warm_started_run_begins_at_the_earlier_adapter(tiny_llama_dir, tmp_path):
    from edgeqa.finetune.backends import build_hf
    from edgeqa.finetune.run import run_finetune
    from edgeqa.finetune.warm_start import load_init_adapter
    from edgeqa.models.base_model import resolve_base

    earlier = run_finetune(tiny_config(tiny_llama_dir, tmp_path, "earlier", max_steps=2), show_progress=False)
    config = tiny_config(tiny_llama_dir, tmp_path, "later", max_steps=2, init_adapter=str(earlier), seed=7)
    model, _ = build_hf(config, resolve_base(config.base))
    record = load_init_adapter(model, earlier)
    saved = load_file(earlier / "adapter" / "adapter_model.safetensors")
    loaded = {k: v for k, v in model.state_dict().items() if "lora_" in k}
    assert len(loaded) == len(saved)
    for name, tensor in saved.items():  # peft drops the adapter name from the saved keys
        assert (loaded[name.replace(".weight", ".default.weight")] - tensor).abs().max() == 0
    assert record["run"]["train_questions"] > 0 and len(record["adapter_sha256"]) == 64

    later = run_finetune(config, show_progress=False)
    run = json.loads((later / "run.json").read_text())
    assert run["data"]["warm_start"]["from"] == "earlier"
    assert run["data"]["warm_start"]["run"]["sources"][0]["source"] == config.data[0]
    assert (later / "warm_start.json").is_file()


def test_an_adapter_of_another_shape_is_refused_by_name(tiny_llama_dir, tmp_path):
    from edgeqa.finetune.backends import build_hf
    from edgeqa.finetune.run import run_finetune
    from edgeqa.finetune.warm_start import load_init_adapter
    from edgeqa.models.base_model import resolve_base

    config = tiny_config(tiny_llama_dir, tmp_path, "r8", max_steps=1, lora_r=8)
    earlier = run_finetune(config, show_progress=False)
    config = tiny_config(tiny_llama_dir, tmp_path, "r4", max_steps=1, lora_r=4)
    model, _ = build_hf(config, resolve_base(config.base))
    with pytest.raises(EdgeQAError, match=r"--init-adapter .*r8.*was --lora-r different"):
        load_init_adapter(model, earlier)
    with pytest.raises(EdgeQAError, match=r"or a folder with adapter_model\.safetensors"):
        load_init_adapter(model, tmp_path)


def test_a_mismatched_init_adapter_is_refused_before_any_model_loads(tiny_llama_dir, tmp_path, capsys):
    from dataclasses import replace

    from edgeqa.finetune.run import run_finetune

    earlier = run_finetune(
        tiny_config(tiny_llama_dir, tmp_path, "r8", max_steps=1, lora_r=8), show_progress=False
    )
    capsys.readouterr()
    config = replace(
        tiny_config(tiny_llama_dir, tmp_path, "r4", max_steps=1, lora_r=4), init_adapter=str(earlier)
    )
    with pytest.raises(EdgeQAError, match="its rank is 8, this run's --lora-r 4"):
        run_finetune(config, show_progress=False)
    assert "backend" not in capsys.readouterr().out  # refused before the base was even named
    config = replace(config, lora_r=8, target_modules=("q_proj",))
    with pytest.raises(EdgeQAError, match="this run's --target-modules are q_proj"):
        run_finetune(config, show_progress=False)


def test_a_gguf_lora_warm_starts_a_run_with_the_weights_it_was_written_from(tiny_llama_dir, tmp_path):
    """PEFT -> GGUF LoRA (llama.cpp's names and rotary row order) -> PEFT gives the same weights:
    the path by which a shipped reader, a GGUF only, becomes a run's starting point."""
    import numpy as np
    from transformers import AutoConfig

    from edgeqa.export.lora_gguf import write_lora_gguf
    from edgeqa.finetune.backends import build_hf
    from edgeqa.finetune.run import run_finetune
    from edgeqa.finetune.warm_start import check_init_adapter, load_init_adapter
    from edgeqa.models.base_model import resolve_base

    earlier = run_finetune(tiny_config(tiny_llama_dir, tmp_path, "earlier", max_steps=2), show_progress=False)
    lora = write_lora_gguf(
        earlier / "adapter",
        AutoConfig.from_pretrained(tiny_llama_dir),
        tmp_path / "reader-LoRA.gguf",
        dtype=np.float32,
    )
    config = tiny_config(tiny_llama_dir, tmp_path, "later", max_steps=1, init_adapter=str(lora))
    assert check_init_adapter(lora, config.lora_r, config.lora_alpha, tuple(config.target_modules)).is_gguf
    model, _ = build_hf(config, resolve_base(config.base))
    record = load_init_adapter(model, lora)
    saved = load_file(earlier / "adapter" / "adapter_model.safetensors")
    loaded = {k: v for k, v in model.state_dict().items() if "lora_" in k}
    for name, tensor in saved.items():
        assert (loaded[name.replace(".weight", ".default.weight")] - tensor).abs().max() == 0, name
    assert len(record["adapter_sha256"]) == 64

    with pytest.raises(EdgeQAError, match=r"alpha/rank is .*would scale it differently"):
        check_init_adapter(lora, config.lora_r, config.lora_alpha * 2, tuple(config.target_modules))
    with pytest.raises(EdgeQAError, match=r"expected a shipped reader's name, a LoRA \.gguf"):
        check_init_adapter(
            tmp_path / "nowhere", config.lora_r, config.lora_alpha, tuple(config.target_modules)
        )


def test_the_shipped_reader_is_a_valid_starting_point_for_the_embedded_base():
    """`--init-adapter smollm2-135m-squad` passes the checks made before any model loads."""
    from edgeqa.finetune.config import FinetuneConfig
    from edgeqa.finetune.warm_start import check_init_adapter

    config = FinetuneConfig(base="embedded", data=["x.json"], lora_r=16, lora_alpha=16)
    adapter = check_init_adapter("smollm2-135m-squad", 16, 16, tuple(config.target_modules))
    assert adapter.is_gguf and adapter.path.name == "smollm2-135m-squad-LoRA.gguf"
    with pytest.raises(EdgeQAError, match="its rank is 16, this run's --lora-r 8"):
        check_init_adapter("smollm2-135m-squad", 8, 8, tuple(config.target_modules))
