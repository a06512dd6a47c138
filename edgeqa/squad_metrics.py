"""SQuAD v1.1/v2.0 scoring with the exact rules of the official v2.0 evaluation script.

Why a re-implementation: the official script is a CLI that reads files and prints; we need the
same numbers as a library call (per-question scores, thresholds) without shelling out. Every rule
below mirrors it: the normalisation, EM/F1 as the max over gold answers, an empty gold list
meaning "no answer", and the best-threshold search over no-answer probabilities.
"""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation and the articles a/an/the, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def get_tokens(text: str) -> list[str]:
    return normalize_answer(text).split() if text else []


def compute_exact(gold: str, prediction: str) -> int:
    return int(normalize_answer(gold) == normalize_answer(prediction))


def compute_f1(gold: str, prediction: str) -> float:
    gold_tokens, pred_tokens = get_tokens(gold), get_tokens(prediction)
    if not gold_tokens or not pred_tokens:
        # "No answer" on either side: F1 is 1 when both are empty, else 0.
        return float(gold_tokens == pred_tokens)
    common = collections.Counter(gold_tokens) & collections.Counter(pred_tokens)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(pred_tokens)
    recall = overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class GoldQuestion:
    """What scoring needs of a question: its id and its gold answer texts ([] = unanswerable)."""

    qid: str
    answers: tuple[str, ...]

    @property
    def has_answer(self) -> bool:
        return bool(self.answers)


def raw_scores(
    golds: Sequence[GoldQuestion], predictions: Mapping[str, str]
) -> tuple[dict[str, int], dict[str, float]]:
    """Per-question EM and F1, max over the gold answers (as the official get_raw_scores)."""
    exact: dict[str, int] = {}
    f1: dict[str, float] = {}
    for gold in golds:
        if gold.qid not in predictions:
            continue  # the official script warns and skips missing predictions
        answers = [a for a in gold.answers if normalize_answer(a)] or [""]
        prediction = predictions[gold.qid]
        exact[gold.qid] = max(compute_exact(a, prediction) for a in answers)
        f1[gold.qid] = max(compute_f1(a, prediction) for a in answers)
    return exact, f1


def apply_no_answer_threshold(
    scores: Mapping[str, float],
    na_probs: Mapping[str, float],
    has_answer: Mapping[str, bool],
    threshold: float,
) -> dict[str, float]:
    """Questions whose no-answer probability exceeds the threshold count as abstentions."""
    return {
        qid: float(not has_answer[qid]) if na_probs[qid] > threshold else score
        for qid, score in scores.items()
    }


def abstain_above(
    predictions: Mapping[str, str], na_probs: Mapping[str, float], threshold: float
) -> dict[str, str]:
    """The predictions with an abstention ("") wherever the no-answer probability exceeds the
    threshold, from a run that never abstained: for pooling questions decided under different
    thresholds (one per held-out article); one threshold for all is `evaluate`'s `na_threshold`."""
    return {qid: "" if na_probs[qid] > threshold else answer for qid, answer in predictions.items()}


def _mean_percent(scores: Mapping[str, float], qids: Sequence[str]) -> float:
    return 100.0 * sum(scores[q] for q in qids) / len(qids)


def _best_threshold(
    predictions: Mapping[str, str],
    scores: Mapping[str, float],
    na_probs: Mapping[str, float],
    has_answer: Mapping[str, bool],
) -> tuple[float, float]:
    """The official find_best_thresh: sweep thresholds in order of rising no-answer probability."""
    num_no_answer = sum(1 for answerable in has_answer.values() if not answerable)
    current = best = float(num_no_answer)
    best_threshold = 0.0
    for qid in sorted(na_probs, key=lambda q: na_probs[q]):
        if qid not in scores:
            continue
        if has_answer[qid]:
            diff = scores[qid]
        elif predictions[qid]:
            diff = -1.0
        else:
            diff = 0.0
        current += diff
        if current > best:
            best, best_threshold = current, na_probs[qid]
    return 100.0 * best / len(scores), best_threshold


def evaluate(
    golds: Sequence[GoldQuestion],
    predictions: Mapping[str, str],
    na_probs: Mapping[str, float] | None = None,
    na_threshold: float = 1.0,
) -> dict[str, float]:
    """The official evaluation dict: exact, f1, total, HasAns_*, NoAns_*, best_* when na_probs.

    Missing predictions are skipped, as the official script does; `total` says how many scored.
    """
    exact_raw, f1_raw = raw_scores(golds, predictions)
    scored = [g.qid for g in golds if g.qid in exact_raw]
    if not scored:
        raise ValueError("no prediction matches a question id of the data set")
    has_answer = {g.qid: g.has_answer for g in golds}
    probs = dict(na_probs) if na_probs is not None else {q: 0.0 for q in scored}
    exact = apply_no_answer_threshold(exact_raw, probs, has_answer, na_threshold)
    f1 = apply_no_answer_threshold(f1_raw, probs, has_answer, na_threshold)

    result: dict[str, float] = {
        "exact": _mean_percent(exact, scored),
        "f1": _mean_percent(f1, scored),
        "total": len(scored),
    }
    for prefix, subset in (
        ("HasAns", [q for q in scored if has_answer[q]]),
        ("NoAns", [q for q in scored if not has_answer[q]]),
    ):
        if subset:
            result[f"{prefix}_exact"] = _mean_percent(exact, subset)
            result[f"{prefix}_f1"] = _mean_percent(f1, subset)
            result[f"{prefix}_total"] = len(subset)
    if na_probs is not None:
        scored_predictions = {q: predictions[q] for q in scored}
        best_exact, exact_thresh = _best_threshold(scored_predictions, exact_raw, probs, has_answer)
        best_f1, f1_thresh = _best_threshold(scored_predictions, f1_raw, probs, has_answer)
        result.update(
            best_exact=best_exact,
            best_exact_thresh=exact_thresh,
            best_f1=best_f1,
            best_f1_thresh=f1_thresh,
        )
    return result


def no_answer_auc(golds: Sequence[GoldQuestion], na_probs: Mapping[str, float]) -> float | None:
    """How well the no-answer probability ranks unanswerable above answerable questions (ROC
    AUC: 0.5 is chance, 1.0 perfect; None without both kinds). A threshold can trade HasAns
    for NoAns only as well as this ranking allows, so it says whether calibration can help."""
    scores = [(na_probs[g.qid], not g.has_answer) for g in golds if g.qid in na_probs]
    positives = sum(1 for _, unanswerable in scores if unanswerable)
    negatives = len(scores) - positives
    if not positives or not negatives:
        return None
    scores.sort(key=lambda pair: pair[0])
    rank_sum, ranked = 0.0, 0
    for _, group in groupby(scores, key=lambda pair: pair[0]):  # ties share their average rank
        tied = [unanswerable for _, unanswerable in group]
        rank_sum += (ranked + (len(tied) + 1) / 2) * sum(tied)
        ranked += len(tied)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def always_abstain_baseline(golds: Sequence[GoldQuestion]) -> dict[str, float]:
    """The trivial v2 baseline: answer nothing, everywhere."""
    return evaluate(golds, {g.qid: "" for g in golds})
