"""Quantize (or re-type) a GGUF with llama.cpp's own quantizer, through llama-cpp-python.

No llama.cpp checkout or `llama-quantize` binary is needed: `llama_model_quantize` is part of
the library llama-cpp-python already ships.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import sys
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeqa.errors import EdgeQAError
from edgeqa.fileio import disk_full_reason


def quant_types() -> dict[str, int]:
    """Lower-case quant names (q4_k_m, q8_0, f16, ...) -> llama.cpp file-type ids."""
    import llama_cpp

    prefix = "LLAMA_FTYPE_MOSTLY_"
    return {
        name.removeprefix(prefix).lower(): getattr(llama_cpp, name)
        for name in dir(llama_cpp)
        if name.startswith(prefix)
    }


def ggml_types() -> dict[str, int]:
    """Lower-case tensor type names (q8_0, q6_k, f16, ...) -> ggml type ids."""
    import llama_cpp

    prefix = "GGML_TYPE_"
    return {
        name.removeprefix(prefix).lower(): getattr(llama_cpp, name)
        for name in dir(llama_cpp)
        if name.startswith(prefix) and name != "GGML_TYPE_COUNT"
    }


def _ggml_type(option: str, name: str) -> int:
    types = ggml_types()
    if name.lower() not in types:
        raise EdgeQAError(f"{option}: unknown tensor type {name!r}; valid: {', '.join(sorted(types))}")
    return types[name.lower()]


@dataclass(frozen=True)
class TypeOverrides:
    """llama-quantize's per-tensor choices: `--tensor-type PATTERN=TYPE` (a regular expression
    on tensor names, first match wins), `--output-type`, `--embedding-type`."""

    tensor_types: tuple[tuple[str, str], ...] = ()
    output_type: str | None = None
    embedding_type: str | None = None

    @classmethod
    def parse(
        cls,
        tensor_types: Sequence[str] = (),
        output_type: str | None = None,
        embedding_type: str | None = None,
    ) -> TypeOverrides:
        pairs = []
        for spec in tensor_types:
            pattern, _, kind = spec.partition("=")
            if not pattern or not kind:
                raise EdgeQAError(f"--tensor-type {spec!r}: expected PATTERN=TYPE, e.g. attn_v=q8_0")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise EdgeQAError(
                    f"--tensor-type {spec!r}: {pattern!r} is not a regular expression ({exc})"
                ) from None
            _ggml_type("--tensor-type", kind)
            pairs.append((pattern, kind.lower()))
        if output_type:
            _ggml_type("--output-type", output_type)
        if embedding_type:
            _ggml_type("--embedding-type", embedding_type)
        return cls(
            tuple(pairs),
            output_type.lower() if output_type else None,
            embedding_type.lower() if embedding_type else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "tensor_types": [f"{p}={t}" for p, t in self.tensor_types],
            "output_type": self.output_type,
            "embedding_type": self.embedding_type,
        }


def _apply_overrides(params: Any, overrides: TypeOverrides, keep: list) -> None:
    """Fill the quantizer's override fields; `keep` holds the C arrays for the call's length."""
    import llama_cpp

    if overrides.output_type:
        params.output_tensor_type = _ggml_type("--output-type", overrides.output_type)
    if overrides.embedding_type:
        params.token_embedding_type = _ggml_type("--embedding-type", overrides.embedding_type)
    if overrides.tensor_types:
        entries = (llama_cpp.llama_model_tensor_override * (len(overrides.tensor_types) + 1))()
        for entry, (pattern, kind) in zip(entries, overrides.tensor_types, strict=False):
            entry.pattern = pattern.encode()
            entry.type = _ggml_type("--tensor-type", kind)
        keep.append(entries)  # the last entry stays zeroed: the list's terminator
        params.tt_overrides = ctypes.cast(entries, ctypes.POINTER(llama_cpp.llama_model_tensor_override))


def _apply_imatrix(params: Any, imatrix: Mapping[str, np.ndarray], keep: list) -> None:
    """Hand the per-tensor mean squared activations to the quantizer as its null-terminated list."""
    import llama_cpp

    entries = (llama_cpp.llama_model_imatrix_data * (len(imatrix) + 1))()
    for entry, (name, values) in zip(entries, sorted(imatrix.items()), strict=False):
        array = np.ascontiguousarray(values, dtype=np.float32)
        keep.append(array)
        entry.name = name.encode()
        entry.data = array.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        entry.size = array.size
    keep.append(entries)
    params.imatrix = ctypes.cast(entries, ctypes.POINTER(llama_cpp.llama_model_imatrix_data))


@contextlib.contextmanager
def native_stderr_to(log_path: Path) -> Iterator[None]:
    """Send standard error to `log_path` for the block: file descriptor 2, where ggml writes, and
    Python's sys.stderr, where llama-cpp-python's log callback writes llama.cpp's messages."""
    sys.stderr.flush()
    saved = os.dup(2)
    with log_path.open("a", encoding="utf-8") as log:
        os.dup2(log.fileno(), 2)
        try:
            with contextlib.redirect_stderr(log):
                yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


