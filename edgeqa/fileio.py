"""Small file helpers that keep outputs whole: write to a temporary name, then rename."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from edgeqa.errors import EdgeQAError


def write_failure(path: Path, exc: OSError) -> EdgeQAError:
    """A failed write as one line naming the file, with the free space when the disk is full."""
    import errno
    import shutil

    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        folder = next((p for p in (path, *path.parents) if p.exists()), Path("."))
        reason += f"; {shutil.disk_usage(folder).free / 2**20:.0f} MiB free there"
    return EdgeQAError(f"{path}: cannot write ({reason})")


DISK_FULL_MARKERS = ("No space left on device", "Disk quota exceeded", "[Errno 28]", "[Errno 122]")


def disk_full_reason(path: Path, needed_bytes: int, output: str = "") -> str | None:
    """Why writing `path` failed, when it was space: the free space where it is written and
    what the file needs. Space is the cause when the tool's `output` says so or less is free
    than needed (measured before the partial file is removed); None otherwise."""
    import shutil

    folder = next((p for p in (path.parent, *path.parents) if p.exists()), Path("."))
    free = shutil.disk_usage(folder).free
    if free >= needed_bytes and not any(marker in output for marker in DISK_FULL_MARKERS):
        return None
    free_mib, needed_mib = free / 2**20, needed_bytes / 2**20
    return (
        f"the disk is full: {free_mib:.0f} MiB free in {folder}, {path.name} needs about {needed_mib:.0f} MiB"
    )


def atomic_write_text(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of one; a failed write (a full disk)
    leaves no temporary file behind and is a one-line error naming the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise write_failure(path, exc) from None


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def sha256_file(path: Path) -> str:
    """The file's sha256, read once per version of the file: a command asks for a model's hash
    several times (its run fingerprint, its calibration, its reader), and a model is hundreds
    of MiB. A version is the file's identity, size and modification time, as for GGUF headers."""
    stat = Path(path).stat()
    return _sha256(Path(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _sha256(path: Path, inode: int, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def read_yaml(path: Path, kind: str):
    """A YAML file's content; a missing or malformed file is a one-line error naming it."""
    import yaml

    if not path.is_file():
        raise EdgeQAError(f"{path}: {kind} file not found")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc.__class__.__name__
        raise EdgeQAError(f"{path}{where}: invalid YAML ({problem})") from None


_HELD_LOCKS: dict[Path, int] = {}


def ensure_dir(path: Path, option: str = "--out") -> Path:
    """Create `path` as a folder; a file in its way is a one-line error naming the option."""
    if path.exists() and not path.is_dir():
        raise EdgeQAError(f"{option} {path}: is a file, not a folder; name a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise EdgeQAError(f"{option} {path}: a file stands where a folder is needed") from None
    except OSError as exc:
        raise write_failure(path, exc) from None
    return path


def lock_run_dir(path: Path, option: str = "--out") -> None:
    """Hold `path/.lock` for the rest of this process, so that two runs never write into one
    folder: a second run is refused with the holder's pid. The kernel drops the lock when the
    holder exits, however it ends (kill -9 included)."""
    import fcntl

    folder = ensure_dir(path, option).resolve()
    if folder in _HELD_LOCKS:
        return
    descriptor = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(descriptor, 32).decode(errors="replace").strip() or "unknown"
        os.close(descriptor)
        raise EdgeQAError(
            f"{option} {path}: another edgeqa run (pid {holder}) is writing there; "
            "wait for it to finish or use another folder"
        ) from None
    os.ftruncate(descriptor, 0)
    os.write(descriptor, f"{os.getpid()}\n".encode())
    _HELD_LOCKS[folder] = descriptor
