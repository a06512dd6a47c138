"""Importance matrices for llama.cpp's quantizer, made, written and read in-process.

An importance matrix holds, for every weight matrix, the mean squared input activation of each
input column over some calibration text; the quantizer weights its rounding errors by it, so the
columns that carry large activations keep more precision. llama.cpp makes one with its own
`llama-imatrix` binary; here forward pre-hooks on the merged model's linear layers collect the
same sums, named after the GGUF tensors they belong to. Files are written in llama.cpp's GGUF
imatrix format (`<tensor>.in_sum2`, `<tensor>.counts`, `imatrix.*` keys), so `llama-quantize
--imatrix` reads ours, and both that format and the legacy `.dat` one are read back.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeqa.errors import EdgeQAError
from edgeqa.export.gguf_metadata import finish_gguf
from edgeqa.models.lora_layout import MODULE_TO_GGUF

# Types llama.cpp cannot make well without a matrix: it refuses most of them outright.
NEEDS_IMATRIX = frozenset({"iq1_s", "iq1_m", "iq2_xxs", "iq2_xs", "iq2_s", "iq2_m", "iq3_xxs", "q2_k_s"})

_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)$")


def gguf_tensor_name(module_name: str) -> str | None:
    """The GGUF weight a Llama linear module becomes (`model.layers.3.mlp.up_proj` ->
    `blk.3.ffn_up.weight`); None for modules llama.cpp's imatrix does not collect either."""
    match = _LAYER.search(module_name)
    if match is None or match[2] not in MODULE_TO_GGUF:
        return None
    return f"blk.{match[1]}.{MODULE_TO_GGUF[match[2]]}.weight"


@dataclass
class ImportanceMatrix:
    """Per tensor: the sum of squared inputs per column, and how many tokens were summed."""

    sums: dict[str, np.ndarray] = field(default_factory=dict)
    counts: dict[str, float] = field(default_factory=dict)
    chunks: int = 0
    chunk_size: int = 0
    datasets: tuple[str, ...] = ()

    def means(self) -> dict[str, np.ndarray]:
        """What the quantizer takes: the mean squared activation per input column."""
        return {
            name: (total / self.counts[name] if self.counts[name] > 0 else np.ones_like(total)).astype(
                np.float32
            )
            for name, total in self.sums.items()
        }

    @property
    def tokens(self) -> int:
        return int(max(self.counts.values(), default=0))


def compute_imatrix(
    model: Any, sequences: Iterable[Sequence[int]], dataset: str, show_progress: bool = True
) -> ImportanceMatrix:
    """Run `model` (a transformers Llama, merged) over `sequences` and sum x² per input column
    of every attention and MLP projection."""
    import torch
    from tqdm import tqdm

    matrix = ImportanceMatrix(datasets=(dataset,))
    handles = []

    def collector(name: str):
        def hook(_module, inputs):
            x = inputs[0].detach().float().reshape(-1, inputs[0].shape[-1])
            squares = (x * x).sum(dim=0).numpy().astype(np.float64)
            matrix.sums[name] = matrix.sums.get(name, 0) + squares
            matrix.counts[name] = matrix.counts.get(name, 0.0) + float(x.shape[0])

        return hook

    for module_name, module in model.named_modules():
        name = gguf_tensor_name(module_name)
        if name is not None and isinstance(module, torch.nn.Linear):
            handles.append(module.register_forward_pre_hook(collector(name)))
    if not handles:
        raise EdgeQAError("imatrix: the model has no Llama attention/MLP projections to measure")
    model.eval()
    try:
        with torch.no_grad():
            for tokens in tqdm(list(sequences), desc="imatrix", unit="seq", disable=not show_progress):
                # the body only: the inputs of the projections, without the vocabulary head
                model.model(torch.tensor([list(tokens)], device=model.device))
                matrix.chunks += 1
                matrix.chunk_size = max(matrix.chunk_size, len(tokens))
    finally:
        for handle in handles:
            handle.remove()
    return matrix


def write_imatrix_gguf(matrix: ImportanceMatrix, path: Path) -> Path:
    """Write `matrix` in llama.cpp's GGUF imatrix format (temporary name, then renamed)."""
    import gguf

    temporary = path.with_name(f".{path.name}.partial")
    writer = gguf.GGUFWriter(str(temporary), arch="imatrix")
    writer.kv_data[0].pop(gguf.Keys.General.ARCHITECTURE, None)  # an imatrix has no architecture
    writer.add_type(gguf.GGUFType.IMATRIX)
    writer.add_array(gguf.Keys.IMatrix.DATASETS, list(matrix.datasets))
    writer.add_uint32(gguf.Keys.IMatrix.CHUNK_COUNT, matrix.chunks)
    writer.add_uint32(gguf.Keys.IMatrix.CHUNK_SIZE, matrix.chunk_size)
    for name in sorted(matrix.sums):
        writer.add_tensor(f"{name}.in_sum2", matrix.sums[name].astype(np.float32).reshape(1, -1))
        writer.add_tensor(f"{name}.counts", np.array([[matrix.counts[name]]], dtype=np.float32))
    return finish_gguf(writer, temporary, path)


