"""Run one measurement in a child process and watch its memory.

Why a child: memory readings start clean, and a native crash (llama.cpp's AMX case, an
out-of-memory kill at a long context) or a hang ends that measurement, not the whole sweep.
Peak RSS is the kernel's own high-water mark of the child's address space (VmHWM), which the
child reads as it ends, so a spike between two psutil samples is not missed. (wait4's
ru_maxrss would not do: Linux carries the parent's RSS at fork into it, so a child of a large
process, such as the pipeline after training, would report the parent's size.) A child that
dies before reporting gets the largest psutil sample instead. Finished results are kept by
key, so a sweep resumes.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeqa.fileio import atomic_write_json, lock_run_dir

SAMPLE_INTERVAL_S = 0.02


@dataclass
class ChildOutcome:
    status: str  # ok | failed | crashed | timeout
    peak_rss_mib: float
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    rss_samples: list[tuple[float, int]] = field(default_factory=list)  # (unix time, bytes)


def _sample_until_exit(process: subprocess.Popen, timeout_s: float) -> tuple[int | None, list]:
    """(wait status or None on timeout, [(unix time, rss bytes)])."""
    import psutil

    watched = psutil.Process(process.pid)
    samples: list[tuple[float, int]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            pid, status = os.waitpid(process.pid, os.WNOHANG)
            if pid == process.pid:
                process.returncode = os.waitstatus_to_exitcode(status)
                return status, samples
            if time.monotonic() > deadline:
                process.kill()
                os.waitpid(process.pid, 0)
                process.returncode = -9
                return None, samples
            with contextlib.suppress(psutil.Error):
                samples.append((time.time(), watched.memory_info().rss))
            time.sleep(SAMPLE_INTERVAL_S)
    except BaseException:  # Ctrl-C or SIGTERM reached only this process: take the child along
        process.kill()
        process.wait()
        raise


def run_child(module: str, payload: dict[str, Any], timeout_s: float) -> ChildOutcome:
    """`python -m module PAYLOAD.json RESULT.json` in a child; its result or why there is none."""
    with tempfile.TemporaryDirectory(prefix="edgeqa-child-") as scratch:
        payload_path, out_path = Path(scratch, "payload.json"), Path(scratch, "result.json")
        payload_path.write_text(json.dumps(payload), encoding="utf-8")
        log = Path(scratch, "stderr.log")
        with log.open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", module, str(payload_path), str(out_path)],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
            status, samples = _sample_until_exit(process, timeout_s)
        peak = round(max((rss for _, rss in samples), default=0) / 2**20, 1)
        if status is None:
            return ChildOutcome(
                "timeout", peak, error=f"did not finish in {timeout_s:.0f} s", rss_samples=samples
            )
        if process.returncode != 0:
            tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] or [""]
            crashed = process.returncode < 0
            how = f"crashed (signal {-process.returncode})" if crashed else "failed"
            return ChildOutcome(
                "crashed" if crashed else "failed", peak, error=f"{how}: {tail[0]}", rss_samples=samples
            )
        result = json.loads(out_path.read_text(encoding="utf-8"))
        peak = max(result.pop("_peak_rss_mib", None) or 0.0, peak)  # VmHWM, or a later sample
        return ChildOutcome("ok", peak, result, rss_samples=samples)


def own_peak_rss_mib() -> float | None:
    """This process's RSS high-water mark since exec (VmHWM), where /proc has it."""
    status = Path("/proc/self/status")
    if not status.is_file():
        return None
    for line in status.read_text(encoding="utf-8").splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def child_main(run: Callable[[dict[str, Any]], dict[str, Any]], argv: list[str]) -> int:
    """The child's side: read the payload, run, write the result with its peak RSS."""
    payload_path, out_path = Path(argv[0]), Path(argv[1])
    result = run(json.loads(payload_path.read_text(encoding="utf-8")))
    out_path.write_text(json.dumps({**result, "_peak_rss_mib": own_peak_rss_mib()}), encoding="utf-8")
    return 0


def run_keyed(
    jobs: Iterable[tuple[str, Callable[[], dict[str, Any]]]],
    folder: Path,
    on_done: Callable[[dict[str, Any], bool], None],
) -> list[dict[str, Any]]:
    """Each job's record, kept in folder/<key>.json once it succeeded and reused on a re-run;
    the folder is this process's alone while it runs."""
    lock_run_dir(folder)
    records = []
    for key, job in jobs:
        path = folder / f"{key}.json"
        cached = path.is_file()
        record = json.loads(path.read_text(encoding="utf-8")) if cached else job()
        if not cached and record["status"] == "ok":
            atomic_write_json(path, record)
        on_done(record, cached)
        records.append(record)
    return records
