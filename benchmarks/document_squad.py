"""Document-level SQuAD: every question asked against its whole article, beside its paragraph.

Two `edgeqa eval` runs of one reader on the same questions, every question answered
(`--na-threshold 1`, so one run gives every threshold's score): `--context paragraph` (SQuAD as
usual) and `--context article` (all paragraphs of the article joined, thousands of tokens, read
in windows). Reported for each: F1, HasAns F1 and NoAns F1 at the reader's calibrated threshold,
never-abstain HasAns F1, NA AUC, best F1, seconds per question, how many answers sit at their
character offsets (context[start:end] == text); and, for the article run, how
the per-window no-answer probabilities are best combined (the lowest window's, the chosen
window's, their mean). The runs are resumable eval folders under --work.

usage: python benchmarks/document_squad.py <squad-v2-dev.json> [--model smollm2-135m-squad]
       [--work runs/document_squad] [--threads 2] [--stem document_squad]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import write_results
from edgeqa.data.squad import as_articles, load_squad
from edgeqa.evaluation.run import EvalRequest, run_eval
from edgeqa.reader.policy import AnswerPolicy
from edgeqa.reader.shipped import resolve_reader_model
from edgeqa.reader.threshold import ALWAYS_ANSWER
from edgeqa.runtime.engine_config import EngineConfig
from edgeqa.squad_metrics import GoldQuestion, evaluate, no_answer_auc

NA_RULES = {
    "lowest window (edgeqa's)": lambda probs, chosen: min(probs.values()),
    "chosen window": lambda probs, chosen: probs.get(str(chosen), min(probs.values())),
    "mean of windows read": lambda probs, chosen: statistics.fmean(probs.values()),
}


def _scores(golds: list[GoldQuestion], predictions: dict, na_probs: dict, threshold: float) -> dict[str, Any]:
    never = evaluate(golds, predictions, na_probs, 1.0)
    shipped = evaluate(golds, predictions, na_probs, threshold)
    return {
        "f1": round(shipped["f1"], 2),
        "HasAns_f1": round(shipped["HasAns_f1"], 2),
        "NoAns_f1": round(shipped["NoAns_f1"], 2),
        "never_abstain_HasAns_f1": round(never["HasAns_f1"], 2),
        "na_auc": round(no_answer_auc(golds, na_probs), 4),
        "best_f1": round(never["best_f1"], 2),
        "best_threshold": round(never["best_f1_thresh"], 4),
    }


def _run(model: Path, examples, data: str, out: Path, threads: int) -> dict[str, Any]:
    request = EvalRequest(
        model=model,
        data=data,
        examples=examples,
        out_dir=out,
        engine=EngineConfig(n_threads=threads),
        policy=AnswerPolicy(na_threshold=ALWAYS_ANSWER),
    )
    return run_eval(request)


def _rules(golds: list[GoldQuestion], out: Path, threshold: float) -> dict[str, Any]:
    """Each no-answer combination scored on the article run's own per-window probabilities."""
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines() if line.strip()]
    predictions = {r["id"]: r["prediction"] for r in log}
    rows = {}
    for name, rule in NA_RULES.items():
        na_probs = {r["id"]: rule(r["window_na_probs"], r["window"]) for r in log}
        rows[name] = _scores(golds, predictions, na_probs, threshold)
    return rows


def _offsets_exact(examples, out: Path) -> str:
    """How many answers sit at their logged offsets: context[start:start + len] == text."""
    contexts = {e.qid: e.context for e in examples}
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines() if line.strip()]
    answered = [r for r in log if r["prediction"]]
    exact = sum(
        1
        for r in answered
        if r["start"] is not None
        and contexts[r["id"]][r["start"] : r["start"] + len(r["prediction"])] == r["prediction"]
    )
    return f"{exact} of {len(answered)}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--model", default="smollm2-135m-squad")
    parser.add_argument("--work", type=Path, default=Path("runs/document_squad"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--stem", default="document_squad")
    args = parser.parse_args()

    model = resolve_reader_model(args.model)
    threshold = AnswerPolicy().threshold_for(model)
    paragraphs = load_squad(args.data)
    golds = [GoldQuestion(e.qid, e.answers) for e in paragraphs]
    result: dict[str, Any] = {
        "data": Path(args.data).name,
        "model": args.model,
        "questions": len(paragraphs),
        "threshold": threshold.value,
        "threshold_source": threshold.reason,
    }
    for context, examples in (("paragraph", paragraphs), ("article", as_articles(paragraphs))):
        out = args.work / context
        metrics = run_eval_or_reuse(model, examples, args.data, out, args.threads)
        predictions = json.loads((out / "predictions.json").read_text())
        na_probs = json.loads((out / "na_prob.json").read_text())
        row = _scores(golds, predictions, na_probs, threshold.value if threshold.value is not None else 1.0)
        session = metrics["this_session"]
        row["seconds_per_question"] = (
            round(session["wall_s"] / session["questions"], 4) if session["questions"] else None
        )
        row["prompt_tokens_per_question"] = round(metrics["prompt_tokens"] / len(examples), 1)
        row["answers_at_their_offsets"] = _offsets_exact(examples, out)
        result[context] = row
    result["na_rules_article"] = _rules(golds, args.work / "article", threshold.value or 1.0)
    paragraph, article = result["paragraph"], result["article"]
    result["targets"] = {
        "f1_drop": round(paragraph["f1"] - article["f1"], 2),
        "never_abstain_HasAns_ratio": round(
            article["never_abstain_HasAns_f1"] / paragraph["never_abstain_HasAns_f1"], 3
        ),
        "seconds_ratio": round(article["seconds_per_question"] / paragraph["seconds_per_question"], 2)
        if article["seconds_per_question"] and paragraph["seconds_per_question"]
        else None,
    }
    write_results(args.stem, result)
    return 0


def run_eval_or_reuse(model: Path, examples, data: str, out: Path, threads: int) -> dict[str, Any]:
    """The run's metrics; a finished folder is only rescored. The timing of the session that
    answered the questions is kept in timing.json (a rescoring rewrites metrics.json)."""
    timing = out / "timing.json"
    earlier = out / "metrics.json"
    if not timing.exists() and earlier.exists():
        answered = json.loads(earlier.read_text())["this_session"]
        if answered["questions"]:
            timing.write_text(json.dumps(answered))
    metrics = _run(model, examples, data, out, threads)
    if metrics["this_session"]["questions"]:
        timing.write_text(json.dumps(metrics["this_session"]))
    if timing.exists():
        metrics["this_session"] = json.loads(timing.read_text())
    return metrics


if __name__ == "__main__":
    sys.exit(main())
