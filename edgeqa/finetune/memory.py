"""Estimate training memory before loading anything, so an impossible config fails in a second.

The estimate is deliberately simple and says its parts: weights, adapter + optimizer state,
and activations (which dominate on long sequences).
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeqa.errors import EdgeQAError
from edgeqa.finetune.config import FinetuneConfig

BYTES_PER_GIB = 2**30


@dataclass(frozen=True)
class ModelShape:
    parameters: int
    hidden_size: int
    layers: int
    intermediate_size: int


@dataclass(frozen=True)
class MemoryEstimate:
    weights_gib: float
    adapter_gib: float
    activations_gib: float

    @property
    def total_gib(self) -> float:
        return self.weights_gib + self.adapter_gib + self.activations_gib


def estimate_training_memory(shape: ModelShape, config: FinetuneConfig) -> MemoryEstimate:
    weight_bytes = 0.55 if config.method == "qlora" else (2 if config.dtype == "bf16" else 4)
    per_layer_adapters = 4 * 2 * config.lora_r * shape.hidden_size + 3 * config.lora_r * (
        shape.hidden_size + shape.intermediate_size
    )
    adapter_params = shape.layers * per_layer_adapters
    tokens = config.batch_size * config.max_length
    # Saved activations per token and layer: ~ 16 hidden-sized and 4 intermediate-sized fp32 tensors.
    activation_bytes = tokens * shape.layers * (16 * shape.hidden_size + 4 * shape.intermediate_size) * 4
    return MemoryEstimate(
        weights_gib=shape.parameters * weight_bytes / BYTES_PER_GIB,
        adapter_gib=adapter_params * 16 / BYTES_PER_GIB,  # weight, grad, two Adam moments
        activations_gib=activation_bytes / BYTES_PER_GIB,
    )


def gguf_shape(path: str) -> ModelShape:
    from pathlib import Path

    from edgeqa.models.gguf_header import read_gguf_header

    header = read_gguf_header(Path(path))
    arch = header.metadata["general.architecture"]

    def value(key: str) -> int:
        return int(header.metadata[f"{arch}.{key}"])

    return ModelShape(
        parameters=header.parameters,
        hidden_size=value("embedding_length"),
        layers=value("block_count"),
        intermediate_size=value("feed_forward_length"),
    )


def free_memory_gib(device: str) -> tuple[float, str]:
    """(free GiB, name) of the memory training will use: the GPU's, else the machine's RAM."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.mem_get_info(device)[0] / BYTES_PER_GIB, "GPU"
    import psutil

    return psutil.virtual_memory().available / BYTES_PER_GIB, "CPU"


def check_fits(estimate: MemoryEstimate, available_gib: float, device: str) -> None:
    if estimate.total_gib > 0.9 * available_gib:
        raise EdgeQAError(
            f"this config needs about {estimate.total_gib:.1f} GiB on the {device} "
            f"(weights {estimate.weights_gib:.1f}, adapters+optimizer {estimate.adapter_gib:.2f}, "
            f"activations {estimate.activations_gib:.1f}) but {available_gib:.1f} GiB is free; "
            "lower --batch-size or --max-length, or use --method qlora"
        )
