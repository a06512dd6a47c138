"""The two provenance files every later stage reads: a finetune run's `run.json` and an export's
`<name>.manifest.json`, loaded and saved in one place.

Each is a frozen dataclass of its top-level sections; a file that is not JSON, or lacks a
section, is one line naming the file and what is missing, never a KeyError three stages later.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from edgeqa.errors import EdgeQAError
from edgeqa.run_folder import RunFolder

T = TypeVar("T")


def _load(cls: type[T], path: Path, what: str) -> T:
    if not path.is_file():
        raise EdgeQAError(f"{path}: no such file (expected {what})")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise EdgeQAError(f"{path}: not valid JSON ({exc}); expected {what}") from None
    if not isinstance(record, dict):
        raise EdgeQAError(f"{path}: expected {what} (a JSON object)")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    required = [n for n, f in fields.items() if f.default is dataclasses.MISSING and n != "path"]
    missing = [name for name in required if name not in record]
    if missing:
        raise EdgeQAError(f"{path}: not {what} (no {missing[0]!r})")
    return cls(path=path, **{k: v for k, v in record.items() if k in fields})  # type: ignore[call-arg]


def _save(record: Any) -> Path:
    from edgeqa.fileio import atomic_write_json

    data = {f.name: getattr(record, f.name) for f in dataclasses.fields(record) if f.name != "path"}
    atomic_write_json(record.path, data)
    return record.path


@dataclass(frozen=True)
class RunRecord:
    """`<run>/run.json`: what a finetune run was (config, base, data) and what it measured."""

    path: Path
    config: dict[str, Any]
    base: dict[str, Any]
    data: dict[str, Any]
    metrics: dict[str, Any]
    backend: dict[str, Any] = dataclasses.field(default_factory=dict)
    versions: dict[str, str] = dataclasses.field(default_factory=dict)
    adapter: str = "adapter"

    FILE = RunFolder(Path()).record.name

    @classmethod
    def load(cls, run_dir: Path) -> RunRecord:
        return _load(cls, Path(run_dir) / cls.FILE, "a finished finetune run's run.json")

    @classmethod
    def exists(cls, run_dir: Path) -> bool:
        return (Path(run_dir) / cls.FILE).is_file()

    def save(self) -> Path:
        return _save(self)

    @property
    def run_dir(self) -> Path:
        return self.path.parent

    @property
    def adapter_dir(self) -> Path:
        return self.run_dir / self.adapter

    @property
    def data_format(self) -> str:
        return self.data.get("format", "squad")


@dataclass(frozen=True)
class ExportManifest:
    """`<out>/<name>.manifest.json`: every file an export wrote, how, and how it verified."""

    path: Path
    name: str
    fingerprint: dict[str, Any]
    source: dict[str, Any]
    files: list[dict[str, Any]]
    imatrix: Any = "none"  # "none", or {source, tokens, sha256, ...}
    type_overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    lora_gguf: dict[str, Any] | None = None
    verification: dict[str, Any] = dataclasses.field(default_factory=dict)
    versions: dict[str, str] = dataclasses.field(default_factory=dict)
    export_seconds: float = 0.0

    @classmethod
    def load(cls, path: Path) -> ExportManifest:
        return _load(cls, Path(path), "an edgeqa export manifest")

    def save(self) -> Path:
        return _save(self)

    def file(self, quant: str) -> dict[str, Any]:
        """The entry of one quant type (its file name, size, sha256, verification)."""
        for entry in self.files:
            if entry["quant"] == quant:
                return entry
        raise EdgeQAError(
            f"{self.path}: holds no {quant} file (it has {', '.join(e['quant'] for e in self.files)})"
        )

    @property
    def source_label(self) -> str:
        """What the files were exported from: the run folder's name, else the base file's."""
        run = self.source.get("run")
        return Path(run).name if run else Path(self.source["base"]["ref"]).name
