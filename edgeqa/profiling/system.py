"""The hardware and build a measurement ran on, so numbers from two machines are never mixed up."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from edgeqa.hardware import usable_cores
from edgeqa.versions import library_version

LIBRARIES = ("llama_cpp_python", "torch", "transformers", "peft", "gguf", "numpy", "psutil")


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="ignore").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def llama_cpp_features(system_info: str) -> list[str]:
    """Instruction sets and options llama.cpp reports as on ('AVX2 = 1 | AMX_INT8 = 1 | ...')."""
    features = []
    for part in system_info.replace(";", "|").split("|"):
        name, _, value = part.rpartition("=")
        name = name.split(":")[-1].strip()
        if name and value.strip() == "1":
            features.append(name)
    return features


def system_report() -> dict[str, Any]:
    import llama_cpp
    import psutil

    info = llama_cpp.llama_print_system_info().decode("utf-8", errors="replace").strip()
    return {
        "cpu": cpu_model(),
        "machine": platform.machine(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable_cores(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "llama_cpp_features": llama_cpp_features(info),
        "llama_cpp_system_info": info,
        "versions": {name: library_version(name.replace("_", "-")) for name in LIBRARIES},
    }


def report_lines(report: dict[str, Any]) -> list[str]:
    """The report as `key: value` lines for a terminal."""
    versions = ", ".join(f"{k} {v}" for k, v in report["versions"].items() if v)
    return [
        f"cpu: {report['cpu']} ({report['machine']}, {report['usable_cpus']} usable of "
        f"{report['logical_cpus']} logical CPUs, {report['ram_gib']} GiB RAM)",
        f"os: {report['os']}, python {report['python']}",
        f"llama.cpp features: {' '.join(report['llama_cpp_features']) or '(none reported)'}",
        f"libraries: {versions}",
    ]
