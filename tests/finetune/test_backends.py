"""Backend-specific model building: QLoRA through bitsandbytes NF4 on the CPU."""

import json
from pathlib import Path

import pytest

from tests.helpers import tiny_config


def test_qlora_trains_on_a_4bit_base_and_exports_a_16bit_merge(tiny_llama_dir, tmp_path):
    pytest.importorskip("bitsandbytes", reason="bitsandbytes is not installed (the gpu extra)")
    from bitsandbytes.nn import Linear4bit

    from edgeqa.finetune.backends import build_hf
    from edgeqa.finetune.run import run_finetune
    from edgeqa.models.base_model import resolve_base

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
    from edgeqa.export.source_model import resolve_source

    merged, _ = merged_model(resolve_source(str(run_dir), None, None, None))
    assert not any(isinstance(m, Linear4bit) for m in merged.modules())  # merged into 16/32-bit weights
    assert next(merged.parameters()).dtype.is_floating_point


def test_training_follows_the_device_the_backend_chose(tiny_llama_dir, tmp_path):
    """On this machine (no GPU) the hf backend places the model on the CPU and the loop follows;
    on a GPU machine the same code trains there (tests/finetune/test_gpu.py, run by hand)."""
    from edgeqa.finetune.backends import build_hf, training_device
    from edgeqa.models.base_model import resolve_base

    model, _ = build_hf(tiny_config(tiny_llama_dir, tmp_path, "device"), resolve_base(str(tiny_llama_dir)))
    import torch

    expected = training_device()
    assert expected == ("cuda:0" if torch.cuda.is_available() else "cpu")
    assert {str(p.device) for p in model.parameters()} == {expected}


def test_unsloth_is_handed_the_dequantized_folder_of_a_gguf_base(tiny_llama_dir, tmp_path, monkeypatch):
    """The unsloth builder's seam, on a CPU: unsloth itself needs an NVIDIA GPU, so a stand-in
    FastLanguageModel records what it is given (the real one runs in test_gpu.py by hand)."""
    import sys
    import types

    from edgeqa.export.convert import convert_to_gguf
    from edgeqa.finetune.backends import build_unsloth
    from edgeqa.models.base_model import resolve_base

    calls = {}

    class FastLanguageModel:
        @staticmethod
        def from_pretrained(**kwargs):
            calls["load"] = kwargs
            return "model", "tokenizer"

        @staticmethod
        def get_peft_model(model, **kwargs):
            calls["peft"] = kwargs
            return model

    monkeypatch.setitem(sys.modules, "unsloth", types.SimpleNamespace(FastLanguageModel=FastLanguageModel))
    gguf_path = convert_to_gguf(tiny_llama_dir, tmp_path / "tiny-F16.gguf", "f16")
    config = tiny_config(gguf_path, tmp_path, "unsloth", backend="unsloth", method="qlora", use_rslora=True)
    assert build_unsloth(config, resolve_base(str(gguf_path))) == ("model", "tokenizer")
    folder = calls["load"]["model_name"]
    assert Path(folder).name.startswith("tiny-F16-") and (Path(folder) / "config.json").is_file()
    assert calls["load"]["load_in_4bit"]
    assert calls["peft"]["r"] == 4 and calls["peft"]["use_rslora"] is True
    assert calls["peft"]["use_gradient_checkpointing"] == "unsloth"


@pytest.mark.parametrize("family", ["llama3", "llama2"])
def test_unsloth_gets_a_llama_familys_folder_as_is_with_its_own_template(
    standin, family, tmp_path, monkeypatch
):
    """The unsloth seams for a Llama 3 / Llama 2 base on a CPU: the HF folder is handed over as
    named (no dequantizing), unsloth picks the dtype (bf16 where the GPU has it), the adapter
    covers every Llama projection, and training renders with the family's own chat template
    (edgeqa maps none of unsloth's templates over it: the GGUF must carry the one it trained on)."""
    import sys
    import types

    from transformers import AutoTokenizer

    from edgeqa.finetune.backends import build_unsloth
    from edgeqa.finetune.config import FinetuneConfig
    from edgeqa.finetune.examples import IGNORE_INDEX, encode_example
    from edgeqa.models.base_model import resolve_base
    from edgeqa.models.family_templates import LLAMA2, LLAMA3

    calls = {}

    class FastLanguageModel:
        @staticmethod
        def from_pretrained(**kwargs):
            calls["load"] = kwargs
            return "model", AutoTokenizer.from_pretrained(kwargs["model_name"])

        @staticmethod
        def get_peft_model(model, **kwargs):
            calls["peft"] = kwargs
            return model

    monkeypatch.setitem(sys.modules, "unsloth", types.SimpleNamespace(FastLanguageModel=FastLanguageModel))
    config = tiny_config(standin(family), tmp_path, "unsloth", backend="unsloth", method="qlora")
    _, tokenizer = build_unsloth(config, resolve_base(str(standin(family))))
    load = calls["load"]
    assert load["model_name"] == str(standin(family)) and load["dtype"] is None and load["load_in_4bit"]
    assert load["max_seq_length"] == config.max_length
    assert calls["peft"]["target_modules"] == list(FinetuneConfig().target_modules)
    assert set(calls["peft"]["target_modules"]) == {
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    }
    assert tokenizer.chat_template == (LLAMA3 if family == "llama3" else LLAMA2)
    from edgeqa.data.squad import load_squad
    from tests.conftest import ASSETS

    encoded = encode_example(tokenizer, load_squad(ASSETS / "squad_v2_tiny.json")[0])
    last_target = [t for t in encoded.labels if t != IGNORE_INDEX][-1]
    assert tokenizer.convert_ids_to_tokens(last_target) == ("<|eot_id|>" if family == "llama3" else "</s>")
