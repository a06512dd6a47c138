"""Write a PEFT LoRA adapter as a GGUF LoRA that llama.cpp applies at load time (`--lora`).

Tensor names and the rotary row order follow llama.cpp's Llama layout (edgeqa/models/lora_layout.py,
shared with fine-tuning, which reads such a file back as a starting point).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from edgeqa.errors import EdgeQAError
from edgeqa.export.gguf_metadata import finish_gguf
from edgeqa.models.gguf_info import LORA_BASE_KEY
from edgeqa.models.lora_layout import (
    MODULE_TO_GGUF,
    PEFT_KEY,
    gguf_lora_name,
    interleave_rope_rows,
    rope_heads,
)
from edgeqa.prompts import PROMPT_LAYOUT_KEY
from edgeqa.run_folder import ADAPTER_SETTINGS, ADAPTER_WEIGHTS


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

    settings = json.loads((adapter_dir / ADAPTER_SETTINGS).read_text(encoding="utf-8"))
    if getattr(model_config, "model_type", "llama") != "llama":
        raise EdgeQAError(f"--lora-gguf supports Llama-architecture bases, not {model_config.model_type}")
    rank, alpha = int(settings["r"]), float(settings["lora_alpha"])
    if settings.get("use_rslora"):
        alpha *= math.sqrt(rank)  # llama.cpp scales by alpha / r; rsLoRA means alpha / sqrt(r)
    heads = rope_heads(model_config)

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
    for key, value in sorted(load_file(str(adapter_dir / ADAPTER_WEIGHTS)).items()):
        match = PEFT_KEY.search(key)
        if match is None or match.group(2) not in MODULE_TO_GGUF:
            raise EdgeQAError(f"{adapter_dir}: cannot map adapter tensor {key!r} to llama.cpp")
        layer, module, side = match.groups()
        weight = value.astype(np.float32)
        if side == "B" and module in heads:
            weight = interleave_rope_rows(weight, heads[module])
        weight = weight.astype(dtype)
        writer.add_tensor(gguf_lora_name(layer, module, side), weight)
        count += 1
    if count == 0:
        raise EdgeQAError(f"{adapter_dir}: the adapter holds no LoRA tensors")
    return finish_gguf(writer, writer_path, target)
