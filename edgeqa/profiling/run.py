"""Profile each configuration in a child process (edgeqa.isolation) and summarize it.

Steady RSS is the median of the psutil samples taken while the questions were answered;
peak RSS is the child's high-water mark.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeqa.isolation import run_child, run_keyed
from edgeqa.profiling.spec import ProfileSpec
from edgeqa.profiling.stats import summarize


def run_configuration(spec: ProfileSpec, timeout_s: float) -> dict[str, Any]:
    """Profile one configuration in a child; a crash or timeout comes back as a failed record."""
    record: dict[str, Any] = {"label": spec.label, "spec": spec.to_dict()}
    if spec.backend == "llama.cpp":
        record["model_size_mib"] = round(Path(spec.model).stat().st_size / 2**20, 1)
    outcome = run_child("edgeqa.profiling.worker", spec.to_dict(), timeout_s)
    record["peak_rss_mib"] = outcome.peak_rss_mib
    if outcome.status != "ok":
        return {**record, "status": outcome.status, "error": outcome.error}
    result, samples = outcome.result, outcome.rss_samples
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
    jobs = [(spec.key, lambda spec=spec: run_configuration(spec, timeout_s)) for spec in specs]
    return run_keyed(jobs, out_dir / "configs", on_done)
