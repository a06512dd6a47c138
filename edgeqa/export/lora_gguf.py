"""Write a PEFT LoRA adapter as a GGUF LoRA that llama.cpp applies at load time (`--lora`).

Tensor names follow llama.cpp's Llama layout (`blk.N.attn_q.weight.lora_a`/`.lora_b`). Like the
converter does for the weights themselves, the Q and K projections' output rows are reordered
from Hugging Face's rotate-half RoPE layout to llama.cpp's interleaved one; for a LoRA that
reordering applies to B (the output side) only.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from edgeqa.errors import EdgeQAError
from edgeqa.export.gguf_metadata import finish_gguf
from edgeqa.models.gguf_info import LORA_BASE_KEY
from edgeqa.prompts import PROMPT_LAYOUT_KEY

MODULE_TO_GGUF = {
    "q_proj": "attn_q",
    "k_proj": "attn_k",
    "v_proj": "attn_v",
    "o_proj": "attn_output",
    "gate_proj": "ffn_gate",
    "up_proj": "ffn_up",
    "down_proj": "ffn_down",
}
PEFT_KEY = re.compile(r"layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.lora_([AB])\.weight$")


def interleave_rope_rows(weight: np.ndarray, heads: int) -> np.ndarray:
    """Reorder each head's output rows from [first halves, second halves] to interleaved pairs."""
    rows = weight.shape[0]
    return (
        weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)
    )


def write_lora_gguf(
    adapter_dir: Path,
    model_config,
    target: Path,
    base: str | None = None,
    prompt_layout: str | None = None,
    dtype: type = np.float32,
) -> Path:
    """Convert `adapter_dir` (PEFT) for a Llama-architecture base with `model_config`. `base`
    (a GGUF path or 'embedded') is recorded so that `--model <this file>` loads it with its base."""
    import gguf
    from safetensors.numpy import load_file

    settings = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    if getattr(model_config, "model_type", "llama") != "llama":
        raise EdgeQAError(f"--lora-gguf supports Llama-architecture bases, not {model_config.model_type}")
    rank, alpha = int(settings["r"]), float(settings["lora_alpha"])
    if settings.get("use_rslora"):
        alpha *= math.sqrt(rank)  # llama.cpp scales by alpha / r; rsLoRA means alpha / sqrt(r)
    heads = {"q_proj": model_config.num_attention_heads, "k_proj": model_config.num_key_value_heads}

    writer_path = target.with_name(f".{target.name}.partial")
    writer = gguf.GGUFWriter(str(writer_path), arch="llama")
    writer.add_string("general.type", "adapter")
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    if base is not None:
        writer.add_string(LORA_BASE_KEY, base)
    if prompt_layout is not None:
        writer.add_string(PROMPT_LAYOUT_KEY, prompt_layout)
    count = 0
    for key, value in sorted(load_file(str(adapter_dir / "adapter_model.safetensors")).items()):
        match = PEFT_KEY.search(key)
        if match is None or match.group(2) not in MODULE_TO_GGUF:
            raise EdgeQAError(f"{adapter_dir}: cannot map adapter tensor {key!r} to llama.cpp")
        layer, module, side = match.groups()
        weight = value.astype(np.float32)
        if side == "B" and module in heads:
            weight = interleave_rope_rows(weight, heads[module])
        weight = weight.astype(dtype)
        writer.add_tensor(f"blk.{layer}.{MODULE_TO_GGUF[module]}.weight.lora_{side.lower()}", weight)
        count += 1
    if count == 0:
        raise EdgeQAError(f"{adapter_dir}: the adapter holds no LoRA tensors")
    return finish_gguf(writer, writer_path, target)
