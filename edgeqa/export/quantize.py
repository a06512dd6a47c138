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
from collections.abc import Iterator
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


def quantize_gguf(source: Path, target: Path, quant: str, threads: int = 2) -> Path:
    """Write `target` as `source` in type `quant`; written under a temporary name, then renamed.
    llama.cpp's messages go to `<target>.quantize.log`; a summary line is printed instead."""
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
        temporary.unlink(missing_ok=True)
        raise EdgeQAError(f"{source}: llama.cpp could not quantize to {quant} (status {status})")
    os.replace(temporary, target)
    return target
