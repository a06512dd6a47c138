"""Quantize (or re-type) a GGUF with llama.cpp's own quantizer, through llama-cpp-python.

No llama.cpp checkout or `llama-quantize` binary is needed: `llama_model_quantize` is part of
the library llama-cpp-python already ships.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from edgeqa.errors import EdgeQAError


def quant_types() -> dict[str, int]:
    """Lower-case quant names (q4_k_m, q8_0, f16, ...) -> llama.cpp file-type ids."""
    import llama_cpp

    prefix = "LLAMA_FTYPE_MOSTLY_"
    return {
        name.removeprefix(prefix).lower(): getattr(llama_cpp, name)
        for name in dir(llama_cpp)
        if name.startswith(prefix)
    }


def quantize_gguf(source: Path, target: Path, quant: str, threads: int = 2) -> Path:
    """Write `target` as `source` in type `quant`; written under a temporary name, then renamed."""
    import llama_cpp

    types = quant_types()
    if quant.lower() not in types:
        raise EdgeQAError(f"unknown quant type {quant!r}; valid: {', '.join(sorted(types))}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = types[quant.lower()]
    params.nthread = threads
    params.allow_requantize = True
    temporary = target.with_name(f".{target.name}.partial")
    from llama_cpp._logger import set_verbose

    set_verbose(False)
    status = llama_cpp.llama_model_quantize(
        str(source).encode(), str(temporary).encode(), ctypes.byref(params)
    )
    if status != 0:
        temporary.unlink(missing_ok=True)
        raise EdgeQAError(f"{source}: llama.cpp could not quantize to {quant} (status {status})")
    os.replace(temporary, target)
    return target
