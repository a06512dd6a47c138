"""Which no-answer score, of those the answering pass already has, separates unanswerables best?

Every score here costs nothing more in the llama.cpp runtime than the answer it comes with.

A forced-answer eval (`edgeqa eval --na-threshold 1`) logs, for every question, the abstention's
share of the first answer token (p_a, the shipped score) and the answer decoded with the
abstention forbidden with its probability P(span | answering). Scores built from those two:
- abstention: p_a (the reader's own, `--na-score abstention`);
- answer: 1 - P(span | answering), the doubt in the forced answer (`--na-score answer`);
- joint: 1 - (1 - p_a) x P(span | answering), the probability that the model would not give
  this answer, both doubts in one number;
- null_vs_span: p_a / (p_a + (1 - p_a) x P(span | answering)), the abstention's share of the two
  outcomes in play, the abstention and the best span: the null-against-best-span rule of
  SQuAD 2.0's span readers (BERT), on this reader's probabilities;
- logistic: a two-feature logistic regression on logit(p_a) and log P(span | answering), fitted
  on the other articles' real unanswerables (leave one article out, as the threshold).
Each is tested as the threshold is: AUC over all questions, and F1 with each article decided at
the best-F1 threshold of the other articles.

usage: python benchmarks/research/na_score_variants.py <squad-v2-dev.json> <eval folder> [--stem NAME]
writes: benchmarks/results/<stem>.json and .md (default stem: na_score_variants)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1]))
sys.path.insert(0, str(Path(__file__).parent))
from _report import write_results
from middle_layer_head import fit_logistic, logit
from threshold_by_article import leave_one_article_out

from edgeqa.data.squad import QAExample, load_squad
from edgeqa.squad_metrics import GoldQuestion, evaluate, no_answer_auc

EPSILON = 1e-6
L2 = 1.0  # three weights fitted on about 5,700 questions: the penalty barely matters


def answering_features(record: dict) -> tuple[float, float]:
    """(p_a, P(span | answering)) of one logged forced answer: the logged score is
    P(span | answering) x (1 - p_a); 0 where the model gave no span."""
    abstention = float(record["na_prob"])
    if not record["prediction"] or abstention >= 1.0:
        return abstention, 0.0
    return abstention, min(1.0, float(record["score"]) / (1.0 - abstention))


def fixed_scores(features: dict[str, tuple[float, float]]) -> dict[str, dict[str, float]]:
    """The scores with nothing fitted: each a no-answer probability per question."""
    return {
        "abstention": {q: a for q, (a, _) in features.items()},
        "answer": {q: 1.0 - s for q, (_, s) in features.items()},
        "joint": {q: 1.0 - (1.0 - a) * s for q, (a, s) in features.items()},
        "null_vs_span": {q: a / (a + (1.0 - a) * s) if a > 0 else 0.0 for q, (a, s) in features.items()},
    }


def design_matrix(pairs: list[tuple[float, float]]) -> np.ndarray:
    """logit(p_a) and log P(span | answering), each clipped away from 0 and 1."""
    abstention = np.clip([a for a, _ in pairs], EPSILON, 1 - EPSILON)
    span = np.clip([s for _, s in pairs], EPSILON, 1.0)
    return np.column_stack([np.log(abstention / (1 - abstention)), np.log(span)])


class LogisticFolds:
    """The two-feature combination fitted once per held-out article on the other articles'
    questions, scoring every question in that fold (for its threshold) and the held-out ones
    (pooled, for the AUC)."""

    def __init__(self, examples: list[QAExample], features: dict[str, tuple[float, float]]) -> None:
        self.examples = examples
        self.x = design_matrix([features[e.qid] for e in examples])
        self.unanswerable = np.array([not e.answers for e in examples], dtype=float)
        self.titles = np.array([e.title for e in examples])
        self.weights: dict[str, list[float]] = {}
        self.held_out: dict[str, float] = {}

    def __call__(self, title: str) -> dict[str, float]:
        train = self.titles != title
        weights = fit_logistic(self.x[train], self.unanswerable[train], L2)
        self.weights[title] = [round(float(w), 3) for w in weights]
        probabilities = 1 / (1 + np.exp(-logit(weights, self.x)))
        scores = {e.qid: float(p) for e, p in zip(self.examples, probabilities, strict=True)}
        self.held_out.update({e.qid: scores[e.qid] for e in self.examples if e.title == title})
        return scores


def summary(
    golds: list[GoldQuestion], decided: dict[str, str], na_probs: dict[str, float], thresholds: dict
) -> dict:
    """AUC of the (held-out) scores and the pooled leave-one-article-out decisions' F1."""
    scored = evaluate(golds, decided, na_probs)
    return {
        "na_auc": round(no_answer_auc(golds, na_probs), 4),
        "f1_leave_one_article_out": round(scored["f1"], 2),
        "HasAns_f1": round(scored["HasAns_f1"], 2),
        "NoAns_f1": round(scored["NoAns_f1"], 2),
        "threshold_range": [round(min(thresholds.values()), 4), round(max(thresholds.values()), 4)],
    }


def read_log(run_dir: Path) -> dict[str, dict]:
    with (run_dir / "log.jsonl").open(encoding="utf-8") as log:
        return {record["id"]: record for record in map(json.loads, log) if "id" in record}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="the SQuAD 2.0 file the run was evaluated on")
    parser.add_argument("run_dir", type=Path, help="an `edgeqa eval --na-threshold 1` output folder")
    parser.add_argument("--stem", default="na_score_variants")
    args = parser.parse_args()

    records = read_log(args.run_dir)
    examples = [e for e in load_squad(args.data) if e.qid in records]
    golds = [GoldQuestion(e.qid, e.answers) for e in examples]
    predictions = {e.qid: records[e.qid]["prediction"] for e in examples}
    features = {e.qid: answering_features(records[e.qid]) for e in examples}
    summaries = {}
    for name, scores in fixed_scores(features).items():
        decided, thresholds = leave_one_article_out(examples, predictions, scores)
        summaries[name] = summary(golds, decided, scores, thresholds)
    folds = LogisticFolds(examples, features)
    decided, thresholds = leave_one_article_out(examples, predictions, {}, fold_scores=folds)
    summaries["logistic"] = summary(golds, decided, folds.held_out, thresholds)
    rows = "\n".join(
        f"| {name} | {s['na_auc']} | {s['f1_leave_one_article_out']} | {s['HasAns_f1']} | {s['NoAns_f1']} |"
        for name, s in summaries.items()
    )
    markdown = (
        f"{len(examples)} forced answers of {args.run_dir.name}; F1 with each article at the "
        "best threshold of the other articles\n\n"
        "| no-answer score | NA AUC | F1, leave one article out | HasAns F1 | NoAns F1 |\n"
        f"|---|---|---|---|---|\n{rows}\n"
    )
    result = {"run": args.run_dir.name, "questions": len(examples), "scores": summaries}
    result["logistic_weights"] = folds.weights  # per held-out article: logit(p_a), log P(span), bias
    write_results(args.stem, result, markdown=markdown)


if __name__ == "__main__":
    main()
