"""Importance-matrix sweep: every standard llama.cpp type of one fine-tuned model, quantized with
and without an importance matrix (`edgeqa export --imatrix auto|none`).

For each file: size, quantize time, KL divergence from the f16 reference (mean, median, p99,
top-1 agreement) and the perplexity ratio on held-out text, as the export's own verification
measures them; for the types in --f1-quants also SQuAD EM/F1/HasAns F1 on --limit seeded
questions (span decoding, the given no-answer threshold). A timed single q4_k_m export with
`--imatrix auto` gives the share of the export's time the matrix takes.

usage: python benchmarks/imatrix_sweep.py --run <run folder> --data <squad-v2-dev.json> --limit 1000
writes: benchmarks/results/imatrix_sweep.json, .md and .png
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from _report import RESULTS, write_results
from quant_sweep import export

from edgeqa.data.squad import load_squad, select_examples
from edgeqa.evaluation.run import EvalRequest, run_eval
from edgeqa.provenance import ExportManifest
from edgeqa.reader.policy import AnswerPolicy
from edgeqa.runtime.engine_config import EngineConfig

STANDARD = ("q8_0", "q6_k", "q5_k_m", "q4_k_m", "q4_k_s", "q4_0", "iq4_xs", "q3_k_m", "q3_k_s", "q2_k")
MATRIX_ONLY = ("iq3_xxs", "iq2_xs")  # llama.cpp refuses or ruins these without a matrix
F1_QUANTS = "f16,q4_k_m,q3_k_m,q2_k"


def drift_rows(manifest: ExportManifest, imatrix: str) -> dict[str, dict]:
    rows = {}
    for entry in manifest.files:
        kl = entry.get("kl_divergence") or {}
        rows[entry["quant"]] = {
            "quant": entry["quant"],
            "imatrix": imatrix if entry["quant"] != "f16" else "-",
            "file_type": entry["file_type"],
            "size_mib": round(entry["size_bytes"] / 2**20, 1),
            "quantize_s": entry.get("quantize_seconds"),
            "kl_mean": kl.get("mean", 0.0),
            "kl_median": kl.get("median", 0.0),
            "kl_p99": kl.get("p99", 0.0),
            "top1": kl.get("top1_agreement", 1.0),
            "ppl_ratio": entry["perplexity_vs_reference"],
        }
    return rows


def plot(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7.5, 4.5))
    for imatrix, marker in (("none", "o"), ("auto", "^")):
        chosen = [r for r in rows if r["imatrix"] == imatrix]
        axis.scatter(
            [r["size_mib"] for r in chosen], [r["kl_mean"] for r in chosen], marker=marker, label=imatrix
        )
        for row in chosen:
            axis.annotate(
                row["quant"],
                (row["size_mib"], row["kl_mean"]),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
    axis.set_yscale("log")
    axis.set_xlabel("file size (MiB)")
    axis.set_ylabel("mean KL divergence from f16")
    axis.legend(title="imatrix")
    axis.grid(alpha=0.3)
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a finetune run folder")
    parser.add_argument(
        "--data", required=True, metavar="SQUAD_JSON", help="SQuAD 2.0 file for the F1 columns"
    )
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--na-threshold", default="auto", help="no-answer threshold of the evals: auto, model or P"
    )
    parser.add_argument(
        "--f1-quants", default=F1_QUANTS, help="types evaluated on SQuAD (default: %(default)s)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", default="runs/imatrix-sweep", help="exports and eval runs go here")
    parser.add_argument(
        "--quants",
        default=",".join(STANDARD + MATRIX_ONLY),
        help="the types swept (default: all listed above)",
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS, help="where the results go")
    return parser.parse_args()


def _add_squad_scores(args, policy: AnswerPolicy, work: Path, manifests: dict, rows: dict, examples) -> None:
    """EM, F1 and HasAns F1 of the --f1-quants files (the f16 once), into their rows."""
    engine = EngineConfig(n_threads=args.threads)
    f1_quants = [q.strip() for q in args.f1_quants.split(",") if q.strip()]
    for mode, manifest in manifests.items():
        for quant in f1_quants:
            if quant not in rows[mode] or (quant == "f16" and mode == "auto"):
                continue
            entry = manifest.file(quant)
            request = EvalRequest(
                model=work / mode / entry["file"],
                data=args.data,
                examples=examples,
                out_dir=work / "eval" / f"{quant}-{mode}",
                engine=engine,
                policy=policy,
            )
            metrics = run_eval(request)["official"]
            rows[mode][quant].update(
                exact=round(metrics["exact"], 2),
                f1=round(metrics["f1"], 2),
                HasAns_f1=round(metrics["HasAns_f1"], 2),
            )
            print(json.dumps(rows[mode][quant]))


def _table(table: list[dict]) -> str:
    columns = ("quant", "imatrix", "type", "MiB", "quantize s", "KL mean", "KL median", "KL p99", "top-1")
    columns += ("ppl ratio", "EM", "F1", "HasAns F1")
    lines = ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    for r in table:
        cells = [r["quant"], r["imatrix"], r["file_type"], r["size_mib"], r["quantize_s"] or "-"]
        cells += [f"{r['kl_mean']:.5f}", f"{r['kl_median']:.5f}", f"{r['kl_p99']:.4f}", f"{r['top1']:.4f}"]
        cells += [r["ppl_ratio"], *(r.get(k, "-") for k in ("exact", "f1", "HasAns_f1"))]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    args = _arguments()
    policy = AnswerPolicy(decoding="span", na_threshold=args.na_threshold)  # fails before any export
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work, prefix=".timed-export-") as scratch:
        timed, export_s, _ = export([args.run], Path(scratch), "q4_k_m", args.threads)
    chosen = {q.strip() for q in args.quants.split(",")}
    standard = [q for q in STANDARD if q in chosen]
    every = standard + [q for q in MATRIX_ONLY if q in chosen]
    if not standard or len(every) != len(chosen):
        raise SystemExit(
            f"--quants: choose from {', '.join(STANDARD + MATRIX_ONLY)} (one standard type at least)"
        )
    manifests = {
        "none": export([args.run, "--imatrix", "none"], work / "none", ",".join(standard), args.threads)[0],
        "auto": export([args.run], work / "auto", ",".join(every), args.threads)[0],
    }
    rows = {mode: drift_rows(manifest, mode) for mode, manifest in manifests.items()}
    examples = select_examples(load_squad(args.data), limit=args.limit, seed=args.seed)
    _add_squad_scores(args, policy, work, manifests, rows, examples)
    table = [rows["none"]["f16"]] + [
        rows[mode][quant] for quant in every for mode in ("none", "auto") if quant in rows[mode]
    ]
    imatrix = timed.imatrix
    result = {
        "run": Path(args.run).name,
        "data": Path(args.data).name,
        "questions": len(examples),
        "seed": args.seed,
        "na_threshold": str(policy.na_threshold),
        "threads": args.threads,
        "kl_tokens": manifests["auto"].verification["kl_tokens"],
        "imatrix": {k: imatrix[k] for k in ("source", "dataset", "tokens", "seconds")},
        "export_q4_k_m_wall_s": round(export_s, 1),
        "imatrix_share_of_export": round(imatrix["seconds"] / export_s, 3),
        "kl_mean_reduction_with_imatrix": {
            quant: round(1 - rows["auto"][quant]["kl_mean"] / rows["none"][quant]["kl_mean"], 3)
            for quant in standard
        },
        "rows": table,
    }
    write_results("imatrix_sweep", result, markdown=_table(table), folder=args.results_dir)
    title = f"{result['run']}: KL divergence over {result['kl_tokens']} held-out tokens"
    plot(table[1:], args.results_dir / "imatrix_sweep.png", title)


if __name__ == "__main__":
    main()
