"""Answer-quality levers side by side: recipe x decoding x abstention, on the same questions.

For each fine-tuning run given: export it to Q4_K_M (skipped when already exported), calibrate
its no-answer threshold on the run's validation articles (`edgeqa calibrate`), then evaluate on
the same seeded sample of its held-out test articles with every decoding policy:
free / span decoding, x the model's own abstention / the calibrated threshold on either
no-answer score (the abstention's first-token probability, or the doubt in the decoded answer),
plus free decoding that never abstains (what the model extracts when it must answer). Each row
also gives the ROC AUC of its no-answer probability (answerable vs unanswerable): how much any
threshold can do, and the official script's best F1 with the threshold chosen on the test
questions themselves: a ceiling, not a result. Everything goes through the real CLI; each
step resumes where an interrupted run stopped. Rows of runs not given this time are kept from
the previous results file, in their place.

usage: python benchmarks/research/answer_levers.py --run models/smollm2-squad --run runs/recipe/lr5e-4
writes: benchmarks/results/answer_levers.json and .md (one row per run and policy), and
answer_levers-by-run.md (one row per run, one column per policy: the table the README shows)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from edgeqa.provenance import RunRecord
from edgeqa.run_folder import RunFolder

RESULTS = Path(__file__).parents[1] / "results"
ABSTENTION_LABELS = {"model": "model", "1": "never"}
RECIPE_LEVERS = (
    "lora_r",
    "lora_alpha",
    "use_rslora",
    "target_modules",
    "lr_schedule",
    "answerable_share",
    "context_window",
    "epochs",
    "neftune_alpha",
    "decision_weight",
    "prompt_layout",
)
# (decoding, --na-threshold, --na-score)
POLICIES = (
    ("free", "model", "abstention"),
    ("free", "auto", "abstention"),
    ("free", "1", "abstention"),
    ("free", "auto", "answer"),
    ("span", "model", "abstention"),
    ("span", "auto", "abstention"),
    ("span", "auto", "answer"),
)


def cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "edgeqa", *args], check=True)


def _row(
    run: Path, summary: RunRecord, decoding: str, threshold: str, score: str, out: Path, calibrate_s
) -> dict:
    """One policy's scores on the held-out questions, from its eval folder."""
    metrics = json.loads((out / "metrics.json").read_text())
    official = metrics["official"]
    return {
        "run": run.name,
        "recipe": recipe_summary(summary.config),
        "decoding": decoding,
        "abstention": abstention_label(threshold, score, metrics["na_threshold"]),
        "questions": official["total"],
        "f1": round(official["f1"], 2),
        "exact": round(official["exact"], 2),
        "HasAns_f1": round(official["HasAns_f1"], 2),
        "NoAns_f1": round(official["NoAns_f1"], 2),
        "always_abstain_f1": round(metrics["always_abstain"]["f1"], 2),
        "na_prob_auc": round(metrics["na_prob_auc"], 3),
        "test_chosen_best_f1": round(official["best_f1"], 2),
        "questions_per_s": metrics["this_session"]["questions_per_s"],
        "calibrate_s": round(calibrate_s, 1) if threshold == "auto" else None,
    }


def lever_rows(run: Path, work: Path, limit: int, threads: int) -> list[dict]:
    summary = RunRecord.load(run)
    gguf = work / "export" / f"{run.name}-Q4_K_M.gguf"
    if not gguf.exists():
        cli("export", str(run), "--out", str(gguf.parent), "--quant", "q4_k_m", "--threads", str(threads))
    validation = [a for title in summary.data["val_articles"] for a in ("--article", title)]
    common = ("--threads", str(threads), "--quiet")
    heldout = str(RunFolder(run).heldout)
    rows = []
    for decoding, score in sorted({(d, s) for d, _, s in POLICIES}):
        suffix = "-answer" if score == "answer" else ""
        policy = ("--decoding", decoding, "--na-score", score)
        started = time.perf_counter()
        calibration = work / "calibrate" / f"{run.name}-{decoding}{suffix}"
        cli(
            "calibrate",
            "--model",
            str(gguf),
            "--data",
            summary.data["source"],
            *validation,
            *policy,
            "--out",
            str(calibration),
            *common,
        )
        calibrate_s = time.perf_counter() - started
        for policy_decoding, threshold, policy_score in POLICIES:
            if (policy_decoding, policy_score) != (decoding, score):
                continue
            out = work / "eval" / f"{run.name}-{decoding}-{threshold}{suffix}"
            cli(
                "eval",
                "--model",
                str(gguf),
                "--data",
                heldout,
                "--limit",
                str(limit),
                "--seed",
                "0",
                *policy,
                "--na-threshold",
                threshold,
                "--out",
                str(out),
                *common,
            )
            rows.append(_row(run, summary, decoding, threshold, score, out, calibrate_s))
            print(json.dumps(rows[-1]), flush=True)
    return rows


def recipe_summary(config: dict) -> dict:
    """The learning rate and steps of a run, and each other recipe lever it changed from the
    finetune defaults, so a row names what makes its run different."""
    from edgeqa.finetune.config import FinetuneConfig, config_to_dict

    defaults = config_to_dict(FinetuneConfig())  # as run.json stores them: tuples as lists
    changed = {key: config[key] for key in RECIPE_LEVERS if key in config and config[key] != defaults[key]}
    return {"learning_rate": config["learning_rate"], "max_steps": config["max_steps"], **changed}


