"""Base models shared by finetune, export and profiling: resolving, dequantizing, saving."""

from pathlib import Path

import pytest


def _gguf_in_place(path):
    """The GGUF through transformers' own loader, as before the twin existed."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    return model, AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)


def test_a_gguf_base_loads_through_one_cached_float32_twin_with_the_same_weights(
    tiny_llama_dir, tmp_path, monkeypatch
):
    """The twin is written once per GGUF and transformers version, and gives exactly what
    transformers' GGUF loader gives: every weight, and the same tokens."""
    import torch
    import transformers

    from edgeqa.export.convert import convert_to_gguf
    from edgeqa.models.base_model import hf_twin, load_causal_lm, load_tokenizer, resolve_base

    monkeypatch.setenv("EDGEQA_CACHE_DIR", str(tmp_path / "cache"))
    gguf_path = convert_to_gguf(tiny_llama_dir, tmp_path / "tiny-F16.gguf", "f16")
    base = resolve_base(str(gguf_path))
    model, tokenizer = load_causal_lm(base, torch.float32), load_tokenizer(base)
    folder = hf_twin(base)
    assert (
        folder == tmp_path / "cache" / "bases" / f"tiny-F16-{base.sha256[:16]}-tf{transformers.__version__}"
    )
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no staging folder left
    written = (folder / "model.safetensors").stat().st_mtime_ns
    load_causal_lm(base, torch.float32)
    assert (folder / "model.safetensors").stat().st_mtime_ns == written  # cached, not rewritten

    reference_model, reference_tokenizer = _gguf_in_place(gguf_path)
    twin_weights = model.state_dict()
    for name, tensor in reference_model.state_dict().items():
        assert torch.equal(twin_weights[name], tensor), name
    text = "Context: Normandy is in France.\nQuestion: Where is Normandy?"
    assert tokenizer(text)["input_ids"] == reference_tokenizer(text)["input_ids"]
    assert tokenizer.chat_template == reference_tokenizer.chat_template
    assert (tokenizer.eos_token, tokenizer.bos_token) == (
        reference_tokenizer.eos_token,
        reference_tokenizer.bos_token,
    )


def test_a_gguf_base_is_read_in_place_where_the_cache_cannot_be_written(
    tiny_llama_dir, tmp_path, monkeypatch
):
    import torch

    from edgeqa.errors import EdgeQAError
    from edgeqa.export.convert import convert_to_gguf
    from edgeqa.models.base_model import hf_twin, load_causal_lm, resolve_base

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("EDGEQA_CACHE_DIR", str(blocker))
    base = resolve_base(str(convert_to_gguf(tiny_llama_dir, tmp_path / "tiny-F16.gguf", "f16")))
    with pytest.raises(EdgeQAError, match="a-file"):
        hf_twin(base)
    reference, _ = _gguf_in_place(Path(base.ref))
    loaded = load_causal_lm(base, torch.float32).state_dict()
    assert all(torch.equal(loaded[name], t) for name, t in reference.state_dict().items())


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
