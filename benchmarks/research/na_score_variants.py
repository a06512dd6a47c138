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
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1]))
sys.path.insert(0, str(Path(__file__).parent))
from _report import write_results
from middle_layer_head import dev_report, fit_logistic, logit

from edgeqa.data.squad import QAExample, load_squad
from edgeqa.evaluation.progress_log import read_records

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
    questions: each fold's scores for every question (its threshold is chosen on them) and the
    held-out articles' scores pooled (for the AUC)."""

    def __init__(self, examples: list[QAExample], features: dict[str, tuple[float, float]]) -> None:
        x = design_matrix([features[e.qid] for e in examples])
        unanswerable = np.array([not e.answers for e in examples], dtype=float)
        titles = np.array([e.title for e in examples])
        self.weights: dict[str, list[float]] = {}
        self.by_fold: dict[str, dict[str, float]] = {}
        self.held_out: dict[str, float] = {}
        for title in dict.fromkeys(titles):
            weights = fit_logistic(x[titles != title], unanswerable[titles != title], L2)
            self.weights[title] = [round(float(w), 3) for w in weights]
            probabilities = 1 / (1 + np.exp(-logit(weights, x)))
            scores = {e.qid: float(p) for e, p in zip(examples, probabilities, strict=True)}
            self.by_fold[title] = scores
            self.held_out.update({e.qid: scores[e.qid] for e in examples if e.title == title})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="the SQuAD 2.0 file the run was evaluated on")
    parser.add_argument("run_dir", type=Path, help="an `edgeqa eval --na-threshold 1` output folder")
    parser.add_argument("--stem", default="na_score_variants")
    args = parser.parse_args()

    records = read_records(args.run_dir / "log.jsonl")
    examples = [e for e in load_squad(args.data) if e.qid in records]
    predictions = {e.qid: records[e.qid]["prediction"] for e in examples}
    features = {e.qid: answering_features(records[e.qid]) for e in examples}
    summaries = {name: dev_report(examples, predictions, s) for name, s in fixed_scores(features).items()}
    folds = LogisticFolds(examples, features)
    summaries["logistic"] = dev_report(examples, predictions, folds.held_out, folds.by_fold.__getitem__)
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
