"""A shipped reader at full speed: its LoRA merged into the base once, cached, then used as is.

Why: the shipped readers are LoRA GGUFs (9 MiB) over the embedded Q4_1 base. Applied at load,
the LoRA costs its own matmuls at every token and the Q4_1 base gets none of llama.cpp's
repacked CPU kernels: half the speed of a plain export. Merged and written as Q8_0 (as fast as
a Q4_K_M here, and close to lossless) it answers as the LoRA does at twice the prompt rate.
The merge takes seconds and happens once per adapter version, in a cache keyed by the
adapter's sha256; the adapter's calibrated thresholds come along (its answers are the same
model's, measured within noise on the dev set; see benchmarks/RESULTS.md).
A GGUF path (the LoRA file itself included) is always used as given.

A merge works in a `.merge-<pid>-*` folder beside its target; one left by a killed process
(about 300 MB) is removed by the next first use, whichever reader it was for.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from edgeqa.errors import EdgeQAError
from edgeqa.fileio import atomic_write_json, sha256_file
from edgeqa.models.registry import READERS, READERS_DIR, resolve_model
from edgeqa.reader.calibration import calibration_path, read_calibration
from edgeqa.user_cache import CACHE_ENV, cache_dir

MERGED_QUANT = "q8_0"
MERGE_FORMAT = 2  # 2: the merged GGUF carries the reader's name (1 kept its base's); a new format merges anew


def resolve_reader_model(model: str | Path | None) -> Path:
    """A --model value as the GGUF to load: a shipped reader's name gives its merged copy."""
    if model is not None and str(model) in READERS:
        return merged_reader(str(model))
    return resolve_model(model)


def merged_reader(name: str) -> Path:
    """The merged Q8_0 of shipped reader `name`, made on first use."""
    adapter = resolve_model(name)
    digest = sha256_file(adapter)
    folder = cache_dir() / "readers" / f"{name}-{digest[:16]}-m{MERGE_FORMAT}"
    target = folder / f"{name}-{MERGED_QUANT.upper()}.gguf"
    remove_abandoned_merges(cache_dir() / "readers")
    if target.is_file():
        return target
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EdgeQAError(
            f"{folder}: cannot create the reader cache ({exc.strerror}); set {CACHE_ENV}"
        ) from None
    print(
        f"edgeqa: first use of {name}: merging its LoRA into the base and writing {MERGED_QUANT.upper()} "
        f"to {folder} (once; about 10 s and 140 MiB)",
        file=sys.stderr,
    )
    started = time.perf_counter()
    _merge_into(adapter, digest, target, name)
    print(f"edgeqa: {name} merged in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return target


def remove_abandoned_merges(readers: Path) -> list[Path]:
    """Remove the work folders of merges whose process is gone (killed mid-merge); returns them.
    A folder named before the owner's pid was part of its name goes once it is a day old."""
    removed = []
    for work in readers.glob("*/.merge-*"):
        owner = work.name.split("-")[1]
        if owner.isdigit():
            abandoned = not _alive(int(owner))
        else:
            try:
                abandoned = time.time() - work.stat().st_mtime > 86_400
            except OSError:  # removed meanwhile by another process
                continue
        if abandoned:
            shutil.rmtree(work, ignore_errors=True)
            removed.append(work)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _merge_into(adapter: Path, digest: str, target: Path, name: str) -> None:
    """Merge, quantize and carry the calibration; every file is whole or absent (concurrent
    first uses each work in their own folder and the last rename wins)."""
    from edgeqa.export.merge_lora_gguf import merge_lora_gguf
    from edgeqa.export.quantize import quantize_gguf
    from edgeqa.hardware import usable_cores
    from edgeqa.models.gguf_info import read_gguf_info
    from edgeqa.prompts import PROMPT_LAYOUT_KEY
    from edgeqa.runtime.llama_session import adapter_base_info

    info = read_gguf_info(adapter)
    base = adapter_base_info(info)
    work = Path(tempfile.mkdtemp(prefix=f".merge-{os.getpid()}-", dir=target.parent))
    try:
        merged = merge_lora_gguf(
            base.path,
            adapter,
            work / "merged-F16.gguf",
            {PROMPT_LAYOUT_KEY: info.prompt_layout, "general.name": name},  # reports name the reader
        )
        quantized = quantize_gguf(merged, work / target.name, MERGED_QUANT, threads=usable_cores())
        if _carry_calibration(adapter, digest, quantized):
            os.replace(calibration_path(quantized), calibration_path(target))
        os.replace(quantized, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _carry_calibration(adapter: Path, digest: str, merged: Path) -> bool:
    """Give `merged` the adapter's calibrated thresholds; False when it has none."""
    source = calibration_path(adapter)
    if not source.is_file():
        return False
    record = read_calibration(source)
    if record["model_sha256"] != digest:
        return False
    atomic_write_json(
        calibration_path(merged),
        {
            **record,
            "model_sha256": sha256_file(merged),
            "inherited_from": f"{READERS_DIR.name}/{adapter.name}",
        },
    )
    return True
