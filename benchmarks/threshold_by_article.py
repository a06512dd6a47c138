"""The no-answer threshold calibrated on real SQuAD 2.0 unanswerables, never on the test article.

A threshold calibrated on made unanswerables (the run's validation.json) transfers badly to
SQuAD 2.0's own: the model's no-answer probabilities sit on another scale for them. This scores
the other choice, real unanswerables, without letting a question choose its own threshold:
leave one article out. For each article, the best-F1 threshold is chosen (the official
find_best_thresh) on the questions of every other article, and applied to that article's
questions; the pooled predictions are then scored as one SQuAD 2.0 run. The model must not have
trained on any of the articles (the shipped reader trained on none).

Input: one `edgeqa eval --na-threshold 1` folder (the answer is always the one decoded with the
abstention forbidden, so one run gives every threshold's decision, as benchmarks/rescore.py).

usage: python benchmarks/threshold_by_article.py DATA.json RUN_DIR [--stem NAME]
       [--made-threshold T]  (also score the threshold calibrated on made unanswerables)
       [--same-questions-as OTHER_RUN_DIR]  (only the questions both runs answered)
writes: benchmarks/results/<stem>.json and .md
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable
from pathlib import Path

from _report import write_results

from edgeqa.data.squad import load_squad
from edgeqa.squad_metrics import (
    GoldQuestion,
    abstain_above,
    always_abstain_baseline,
    evaluate,
    no_answer_auc,
)


def _summary(
    golds: list[GoldQuestion], predictions: dict[str, str], na_probs: dict[str, float], threshold: float = 1.0
) -> dict:
    scored = evaluate(golds, predictions, na_probs, threshold)
    keys = ("f1", "exact", "HasAns_f1", "NoAns_f1", "total")
    return {key: round(scored[key], 2) if isinstance(scored[key], float) else scored[key] for key in keys}


def leave_one_article_out(
    examples,
    predictions: dict[str, str],
    na_probs: dict[str, float],
    fold_scores: Callable[[str], dict[str, float]] | None = None,
) -> tuple[dict[str, str], dict[str, float]]:
    """Each article's questions decided at the best-F1 threshold of the other articles: the
    answers (empty where abstained) and each article's threshold. `fold_scores(title)`, for a
    score fitted on the other articles, gives every question's score in the fold that holds
    `title` out; without it, `na_probs` serves every fold."""
    golds = {e.qid: GoldQuestion(e.qid, e.answers) for e in examples}
    articles: dict[str, list[str]] = {}
    for example in examples:
        articles.setdefault(example.title, []).append(example.qid)
    decided: dict[str, str] = {}
    thresholds: dict[str, float] = {}
    for title, held_out in articles.items():
        scores = na_probs if fold_scores is None else fold_scores(title)
        others = [golds[q] for t, qids in articles.items() if t != title for q in qids]
        others_predictions = {g.qid: predictions[g.qid] for g in others}
        thresholds[title] = evaluate(others, others_predictions, scores)["best_f1_thresh"]
        decided.update(abstain_above({q: predictions[q] for q in held_out}, scores, thresholds[title]))
    return decided, thresholds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="the SQuAD 2.0 file the run was evaluated on")
    parser.add_argument("run_dir", type=Path, help="an `edgeqa eval --na-threshold 1` output folder")
    parser.add_argument("--stem", default="threshold_by_article")
    parser.add_argument("--made-threshold", type=float, help="the threshold calibrated on made unanswerables")
    parser.add_argument(
        "--same-questions-as", type=Path, help="score only the questions this eval folder answered"
    )
    args = parser.parse_args()

    predictions = json.loads((args.run_dir / "predictions.json").read_text())
    na_probs = json.loads((args.run_dir / "na_prob.json").read_text())
    if args.same_questions_as:
        other = json.loads((args.same_questions_as / "predictions.json").read_text())
        predictions = {q: p for q, p in predictions.items() if q in other}
        na_probs = {q: na_probs[q] for q in predictions}
    examples = [e for e in load_squad(args.data) if e.qid in predictions]
    decided, thresholds = leave_one_article_out(examples, predictions, na_probs)
    all_golds = [GoldQuestion(e.qid, e.answers) for e in examples]
    result = {
        "run": args.run_dir.name,
        "questions": len(all_golds),
        "articles": len(thresholds),
        "na_auc": round(no_answer_auc(all_golds, na_probs), 4),
        "never_abstain": _summary(all_golds, predictions, na_probs),
        "leave_one_article_out": _summary(all_golds, decided, na_probs),
        "threshold_median": round(statistics.median(thresholds.values()), 4),
        "threshold_range": [round(min(thresholds.values()), 4), round(max(thresholds.values()), 4)],
        "always_abstain_f1": round(always_abstain_baseline(all_golds)["f1"], 2),
        "thresholds_by_article": {t: round(v, 4) for t, v in thresholds.items()},
    }
    if args.made_threshold is not None:
        result["made_unanswerables_threshold"] = {
            "threshold": args.made_threshold,
            **_summary(all_golds, predictions, na_probs, args.made_threshold),
        }
    write_results(args.stem, result, table_skips=("thresholds_by_article",))


if __name__ == "__main__":
    main()
