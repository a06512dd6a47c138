"""Judge the answers of one or more evaluations, resumably, and summarise per model.

For each answer set, `<out>/<name>/` holds judge_config.json (what the run is; a resume must
match it), judgements.jsonl (one line per question: scores, raw reply, latency) and
summary.json (mean and 95% CI per criterion, agreement with EM/F1). `<out>/judge.md` is the
side-by-side table.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeqa.data.squad import QAExample
from edgeqa.errors import EdgeQAError
from edgeqa.evaluation.progress_log import RecordWriter, claim_run_dir, read_records
from edgeqa.fileio import atomic_write_json
from edgeqa.judge.judges import Judge
from edgeqa.judge.rubric import CRITERIA, JUDGE_SYSTEM_PROMPT, judge_messages
from edgeqa.judge.stats import mean_ci95, spearman
from edgeqa.squad_metrics import GoldQuestion, raw_scores

CORRECT_FROM = 4  # a correctness score of 4 or 5 counts as "correct" when compared with EM


@dataclass(frozen=True)
class AnswerSet:
    """The predictions of one model (an eval folder's predictions.json), under a short name."""

    name: str
    predictions: dict[str, str]
    source: str


def load_answer_set(path: Path) -> tuple[AnswerSet, str | None]:
    """An eval folder (or its predictions.json) as an AnswerSet, with the data it recorded."""
    folder, file = (path, path / "predictions.json") if path.is_dir() else (path.parent, path)
    if not file.is_file():
        raise EdgeQAError(f"{path}: no predictions.json here; point at an `edgeqa eval` output folder")
    try:
        predictions = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise EdgeQAError(f"{file}: not a JSON predictions file") from None
    if not isinstance(predictions, dict) or not all(isinstance(v, str) for v in predictions.values()):
        raise EdgeQAError(f"{file}: expected SQuAD predictions, an object of question id: answer text")
    config = folder / "eval_config.json"
    data = json.loads(config.read_text(encoding="utf-8")).get("data") if config.is_file() else None
    return AnswerSet(folder.name, predictions, str(file)), data


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _judge_pending(
    judge: Judge, answers: AnswerSet, examples: Sequence[QAExample], out_dir: Path, bar
) -> None:
    log_path = out_dir / "judgements.jsonl"
    done = read_records(log_path)
    bar.update(sum(1 for e in examples if e.qid in done))
    with RecordWriter(log_path) as writer:
        for example in examples:
            if example.qid in done:
                continue
            verdict = judge.grade(judge_messages(example, answers.predictions[example.qid]))
            record = {"id": example.qid, "scores": verdict.scores, "expected": verdict.expected}
            writer.write([{**record, "raw": verdict.raw, "latency_s": round(verdict.latency_s, 4)}])
            bar.update(1)


def summarise(
    answers: AnswerSet, examples: Sequence[QAExample], records: dict[str, dict], judge_name: str
) -> dict[str, Any]:
    """Mean and 95% CI per criterion and overall, and how the judge agrees with EM/F1."""
    exact, f1 = raw_scores([GoldQuestion(e.qid, e.answers) for e in examples], answers.predictions)
    scored = [e.qid for e in examples if records[e.qid]["scores"] is not None]
    per_criterion = {c: [records[q]["scores"][c] for q in scored] for c in CRITERIA}
    overall = [sum(records[q]["scores"][c] for c in CRITERIA) / len(CRITERIA) for q in scored]
    correct = [records[q]["scores"]["correctness"] >= CORRECT_FROM for q in scored]
    weighted = [q for q in scored if records[q].get("expected")]
    expected_correctness = [records[q]["expected"]["correctness"] for q in weighted]
    return {
        "name": answers.name,
        "source": answers.source,
        "judge": judge_name,
        "questions": len(examples),
        "unparsed": len(examples) - len(scored),
        "criteria": {c: mean_ci95(values) for c, values in per_criterion.items()},
        "overall": mean_ci95(overall),
        "expected_correctness": mean_ci95(expected_correctness) if weighted else None,
        "squad": {
            "exact": round(100 * sum(exact[q] for q in scored) / max(1, len(scored)), 2),
            "f1": round(100 * sum(f1[q] for q in scored) / max(1, len(scored)), 2),
        },
        "agreement": {
            "spearman_correctness_f1": spearman(per_criterion["correctness"], [f1[q] for q in scored]),
            "spearman_overall_f1": spearman(overall, [f1[q] for q in scored]),
            "spearman_expected_correctness_f1": (
                spearman(expected_correctness, [f1[q] for q in weighted]) if weighted else None
            ),
            "correct_vs_em": round(
                sum(c == bool(exact[q]) for c, q in zip(correct, scored, strict=True)) / max(1, len(scored)),
                3,
            ),
        },
    }


def run_judge(
    judge: Judge,
    judge_id: str,
    answer_sets: Sequence[AnswerSet],
    examples: Sequence[QAExample],
    out_dir: Path,
    show_progress: bool = True,
) -> list[dict[str, Any]]:
    """Judge every answer set on `examples` (each must have a prediction for all of them)."""
    from tqdm import tqdm

    summaries = []
    with tqdm(
        total=len(answer_sets) * len(examples),
        unit="answer",
        desc="judge",
        disable=not show_progress,
        dynamic_ncols=True,
    ) as bar:
        for answers in answer_sets:
            set_dir = out_dir / answers.name
            fingerprint = {
                "judge": judge_id,
                "rubric_sha256": _sha256(JUDGE_SYSTEM_PROMPT),
                "predictions_sha256": _sha256(json.dumps(answers.predictions, sort_keys=True)),
                "questions_sha256": _sha256("\n".join(e.qid for e in examples)),
            }
            claim_run_dir(
                set_dir, "judge_config.json", fingerprint, {"judge": judge.name, "answers": answers.source}
            )
            _judge_pending(judge, answers, examples, set_dir, bar)
            summary = summarise(answers, examples, read_records(set_dir / "judgements.jsonl"), judge.name)
            atomic_write_json(set_dir / "summary.json", summary)
            summaries.append(summary)
    return summaries


def _interval(stat: dict[str, Any]) -> str:
    low, high = stat["ci95"]
    return f"{stat['mean']:.2f} [{low:.2f}, {high:.2f}]"


JUDGE_HEADER = (
    "model",
    "judged",
    "unparsed",
    *CRITERIA,
    "overall",
    "E[correctness]",
    "EM",
    "F1",
    "rho(correctness,F1)",
    "rho(E[correctness],F1)",
    "agree EM",
)


def _rho(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def judge_rows(summaries: Sequence[dict[str, Any]]) -> list[list[str]]:
    """One row per model (columns JUDGE_HEADER), for the tables of evaluation.report."""
    rows = []
    for s in summaries:
        agreement, expected = s["agreement"], s["expected_correctness"]
        rows.append(
            [
                s["name"],
                str(s["questions"] - s["unparsed"]),
                str(s["unparsed"]),
                *(_interval(s["criteria"][c]) for c in CRITERIA),
                _interval(s["overall"]),
                "-" if expected is None else _interval(expected),
                f"{s['squad']['exact']:.2f}",
                f"{s['squad']['f1']:.2f}",
                _rho(agreement["spearman_correctness_f1"]),
                _rho(agreement["spearman_expected_correctness_f1"]),
                f"{agreement['correct_vs_em']:.3f}",
            ]
        )
    return rows
