"""Merge a GGUF LoRA into its GGUF base, without torch: what llama.cpp's `export-lora` does.

Why: a LoRA applied at load time costs its own matmuls at every token, and a quantized base
such as the embedded Q4_1 gets none of llama.cpp's repacked fast CPU kernels. Adding B·A into
the weights once and quantizing the result gives a plain model as fast as any other export.
Every base tensor is dequantized with gguf-py; the ones the LoRA touches get `scale · B·A`
added (scale = alpha / rank, as llama.cpp applies it) and are written in F16, the rest keep
their type byte for byte. The quantizer then makes the final type from this file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeqa.errors import EdgeQAError
from edgeqa.export.gguf_metadata import copy_tensor, finish_gguf, writer_like

LORA_SUFFIXES = (".lora_a", ".lora_b")


def _lora_pairs(adapter) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Base tensor name -> (A [rank, in], B [out, rank]) as float32."""
    halves: dict[str, dict[str, np.ndarray]] = {}
    for tensor in adapter.tensors:
        name, dot, side = tensor.name.rpartition(".")
        if not dot or f".{side}" not in LORA_SUFFIXES:
            raise EdgeQAError(f"{adapter.path}: tensor {tensor.name!r} is not a LoRA half")
        halves.setdefault(name, {})[side] = np.asarray(tensor.data, dtype=np.float32)
    pairs = {}
    for name, sides in halves.items():
        if set(sides) != {"lora_a", "lora_b"}:
            raise EdgeQAError(f"{adapter.path}: {name} lacks one of lora_a, lora_b")
        pairs[name] = (sides["lora_a"], sides["lora_b"])
    return pairs


def merge_lora_gguf(base: Path, adapter: Path, target: Path, extra_keys: dict[str, str]) -> Path:
    """Write `target`: `base` with `adapter`'s LoRA added to its weights, plus `extra_keys`
    (string metadata, e.g. the prompt layout the adapter was trained with)."""
    from gguf import GGMLQuantizationType, GGUFReader
    from gguf.quants import dequantize

    base_reader, adapter_reader = GGUFReader(base), GGUFReader(adapter)
    alpha_field = adapter_reader.get_field("adapter.lora.alpha")
    if alpha_field is None:
        raise EdgeQAError(f"{adapter}: not a LoRA GGUF (no adapter.lora.alpha)")
    alpha = float(alpha_field.contents())
    pairs = _lora_pairs(adapter_reader)
    unknown = set(pairs) - {t.name for t in base_reader.tensors}
    if unknown:
        raise EdgeQAError(f"{adapter}: its LoRA names tensors {base} lacks, e.g. {sorted(unknown)[0]}")

    temporary = target.with_name(f".{target.name}.partial")
    writer = writer_like(base_reader, temporary, extra_keys)
    try:
        for tensor in base_reader.tensors:
            if tensor.name not in pairs:
                copy_tensor(writer, tensor)
                continue
            lora_a, lora_b = pairs[tensor.name]
            weight = dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
            if weight.shape != (lora_b.shape[0], lora_a.shape[1]):
                raise EdgeQAError(
                    f"{adapter}: LoRA for {tensor.name} is {lora_b.shape[0]}x{lora_a.shape[1]}, "
                    f"the weight is {weight.shape[0]}x{weight.shape[1]}"
                )
            weight += (alpha / lora_a.shape[0]) * (lora_b @ lora_a)
            writer.add_tensor(tensor.name, weight.astype(np.float16), raw_dtype=GGMLQuantizationType.F16)
    except BaseException:
        writer.close()
        temporary.unlink(missing_ok=True)
        raise
    return finish_gguf(writer, temporary, target)
