"""Which versions of the libraries that shape a result are installed: recorded with every run,
export and measurement, collected here once."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

TRACKED = (
    "edgeqa",
    "llama-cpp-python",
    "torch",
    "transformers",
    "peft",
    "gguf",
    "unsloth",
    "numpy",
    "psutil",
)


def library_version(distribution: str) -> str | None:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def library_versions(distributions: tuple[str, ...] = TRACKED) -> dict[str, str]:
    """Distribution -> version, for those installed."""
    found = {name: library_version(name) for name in distributions}
    return {name: value for name, value in found.items() if value is not None}
