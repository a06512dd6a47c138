"""Raw records from a data source, shared by the SQuAD and the instruction loaders: one place
that reads JSON, JSON Lines and hub data sets and turns their failures into one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgeqa.errors import EdgeQAError


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise EdgeQAError(f"{path}: not a UTF-8 text file") from None


def read_json(path: Path) -> Any:
    try:
        return json.loads(_text(path))
    except json.JSONDecodeError as exc:
        raise EdgeQAError(f"{path}: invalid JSON at line {exc.lineno} ({exc.msg})") from None


def jsonl_records(path: Path) -> list[tuple[str, Any]]:
    """(where, record) for each non-blank line; `where` is `path:line` for error messages."""
    records = []
    for number, line in enumerate(_text(path).splitlines(), start=1):
        if line.strip():
            try:
                records.append((f"{path}:{number}", json.loads(line)))
            except json.JSONDecodeError as exc:
                raise EdgeQAError(f"{path}:{number}: invalid JSON ({exc.msg})") from None
    return records


def local_file(source: str | Path) -> Path | None:
    """`source` as a local data file, or None when it names a hub data set; a folder, a missing
    .json/.jsonl file or an empty name is one line saying which."""
    path = Path(source)
    if path.is_file():
        return path
    if path.is_dir():
        raise EdgeQAError(f"{source}: is a folder; name a SQuAD .json or .jsonl file in it (or a hub id)")
    if path.suffix in {".json", ".jsonl"} or path.exists():
        raise EdgeQAError(f"{source}: no such data file")
    if not str(source).strip() or str(source).startswith(":"):
        raise EdgeQAError(f"{source!r}: names no data file or hub id (expected PATH or PATH:key=value)")
    return None


def hub_rows(dataset_id: str, split: str) -> list[dict[str, Any]]:
    try:
        import datasets
    except ImportError:
        raise EdgeQAError(f"loading '{dataset_id}' from the hub needs the 'datasets' package") from None
    try:
        rows = datasets.load_dataset(dataset_id, split=split)
    except Exception as exc:  # the hub raises many types; the user needs one line
        raise EdgeQAError(f"cannot load data set '{dataset_id}' (split {split}): {exc}") from None
    return [dict(row) for row in rows]
