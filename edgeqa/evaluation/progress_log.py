"""The per-question JSONL log that makes an evaluation resumable.

Each finished question is one line, flushed and fsynced with its chunk, so a killed run loses
at most the chunk in flight. A line cut short by the kill is dropped on the next start; a chunk
logged in part is answered again whole (evaluation/run.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from edgeqa.errors import EdgeQAError
from edgeqa.fileio import atomic_write_json, lock_run_dir


def read_records(path: Path) -> dict[str, dict[str, Any]]:
    """Finished records by question id; a torn last line is removed from the file."""
    if not path.exists():
        return {}
    records: dict[str, dict[str, Any]] = {}
    valid_bytes = 0
    with path.open("rb") as handle:
        for raw in handle:
            try:
                record = json.loads(raw)
            except json.JSONDecodeError:
                break
            if not raw.endswith(b"\n"):
                break
            records[record["id"]] = record
            valid_bytes += len(raw)
    if valid_bytes != path.stat().st_size:
        with path.open("r+b") as handle:
            handle.truncate(valid_bytes)
    return records


class RecordWriter:
    """Appends records durably; use as a context manager."""

    def __init__(self, path: Path):
        self._handle = path.open("a", encoding="utf-8")

    def write(self, records: Iterable[dict[str, Any]]) -> None:
        for record in records:
            self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._handle.close()


def claim_run_dir(
    out_dir: Path, config_name: str, fingerprint: dict[str, Any], details: dict[str, Any]
) -> None:
    """Lock the folder for this process, then record what a resumable run is (`config_name`
    holds the fingerprint and the details), or refuse to mix a different run into a folder
    that already holds one."""
    lock_run_dir(out_dir)
    config_path = out_dir / config_name
    if config_path.exists():
        previous = json.loads(config_path.read_text(encoding="utf-8"))["fingerprint"]
        changed = sorted(k for k in fingerprint if previous.get(k) != fingerprint[k])
        if changed:
            raise EdgeQAError(
                f"{out_dir}: holds a different run (differs in {', '.join(changed)}); "
                "use another --out folder or delete this one"
            )
        return
    atomic_write_json(config_path, {"fingerprint": fingerprint, **details})


def release_unstarted(out_dir: Path, config_name: str, log_name: str) -> None:
    """Forget a claim whose run failed before finishing a single record, so that the same folder
    takes the corrected command (a run that logged anything keeps its claim and resumes)."""
    if not read_records(out_dir / log_name):
        (out_dir / log_name).unlink(missing_ok=True)
        (out_dir / config_name).unlink(missing_ok=True)
