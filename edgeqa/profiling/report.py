"""profile.json, profile.csv, profile.md and two PNG plots from the configuration records."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from edgeqa.fileio import atomic_write_json, atomic_write_text

COLUMNS = (
    ("label", "configuration"),
    ("status", "status"),
    ("model_size_mib", "file MiB"),
    ("load_s", "load s"),
    ("ttft_p50_s", "TTFT p50 s"),
    ("latency_p50_s", "p50 s"),
    ("latency_p95_s", "p95 s"),
    ("latency_p99_s", "p99 s"),
    ("latency_mean_s", "mean s"),
    ("prompt_tokens_per_s", "prompt tok/s"),
    ("generation_tokens_per_s", "gen tok/s"),
    ("peak_rss_mib", "peak RSS MiB"),
    ("steady_rss_mib", "steady RSS MiB"),
    ("latency_p50_spread", "p50 spread"),
)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def markdown(records: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(title for _, title in COLUMNS) + " |", "|---" * len(COLUMNS) + "|"]
    lines += ["| " + " | ".join(_cell(r.get(key)) for key, _ in COLUMNS) + " |" for r in records]
    failed = [f"- {r['label']}: {r['error']}" for r in records if r["status"] != "ok"]
    return "\n".join(lines + (["", *failed] if failed else [])) + "\n"


def csv_text(records: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([key for key, _ in COLUMNS])
    writer.writerows([[_cell(r.get(key)) for key, _ in COLUMNS] for r in records])
    return buffer.getvalue()


def plot(records: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in records if r["status"] == "ok"]
    if not ok:
        return []
    labels = [r["label"] for r in ok]
    height = max(3.0, 0.45 * len(ok) + 1.5)
    figure, axis = plt.subplots(figsize=(9, height))
    axis.boxplot([r["latencies_s"] for r in ok], orientation="horizontal", showfliers=True)
    axis.set_yticks(range(1, len(ok) + 1), labels)
    axis.set_xlabel("end-to-end latency per question (s)")
    axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    latency_png = out_dir / "latency.png"
    figure.savefig(latency_png, dpi=110)
    plt.close(figure)

    figure, axes = plt.subplots(1, 3, figsize=(14, height), sharey=True)
    for axis, key, title in zip(
        axes,
        ("prompt_tokens_per_s", "generation_tokens_per_s", "peak_rss_mib"),
        ("prompt tokens/s", "generation tokens/s", "peak RSS (MiB)"),
        strict=True,
    ):
        axis.barh(labels, [r.get(key) or 0 for r in ok])
        axis.set_title(title)
        axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    rates_png = out_dir / "throughput_rss.png"
    figure.savefig(rates_png, dpi=110)
    plt.close(figure)
    return [latency_png, rates_png]


def write_report(records: list[dict[str, Any]], system: dict[str, Any], out_dir: Path) -> list[Path]:
    atomic_write_json(out_dir / "profile.json", {"system": system, "configurations": records})
    atomic_write_text(out_dir / "profile.csv", csv_text(records))
    table = markdown(records)
    header = f"Profiled on {system['cpu']} ({system['usable_cpus']} usable CPUs), llama-cpp-python "
    header += f"{system['versions'].get('llama_cpp_python')}.\n\n"
    atomic_write_text(out_dir / "profile.md", header + table)
    written = [out_dir / name for name in ("profile.json", "profile.csv", "profile.md")]
    return written + plot(records, out_dir)
