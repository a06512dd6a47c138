"""How a Llama LoRA's tensors are named and laid out in PEFT and in llama.cpp's GGUF, both ways.

Why here: the export writes a PEFT adapter as a GGUF LoRA, and fine-tuning reads a GGUF LoRA back
into PEFT (`--init-adapter smollm2-135m-squad`: the shipped reader is a GGUF only). Both must
agree on the names and on the rotary layout, so the mapping lives once, below both stages.
Hugging Face orders each Q/K head's output rows as [first halves, second halves] (rotate-half
RoPE); llama.cpp interleaves the pairs. For a LoRA only B (the output side) is reordered.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from edgeqa.errors import EdgeQAError

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
_GGUF_KEY = re.compile(r"^blk\.(\d+)\.(\w+)\.weight\.lora_([ab])$")


def gguf_lora_name(layer: str | int, module: str, side: str) -> str:
    """`blk.3.attn_q.weight.lora_b` for layer 3's q_proj, side B."""
    return f"blk.{layer}.{MODULE_TO_GGUF[module]}.weight.lora_{side.lower()}"


def rope_heads(model_config: Any) -> dict[str, int]:
    """The modules whose output rows carry rotary pairs, with their head counts."""
    return {"q_proj": model_config.num_attention_heads, "k_proj": model_config.num_key_value_heads}


def interleave_rope_rows(weight: np.ndarray, heads: int) -> np.ndarray:
    """Reorder each head's output rows from [first halves, second halves] to interleaved pairs."""
    rows = weight.shape[0]
    return (
        weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)
    )


def deinterleave_rope_rows(weight: np.ndarray, heads: int) -> np.ndarray:
    """The inverse of interleave_rope_rows: llama.cpp's row order back to Hugging Face's."""
    rows = weight.shape[0]
    return (
        weight.reshape(heads, rows // heads // 2, 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)
    )


def read_gguf_lora(path: Path) -> tuple[dict[str, np.ndarray], float]:
    """A GGUF LoRA's tensors (float32, by GGUF name) and its alpha."""
    import gguf

    try:
        reader = gguf.GGUFReader(str(path))
    except (OSError, ValueError) as exc:
        raise EdgeQAError(f"{path}: not a readable GGUF file ({exc})") from None
    field = reader.fields.get(gguf.Keys.Adapter.LORA_ALPHA)
    if field is None or not any(t.name.endswith((".lora_a", ".lora_b")) for t in reader.tensors):
        raise EdgeQAError(f"{path}: not a LoRA GGUF (no {gguf.Keys.Adapter.LORA_ALPHA} or no lora tensors)")
    tensors = {t.name: np.asarray(t.data, dtype=np.float32) for t in reader.tensors}
    return tensors, float(field.contents())


def gguf_lora_rank_and_modules(tensors: dict[str, np.ndarray]) -> tuple[int, set[str]]:
    """The rank and the PEFT module names a GGUF LoRA adapts, read from its tensor names."""
    from_gguf = {value: key for key, value in MODULE_TO_GGUF.items()}
    modules: set[str] = set()
    rank = 0
    for name, tensor in tensors.items():
        match = _GGUF_KEY.match(name)
        if match is None or match[2] not in from_gguf:
            raise EdgeQAError(f"GGUF LoRA tensor {name!r} is not one of a Llama's linear layers")
        modules.add(from_gguf[match[2]])
        if match[3] == "a":
            rank = tensor.shape[0]
    return rank, modules


def peft_weights_from_gguf(
    tensors: dict[str, np.ndarray], peft_names: list[str], model_config: Any
) -> dict[str, np.ndarray]:
    """The GGUF LoRA's tensors under the PEFT state-dict names a model expects (in HF row order)."""
    heads = rope_heads(model_config)
    weights: dict[str, np.ndarray] = {}
    for name in peft_names:
        match = PEFT_KEY.search(name)
        if match is None or match[2] not in MODULE_TO_GGUF:
            raise EdgeQAError(f"cannot map the model's LoRA tensor {name!r} to a llama.cpp name")
        layer, module, side = match.groups()
        source = gguf_lora_name(layer, module, side)
        if source not in tensors:
            raise EdgeQAError(f"the GGUF LoRA has no {source} for {name}")
        weight = tensors[source]
        if side == "B" and module in heads:
            weight = deinterleave_rope_rows(weight, heads[module])
        weights[name] = weight
    return weights
