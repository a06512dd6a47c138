"""Run each configuration in a child process, sample its memory, and keep finished results.

Peak RSS is the kernel's own high-water mark for the child (wait4's ru_maxrss), so a spike
between two samples is not missed; steady RSS is the median of psutil samples taken while the
questions were answered. A configuration whose result file exists is not run again, so an
interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeqa.fileio import atomic_write_json
from edgeqa.profiling.spec import ProfileSpec
from edgeqa.profiling.stats import summarize

SAMPLE_INTERVAL_S = 0.02


def _sample_until_exit(process: subprocess.Popen, timeout_s: float) -> tuple[int | None, Any, list]:
    """(wait status or None on timeout, rusage, [(unix time, rss bytes)])."""
    import psutil

    watched = psutil.Process(process.pid)
    samples: list[tuple[float, int]] = []
    deadline = time.monotonic() + timeout_s
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid == process.pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return status, usage, samples
        if time.monotonic() > deadline:
            process.kill()
            _, _, usage = os.wait4(process.pid, 0)
            process.returncode = -9
            return None, usage, samples
        with contextlib.suppress(psutil.Error):
            samples.append((time.time(), watched.memory_info().rss))
        time.sleep(SAMPLE_INTERVAL_S)


def run_configuration(spec: ProfileSpec, timeout_s: float) -> dict[str, Any]:
    """Profile one configuration in a child; a crash or timeout comes back as a failed record."""
    record: dict[str, Any] = {"label": spec.label, "spec": spec.to_dict()}
    if spec.backend == "llama.cpp":
        record["model_size_mib"] = round(Path(spec.model).stat().st_size / 2**20, 1)
    with tempfile.TemporaryDirectory(prefix="edgeqa-profile-") as scratch:
        spec_path, out_path = Path(scratch, "spec.json"), Path(scratch, "result.json")
        spec_path.write_text(json.dumps(spec.to_dict()), encoding="utf-8")
        log = Path(scratch, "stderr.log")
        with log.open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "edgeqa.profiling.worker", str(spec_path), str(out_path)],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
            status, usage, samples = _sample_until_exit(process, timeout_s)
        record["peak_rss_mib"] = round(usage.ru_maxrss / 1024, 1)
        if status is None:
            return {**record, "status": "timeout", "error": f"did not finish in {timeout_s:.0f} s"}
        if process.returncode != 0:
            tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] or [""]
            how = f"crashed (signal {-process.returncode})" if process.returncode < 0 else "failed"
            return {
                **record,
                "status": "crashed" if process.returncode < 0 else "failed",
                "error": f"{how}: {tail[0]}",
            }
        result = json.loads(out_path.read_text(encoding="utf-8"))
    window = [rss for t, rss in samples if result["measure_started"] <= t <= result["measure_ended"]]
    window = window or [rss for _, rss in samples]
    record.update(
        status="ok",
        load_s=round(result["load_s"], 3),
        steady_rss_mib=round(sorted(window)[len(window) // 2] / 2**20, 1) if window else None,
        rss_samples=len(samples),
        **summarize(result["passes"]),
        latencies_s=[round(a["latency_s"], 4) for one_pass in result["passes"] for a in one_pass],
        answers_first_pass=[a["answer"] for a in result["passes"][0]],
    )
    return record


def run_profile(
    specs: list[ProfileSpec],
    out_dir: Path,
    timeout_s: float,
    on_done: Callable[[dict[str, Any], bool], None] = lambda record, cached: None,
) -> list[dict[str, Any]]:
    """Every configuration's record, running only those without a result in out_dir/configs."""
    folder = out_dir / "configs"
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for spec in specs:
        path = folder / f"{spec.key}.json"
        cached = path.is_file()
        record = (
            json.loads(path.read_text(encoding="utf-8")) if cached else run_configuration(spec, timeout_s)
        )
        if not cached and record["status"] == "ok":
            atomic_write_json(path, record)
        on_done(record, cached)
        records.append(record)
    return records