def abstention_label(option: str, score: str, threshold: float | None) -> str:
    """ "model", "never", "threshold 0.117" (abstention score) or "doubt > 0.290" (answer score)."""
    if option in ABSTENTION_LABELS:
        return ABSTENTION_LABELS[option]
    if threshold is None:
        return "model (no calibration)"
    return f"doubt > {threshold:.3f}" if score == "answer" else f"threshold {threshold:.3f}"


def merge_previous(rows: list[dict], previous_file: Path) -> list[dict]:
    """The previous results with this time's rows in place of their runs' earlier rows: runs
    keep the order in which they were first measured, and new runs come last."""
    if not previous_file.is_file():
        return rows
    runs = rows_by_run(json.loads(previous_file.read_text()))
    runs.update(rows_by_run(rows))
    return [r for run_rows in runs.values() for r in run_rows]


def rows_by_run(rows: list[dict]) -> dict[str, list[dict]]:
    """Each run's rows, runs in the order they first appear."""
    runs: dict[str, list[dict]] = {}
    for r in rows:
        runs.setdefault(r["run"], []).append(r)
    return runs


def keep_measured_timings(rows: list[dict], previous_file: Path) -> None:
    """A row whose evaluation was already complete measured no speed this time (and its
    calibration only re-read its log): keep the timings the earlier results file measured."""
    if not previous_file.is_file():
        return
    previous = {(r["run"], r["decoding"], r["abstention"]): r for r in json.loads(previous_file.read_text())}
    for row in rows:
        earlier = previous.get((row["run"], row["decoding"], row["abstention"]))
        if row["questions_per_s"] is None and earlier is not None:
            row["questions_per_s"], row["calibrate_s"] = earlier["questions_per_s"], earlier["calibrate_s"]


def markdown(rows: list[dict]) -> str:
    header = (
        "| run | recipe | decoding | abstention | F1 | EM | HasAns F1 | NoAns F1 | always abstain "
        "| NA AUC | test-chosen best F1 | q/s |"
    )
    lines = [header, "|" + "---|" * 12]
    for r in rows:
        recipe = ", ".join(f"{k}={v}" for k, v in r["recipe"].items())
        cells = [r["run"], recipe, r["decoding"], r["abstention"]]
        cells += [f"{r[k]:.2f}" for k in ("f1", "exact", "HasAns_f1", "NoAns_f1", "always_abstain_f1")]
        cells += [f"{r['na_prob_auc']:.3f}", ceiling_cell([r]), str(r["questions_per_s"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


POLICY_COLUMNS = (
    "free, never",
    "free, model",
    "span, model",
    "free, threshold",
    "span, threshold",
    "free, answer score",
    "span, answer score",
)


def policy_label(decoding: str, abstention: str) -> str:
    """The column a row belongs to in the by-run table: its decoding and the kind of abstention,
    without the calibrated threshold's value, which differs from run to run."""
    kind = abstention.split(" ")[0]
    return f"{decoding}, {'answer score' if kind == 'doubt' else kind}"


def ceiling_cell(rows: list[dict]) -> str:
    """The highest official `best_f1` among rows: F1 with the no-answer threshold chosen on the
    test questions themselves, a ceiling no honest calibration can pass ("-" for rows measured
    before it was recorded)."""
    known = [r["test_chosen_best_f1"] for r in rows if "test_chosen_best_f1" in r]
    return f"{max(known):.2f}" if known else "-"


def by_run_markdown(rows: list[dict]) -> str:
    """One line per run: F1 (HasAns F1) under each policy, next to the always-abstain baseline
    of its test articles, the range of its no-answer AUCs and its test-chosen ceiling, so runs
    compare at a glance."""
    header = ["run", "always abstain", *POLICY_COLUMNS, "NA AUC", "test-chosen best F1"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, run_rows in rows_by_run(rows).items():
        cells = {
            policy_label(r["decoding"], r["abstention"]): f"{r['f1']:.1f} ({r['HasAns_f1']:.1f})"
            for r in run_rows
        }
        aucs = sorted({f"{r['na_prob_auc']:.2f}" for r in run_rows}, key=float)
        line = [name, f"{run_rows[0]['always_abstain_f1']:.1f}", *(cells.get(p, "-") for p in POLICY_COLUMNS)]
        line.append(aucs[0] if len(aucs) == 1 else f"{aucs[0]}-{aucs[-1]}")
        line.append(ceiling_cell(run_rows))
        lines.append("| " + " | ".join(line) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", required=True, help="fine-tuning run folder (repeatable)")
    parser.add_argument("--limit", type=int, default=500, help="held-out questions (seeded sample)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", default="runs/answer-levers", help="exports, calibrations and evaluations")
    args = parser.parse_args()
    rows = [
        row for run in args.run for row in lever_rows(Path(run), Path(args.work), args.limit, args.threads)
    ]
    keep_measured_timings(rows, RESULTS / "answer_levers.json")
    rows = merge_previous(rows, RESULTS / "answer_levers.json")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "answer_levers.json").write_text(json.dumps(rows, indent=2) + "\n")
    (RESULTS / "answer_levers.md").write_text(markdown(rows))
    (RESULTS / "answer_levers-by-run.md").write_text(by_run_markdown(rows))
    print(markdown(rows))
    print(by_run_markdown(rows))


if __name__ == "__main__":
    main()