_FALLBACK = re.compile(r"ncols\s+(\d+) not divisible by (\d+).*falling back to\s+(\w+)")
_FALLBACK_TOTAL = re.compile(r"(\d+) of (\d+) tensor\(s\) required fallback")


def fallback_summary(log_text: str, quant: str) -> str | None:
    """One line for the tensors llama.cpp could not give `quant` (k-quants need rows that are a
    multiple of 256 wide; SmolLM2's 576 and 1536 are not), or None when none fell back."""
    found = _FALLBACK.findall(log_text)
    if not found:
        return None
    kinds = ", ".join(f"{n} to {kind}" for kind, n in Counter(kind for _, _, kind in found).most_common())
    widths = ", ".join(sorted({width for width, _, _ in found}, key=int))
    blocks = ", ".join(sorted({block for _, block, _ in found}, key=int))
    total = _FALLBACK_TOTAL.search(log_text)
    counted = f"{total[1]} of {total[2]}" if total else str(len(found))
    return (
        f"{counted} tensors fell back from {quant} ({kinds}): rows {widths} wide are not a "
        f"multiple of {blocks}"
    )


def quantize_gguf(
    source: Path,
    target: Path,
    quant: str,
    threads: int = 2,
    imatrix: Mapping[str, np.ndarray] | None = None,
    overrides: TypeOverrides | None = None,
) -> Path:
    """Write `target` as `source` in type `quant`, weighted by `imatrix` (tensor name -> mean
    squared input per column) when given; written under a temporary name, then renamed.
    llama.cpp's messages go to `<target>.quantize.log`; a summary line is printed instead."""
    import llama_cpp

    types = quant_types()
    if quant.lower() not in types:
        raise EdgeQAError(f"unknown quant type {quant!r}; valid: {', '.join(sorted(types))}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = types[quant.lower()]
    params.nthread = threads
    params.allow_requantize = True
    keep: list = []
    _apply_overrides(params, overrides or TypeOverrides(), keep)
    if imatrix:
        _apply_imatrix(params, imatrix, keep)
    temporary = target.with_name(f".{target.name}.partial")
    from llama_cpp._logger import set_verbose

    set_verbose(False)
    log_path = target.with_name(target.name.removesuffix(".gguf") + ".quantize.log")
    log_path.unlink(missing_ok=True)
    with native_stderr_to(log_path):
        status = llama_cpp.llama_model_quantize(
            str(source).encode(), str(temporary).encode(), ctypes.byref(params)
        )
    summary = fallback_summary(log_path.read_text(encoding="utf-8", errors="replace"), quant)
    if summary:
        print(f"edgeqa export: {summary} (details: {log_path})")
    if status != 0:
        needed = source.stat().st_size // (1 if quant.lower() in ("f32", "f16", "bf16") else 2)
        full = disk_full_reason(target, needed, log_path.read_text(errors="replace"))
        temporary.unlink(missing_ok=True)
        cause = f": {full}" if full else f" (status {status}; see {log_path})"
        raise EdgeQAError(f"{source}: llama.cpp could not quantize to {quant}{cause}")
    os.replace(temporary, target)
    return target
