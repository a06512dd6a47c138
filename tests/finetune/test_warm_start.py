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
    with pytest.raises(EdgeQAError, match=r"no adapter_model\.safetensors"):
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