def read_imatrix(path: Path) -> ImportanceMatrix:
    """A matrix from llama.cpp's GGUF imatrix format or its legacy `.dat` stream."""
    if not path.is_file():
        raise EdgeQAError(f"--imatrix {path}: no such file")
    with path.open("rb") as handle:
        magic = handle.read(4)
    try:
        return _read_gguf(path) if magic == b"GGUF" else _read_legacy(path)
    except (ValueError, struct.error, UnicodeDecodeError, KeyError) as exc:
        raise EdgeQAError(f"--imatrix {path}: not an imatrix in GGUF or legacy .dat format ({exc})") from None


def _read_gguf(path: Path) -> ImportanceMatrix:
    import gguf

    reader = gguf.GGUFReader(str(path))
    tensors = {t.name: np.asarray(t.data, dtype=np.float64) for t in reader.tensors}
    names = sorted(n.removesuffix(".in_sum2") for n in tensors if n.endswith(".in_sum2"))
    if not names:
        raise ValueError("no <tensor>.in_sum2 tensors")

    def scalar(key: str) -> int:
        value = reader.fields.get(key)
        return int(value.parts[value.data[0]][0]) if value else 0

    datasets_field = reader.fields.get(gguf.Keys.IMatrix.DATASETS)
    datasets = (
        tuple(bytes(datasets_field.parts[i]).decode() for i in datasets_field.data) if datasets_field else ()
    )
    matrix = ImportanceMatrix(
        chunks=scalar(gguf.Keys.IMatrix.CHUNK_COUNT),
        chunk_size=scalar(gguf.Keys.IMatrix.CHUNK_SIZE),
        datasets=datasets,
    )
    for name in names:
        counts = tensors[f"{name}.counts"].reshape(-1)
        sums = tensors[f"{name}.in_sum2"].reshape(len(counts), -1)
        if len(counts) != 1:  # one row per expert; llama.cpp normalises each by its own count
            raise ValueError(f"{name} has {len(counts)} experts; only dense models are supported")
        matrix.sums[name], matrix.counts[name] = sums[0], float(counts[0])
    return matrix


def _read_legacy(path: Path) -> ImportanceMatrix:
    """The `.dat` stream: entry count, then per entry its name, call count and the values
    (mean squares times the call count), then optionally the last call and the dataset."""
    data = path.read_bytes()
    offset = 0

    def take(fmt: str) -> tuple:
        nonlocal offset
        values = struct.unpack_from(fmt, data, offset)
        offset += struct.calcsize(fmt)
        return values

    (entries,) = take("<i")
    if not 0 < entries < 1_000_000:
        raise ValueError(f"{entries} entries")
    matrix = ImportanceMatrix()
    for _ in range(entries):
        (length,) = take("<i")
        name = data[offset : offset + length].decode()
        offset += length
        calls, size = take("<ii")
        values = np.frombuffer(data, dtype="<f4", count=size, offset=offset).astype(np.float64)
        offset += 4 * size
        # stored: mean x² times calls; as sums over `calls` tokens the means come back unchanged
        # (llama.cpp takes the values as they are when no call was counted)
        matrix.sums[name], matrix.counts[name] = values, float(calls) if calls > 0 else 1.0
    if len(data) - offset >= 8:
        matrix.chunks, length = take("<ii")
        matrix.datasets = (data[offset : offset + length].decode(errors="replace"),)
    return matrix


def check_matches(matrix: ImportanceMatrix, widths: dict[str, int], source: str) -> None:
    """Refuse a matrix made for another model: every entry must name one of its tensors, with
    one value per input column, and it must cover the model's projections at all."""
    for name, sums in matrix.sums.items():
        if name not in widths:
            raise EdgeQAError(f"--imatrix {source}: {name} is not a tensor of this model (made for another?)")
        if len(sums) != widths[name]:
            raise EdgeQAError(
                f"--imatrix {source}: {name} has {len(sums)} values, the tensor is {widths[name]} wide"
            )
    if not matrix.sums:
        raise EdgeQAError(f"--imatrix {source}: it holds no entries")
