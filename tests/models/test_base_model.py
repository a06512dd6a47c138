"""Base models shared by finetune, export and profiling: resolving, dequantizing, saving."""

import pytest


def test_a_gguf_base_becomes_one_cached_float32_folder_with_the_same_weights(tiny_llama_dir, tmp_path):
    """unsloth loads folders only: the GGUF base is written once, exactly, keyed by its sha256."""
    import torch

    from edgeqa.export.convert import convert_to_gguf
    from edgeqa.models.base_model import dequantized_hf_folder, load_causal_lm, resolve_base

    gguf_path = convert_to_gguf(tiny_llama_dir, tmp_path / "tiny-F16.gguf", "f16")
    base = resolve_base(str(gguf_path))
    folder = dequantized_hf_folder(base, tmp_path / "cache")
    assert folder.name == f"tiny-F16-{base.sha256[:12]}"
    written = (folder / "model.safetensors").stat().st_mtime_ns
    assert dequantized_hf_folder(base, tmp_path / "cache") == folder  # cached, not rewritten
    assert (folder / "model.safetensors").stat().st_mtime_ns == written

    reloaded = load_causal_lm(resolve_base(str(folder)), torch.float32).state_dict()
    for name, tensor in load_causal_lm(base, torch.float32).state_dict().items():
        assert torch.equal(reloaded[name], tensor), name


def test_a_full_disk_while_saving_the_merge_is_one_line(tiny_llama_dir, tmp_path, monkeypatch):
    """safetensors reports a full disk as its own error type, with the OS error in its text."""
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from edgeqa.errors import EdgeQAError
    from edgeqa.models.base_model import save_hf_folder

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)

    def disk_full(*args, **kwargs):  # a full disk cannot be made safely here
        raise SafetensorError(
            'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left" })'
        )

    monkeypatch.setattr(type(model), "save_pretrained", disk_full)
    with pytest.raises(EdgeQAError, match=r"staging: cannot write \(No space left on device; \d+ MiB free"):
        save_hf_folder(model, AutoTokenizer.from_pretrained(tiny_llama_dir), tmp_path / "staging")
