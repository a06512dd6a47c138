"""Quant sweep: file size, perplexity and SQuAD F1 of one model in every standard llama.cpp type.

1. Times `edgeqa export --quant q4_k_m` (HF -> f16 -> q4_k_m, with verification) in a child
   process and records its wall time and peak RSS.
2. Exports the same source to every type in QUANTS (one f16 reference, quantized from it),
   with the export's own perplexity on held-out text.
3. Evaluates each file on the same N SQuAD 2.0 questions (seeded sample) with `edgeqa eval`'s
   runner; each evaluation resumes where it stopped if the sweep is interrupted.

usage: python benchmarks/quant_sweep.py [--base embedded | --run models/<run>] [--limit 300]
writes: benchmarks/results/quant_sweep<-tag>.json, .md and .png
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import RESULTS, write_results

from edgeqa.data.squad import load_squad, select_examples
from edgeqa.evaluation.run import EvalRequest, run_eval
from edgeqa.provenance import ExportManifest
from edgeqa.reader.policy import AnswerPolicy
from edgeqa.reader.threshold import MODEL
from edgeqa.runtime.engine_config import EngineConfig

QUANTS = ("q8_0", "q6_k", "q5_k_m", "q5_k_s", "q4_k_m", "q4_k_s", "q4_1", "q4_0", "q3_k_m", "q2_k")


def export(
    source: list[str], out_dir: Path, quants: str, threads: int
) -> tuple[ExportManifest, float, float]:
    """Run `edgeqa export` as a child; return (manifest, wall seconds, the child's peak RSS in MiB)."""
    command = [sys.executable, "-m", "edgeqa", "export", *source, "--name", "sweep", "--out", str(out_dir)]
    started = time.perf_counter()
    subprocess.run([*command, "--quant", quants, "--threads", str(threads)], check=True)
    wall = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    manifest = ExportManifest.load(out_dir / "sweep.manifest.json")
    return manifest, wall, peak_mib


def plot(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    sizes = [r["size_mib"] for r in rows]
    for axis, key, label in ((left, "perplexity", "perplexity (held-out text)"), (right, "f1", "SQuAD F1")):
        axis.scatter(sizes, [r[key] for r in rows])
        for row in rows:
            axis.annotate(
                row["quant"],
                (row["size_mib"], row[key]),
                fontsize=8,
                xytext=(3, 3),
                textcoords="offset points",
            )
        axis.set_xlabel("file size (MiB)")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--base", default="embedded", help="base to export (default: %(default)s)")
    source.add_argument("--run", help="a finetune run folder instead of a bare base")
    parser.add_argument(
        "--data", required=True, metavar="SQUAD_JSON", help="SQuAD file, e.g. the SQuAD 2.0 dev set"
    )
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", default="runs/quant-sweep", help="exports and eval runs go here")
    parser.add_argument("--tag", default="", help="suffix of the result file names")
    return parser.parse_args()


def _quant_row(entry: dict, metrics: dict) -> dict:
    official = metrics["official"]
    return {
        "quant": entry["quant"],
        "file_type": entry["file_type"],
        "size_mib": round(entry["size_bytes"] / 2**20, 1),
        "perplexity": entry["perplexity"],
        "perplexity_vs_f16": entry["perplexity_vs_reference"],
        "exact": round(official["exact"], 2),
        "f1": round(official["f1"], 2),
        "HasAns_f1": round(official.get("HasAns_f1", 0.0), 2),
        "NoAns_f1": round(official.get("NoAns_f1", 0.0), 2),
    }


def _table(rows: list[dict]) -> str:
    header = "| quant | llama.cpp type | MiB | perplexity | ppl / f16 | EM | F1 | HasAns F1 | NoAns F1 |"
    lines = [header, "|---" * 9 + "|"]
    lines += [
        f"| {r['quant']} | {r['file_type']} | {r['size_mib']} | {r['perplexity']} | {r['perplexity_vs_f16']} "
        f"| {r['exact']} | {r['f1']} | {r['HasAns_f1']} | {r['NoAns_f1']} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    args = _arguments()
    source_args = [args.run] if args.run else ["--base", args.base]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work, prefix=".timed-export-") as scratch:
        _, export_s, export_peak_mib = export(source_args, Path(scratch), "q4_k_m", args.threads)
    manifest, _, _ = export(source_args, work / "gguf", ",".join(QUANTS), args.threads)
    examples = select_examples(load_squad(args.data), limit=args.limit, seed=args.seed)
    rows = []
    for entry in manifest.files:
        request = EvalRequest(
            model=work / "gguf" / entry["file"],
            data=args.data,
            examples=examples,
            out_dir=work / "eval" / entry["quant"],
            engine=EngineConfig(n_threads=args.threads),
            policy=AnswerPolicy(decoding="free", na_threshold=MODEL),
        )
        metrics = run_eval(request)
        rows.append(_quant_row(entry, metrics))
        print(json.dumps(rows[-1]))
    result = {
        "source": {  # file names only: no machine paths in recorded results
            "base": Path(manifest.source["base"]["ref"]).name,
            "base_sha256": manifest.source["base"]["sha256"],
            "run": Path(manifest.source["run"]).name if manifest.source["run"] else None,
        },
        "data": Path(args.data).name,
        "questions": len(examples),
        "seed": args.seed,
        "threads": args.threads,
        "kl_tokens": manifest.verification.get("kl_tokens"),
        "export_q4_k_m_wall_s": round(export_s, 1),
        "export_q4_k_m_peak_rss_mib": round(export_peak_mib, 1),
        "always_abstain_f1": round(metrics["always_abstain"]["f1"], 2),
        "rows": rows,
    }
    stem = f"quant_sweep{'-' + args.tag if args.tag else ''}"
    write_results(stem, result, markdown=_table(rows))
    title = f"{args.run or args.base}: {len(examples)} SQuAD 2.0 questions, {args.threads} threads"
    plot(rows, RESULTS / f"{stem}.png", title)
    print(f"export HF -> f16 -> q4_k_m: {export_s:.1f} s, peak RSS {export_peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
