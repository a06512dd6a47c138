"""`edgeqa doctor`: can this machine run edgeqa, and if not, what to do about it.

The one failure users cannot diagnose alone is a llama.cpp build that crashes on quantized
models (the AMX case); the check runs real quantized inference in a child process.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from edgeqa.runtime.smoke import REBUILD_HINT


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    message: str
    required: bool = True


def cpu_flags() -> set[str]:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return set()
    for line in cpuinfo.read_text(encoding="utf-8", errors="ignore").splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def amx_check(flags: set[str], features: list[str], inference_ok: bool) -> Check:
    """The kernel may hide AMX from /proc/cpuinfo while the compiler still builds for it, so the
    build's own feature list and the inference result decide, not the CPU flags alone."""
    cpu_amx = " ".join(sorted(f for f in flags if f.startswith("amx"))) or "none listed in /proc/cpuinfo"
    build_amx = " ".join(sorted(f for f in features if f.startswith("AMX")))
    if not build_amx:
        return Check("AMX", True, f"llama.cpp was built without AMX kernels (CPU AMX flags: {cpu_amx})")
    if inference_ok:
        return Check("AMX", True, f"llama.cpp was built with {build_amx} and quantized inference works")
    return Check(
        "AMX",
        False,
        f"llama.cpp was built with {build_amx} and crashes on quantized models (llama.cpp issue "
        f"20824); {REBUILD_HINT}",
    )


def _module_check(module: str, purpose: str, hint: str, required: bool) -> Check:
    found = importlib.util.find_spec(module) is not None
    return Check(
        module,
        found,
        f"{'installed' if found else 'missing'} ({purpose}){'' if found else '; ' + hint}",
        required,
    )


def run_checks(features: list[str]) -> list[Check]:
    from edgeqa.errors import EdgeQAError
    from edgeqa.export.convert import converter_dir
    from edgeqa.models.registry import embedded_model_path
    from edgeqa.runtime.smoke import run_smoke_check

    try:
        ok, message = run_smoke_check(embedded_model_path())
    except EdgeQAError as exc:
        ok, message = False, str(exc)
    checks = [Check("llama.cpp inference", ok, message), amx_check(cpu_flags(), features, ok)]
    converter = converter_dir() / "convert_hf_to_gguf.py"
    checks.append(
        Check(
            "GGUF converter",
            converter.is_file(),
            "llama.cpp's converter is installed (edgeqa export)"
            if converter.is_file()
            else f"not found under {converter.parent}; run scripts/install.sh (needed by edgeqa export)",
            required=False,
        )
    )
    for module, purpose, hint in (
        ("torch", "finetune, export", "pip install torch==2.13.0 (the CPU build)"),
        ("peft", "finetune, export", "pip install -e ."),
        ("unsloth", "the unsloth backend on NVIDIA GPUs", "pip install 'edgeqa[gpu]' on a GPU machine"),
        ("bitsandbytes", "4-bit QLoRA in the hf backend", "pip install 'edgeqa[gpu]'"),
    ):
        checks.append(_module_check(module, purpose, hint, required=False))
    return checks
