"""The pipeline's report: one Markdown file and its plots, readable without edgeqa installed."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeqa.fileio import atomic_write_text
from edgeqa.profiling.report import markdown as profile_table
from edgeqa.run_folder import RunFolder

METRIC_KEYS = (("f1", "F1"), ("HasAns_f1", "HasAns F1"), ("NoAns_f1", "NoAns F1"))


if TYPE_CHECKING:
    from edgeqa.provenance import ExportManifest, RunRecord


def _plot_accuracy(evals: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    labels = list(evals)
    width = 0.8 / len(METRIC_KEYS)
    figure, axis = plt.subplots(figsize=(max(6, 1.6 * len(labels)), 4.2))
    for i, (key, title) in enumerate(METRIC_KEYS):
        values = [evals[label]["official"].get(key, 0.0) for label in labels]
        axis.bar(np.arange(len(labels)) + i * width, values, width, label=title)
    abstain = next(iter(evals.values()))["always_abstain"]["f1"]
    axis.axhline(abstain, color="gray", linestyle="--", label=f"always abstain F1 ({abstain:.1f})")
    axis.set_xticks(np.arange(len(labels)) + width, labels, rotation=20, ha="right", fontsize=8)
    axis.set_ylabel("score")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _plot_sizes(files: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 3))
    axis.bar([f["quant"] for f in files], [f["size_bytes"] / 2**20 for f in files])
    axis.set_ylabel("file size (MiB)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _accuracy_rows(evals: dict[str, dict]) -> list[str]:
    from edgeqa.evaluation.report import answer_policy

    header = "| model | answers | EM | F1 | HasAns F1 | NoAns F1 | best F1 (threshold) |"
    rows = [header, "|---" * 7 + "|"]
    for label, metrics in evals.items():
        o = metrics["official"]
        rows.append(
            f"| {label} | {answer_policy(metrics)} | {o['exact']:.2f} | {o['f1']:.2f} | "
            f"{o.get('HasAns_f1', 0):.2f} | {o.get('NoAns_f1', 0):.2f} | "
            f"{o['best_f1']:.2f} ({o['best_f1_thresh']:.3f}) |"
        )
    abstain = next(iter(evals.values()))["always_abstain"]
    rows.append(f"| always abstain | | {abstain['exact']:.2f} | {abstain['f1']:.2f} | 0.00 | 100.00 | - |")
    return rows


def _against_abstaining(evals: dict[str, dict]) -> list[str]:
    """Where each row stands against answering nothing, in words: on SQuAD 2.0 a reader is only
    worth running if it beats that line."""
    abstain = next(iter(evals.values()))["always_abstain"]["f1"]
    lines = []
    for label, metrics in evals.items():
        gap = metrics["official"]["f1"] - abstain
        where = f"{gap:.2f} above" if gap > 0 else f"{-gap:.2f} below" if gap < 0 else "level with"
        lines.append(f"- {label}: F1 {metrics['official']['f1']:.2f}, {where} always abstaining.")
    return lines


def _comparisons(evals: dict[str, dict], profile: list[dict], roles: dict[str, str]) -> list[str]:
    """Plain sentences for the comparisons the report exists to make."""
    f1 = {label: m["official"]["f1"] for label, m in evals.items()}
    lines = []
    readers = [label for label in f1 if label.startswith("reader ") and label not in roles]
    adapted = [
        label for label, role in roles.items() if role == "fine-tuned q" and label.startswith("reader ")
    ]
    if readers and adapted:
        lines.append(
            f"- {readers[0]} vs {adapted[0]}: F1 {f1[readers[0]]:.2f} → {f1[adapted[0]]:.2f} "
            f"({f1[adapted[0]] - f1[readers[0]]:+.2f} from adapting it to the training article)."
        )
    if "base" in f1 and "fine-tuned q" in roles.values():
        tuned = next(label for label, role in roles.items() if role == "fine-tuned q")
        lines.append(
            f"- base vs fine-tuned: F1 {f1['base']:.2f} → {f1[tuned]:.2f} ({f1[tuned] - f1['base']:+.2f})."
        )
    if "fine-tuned f16" in roles.values() and "fine-tuned q" in roles.values():
        reference = next(label for label, role in roles.items() if role == "fine-tuned f16")
        quantized = next(label for label, role in roles.items() if role == "fine-tuned q")
        lines.append(
            f"- {reference} vs {quantized}: F1 {f1[reference]:.2f} vs {f1[quantized]:.2f} "
            f"({f1[quantized] - f1[reference]:+.2f} from quantization)."
        )
    ok = [r for r in profile if r["status"] == "ok"]
    hf = [r for r in ok if r["spec"]["backend"] == "transformers"]
    cpp = [r for r in ok if r["spec"]["backend"] == "llama.cpp"]
    if hf and cpp:
        fastest = min(cpp, key=lambda r: r["latency_p50_s"])
        lines.append(
            f"- llama.cpp vs transformers on this CPU: p50 latency {fastest['latency_p50_s']:.2f} s "
            f"({fastest['label']}) vs {hf[0]['latency_p50_s']:.2f} s ({hf[0]['label']}); peak RSS "
            f"{fastest['peak_rss_mib']:.0f} vs {hf[0]['peak_rss_mib']:.0f} MiB."
        )
    return lines


@dataclass(frozen=True)
class PipelineOutcome:
    """Everything the report is written from."""

    run: RunRecord
    run_dir: Path
    heldout_source: str
    calibration_source: str | None  # where each model's threshold was chosen (None: not calibrated)
    evals: dict[str, dict]
    roles: dict[str, str]
    manifest: ExportManifest
    profile: list[dict]
    profile_dir: Path
    system: dict[str, Any]
    step_seconds: dict[str, float]  # each step's own time (a step kept from an earlier run: ~0)


def _training_section(outcome: PipelineOutcome) -> list[str]:
    run, metrics, data = outcome.run, outcome.run.metrics, outcome.run.data
    started_from = (data.get("warm_start") or {}).get("from")
    start = f", starting from the adapter of {started_from}" if started_from else ""
    return [
        "## Training",
        "",
        f"Base `{Path(run.base['ref']).name}`{start}, backend {run.backend['name']}, "
        f"{run.config['method']} r{run.config['lora_r']}/alpha{run.config['lora_alpha']}; "
        f"{data['train_questions']} training questions from {', '.join(data['train_articles'])}. "
        f"{metrics['steps']} steps in {metrics['train_seconds'] / 60:.1f} min "
        f"({metrics['tokens_per_second']} tokens/s); best validation loss {metrics['best_val_loss']:.3f}.",
        "",
        "![loss curve](loss.png)",
        "",
    ]


def _accuracy_section(outcome: PipelineOutcome) -> list[str]:
    questions = next(iter(outcome.evals.values()))["official"]["total"]
    source = outcome.calibration_source
    trained_on = (
        "" if source != "training articles" else " (for a fine-tuned model, its own training questions)"
    )
    thresholds = (
        " Each model abstains above its own no-answer threshold (`answers`): the one that gives it the "
        f"best F1 on questions of the {source}{trained_on}, never on the questions it is scored on."
        if source
        else ""
    )
    return [
        "## Accuracy",
        "",
        f"The same {questions} questions for every model, from the {outcome.heldout_source}; greedy answers, "
        f"scored with the official SQuAD 2.0 rules.{thresholds}",
        "",
        *_accuracy_rows(outcome.evals),
        "",
        "![accuracy](accuracy.png)",
        "",
        *_against_abstaining(outcome.evals),
        *_comparisons(outcome.evals, outcome.profile, outcome.roles),
        "",
    ]


def _export_section(manifest: ExportManifest) -> list[str]:
    verification = manifest.verification.get("hf_vs_f16", {})
    return [
        "## Export",
        "",
        "| file | MiB | perplexity | vs reference |",
        "|---|---|---|---|",
        *[
            f"| {f['file']} | {f['size_bytes'] / 2**20:.1f} | {f.get('perplexity', '-')} | "
            f"{f.get('perplexity_vs_reference', '-')} |"
            for f in manifest.files
        ],
        "",
        f"Merged HF model vs the reference GGUF: top-1 agreement {verification.get('top1_agreement', '-')} "
        f"on {verification.get('prompts', '-')} prompts, largest logit difference "
        f"{verification.get('max_logit_diff', float('nan')):.3f}.",
        "",
        "![sizes](sizes.png)",
        "",
    ]


def _copy_plots(outcome: PipelineOutcome, out_dir: Path) -> None:
    _plot_accuracy(outcome.evals, out_dir / "accuracy.png")
    _plot_sizes(outcome.manifest.files, out_dir / "sizes.png")
    sources = {
        "loss.png": RunFolder(outcome.run_dir).loss_plot,
        "latency.png": outcome.profile_dir / "latency.png",
        "throughput_rss.png": outcome.profile_dir / "throughput_rss.png",
    }
    for name, source in sources.items():
        if source.is_file():
            shutil.copy(source, out_dir / name)


def write_pipeline_report(out_dir: Path, outcome: PipelineOutcome) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    _copy_plots(outcome, out_dir)
    system = outcome.system
    lines = [
        f"# edgeqa pipeline report: {outcome.run_dir.name}",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')} · {system['cpu']} · {system['usable_cpus']} usable CPUs · "
        f"llama-cpp-python {system['versions'].get('llama_cpp_python')}",
        "",
        "Time per step: "
        + ", ".join(f"{step} {seconds / 60:.1f} min" for step, seconds in outcome.step_seconds.items())
        + " (a step kept from an earlier run takes none).",
        "",
        *_training_section(outcome),
        *_accuracy_section(outcome),
        *_export_section(outcome.manifest),
        "## Latency and memory on this CPU",
        "",
        "One question at a time, each a cold request; latency from the raw question to the last token.",
        "",
        profile_table(outcome.profile),
        "![latency](latency.png)",
        "",
        "![tokens/s and RSS](throughput_rss.png)",
        "",
    ]
    report = out_dir / "report.md"
    atomic_write_text(report, "\n".join(lines))
    return report
