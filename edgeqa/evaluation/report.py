"""Readable tables of evaluation metrics, for the terminal and for Markdown files."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

COLUMNS = (
    ("EM", "exact"),
    ("F1", "f1"),
    ("HasAns F1", "HasAns_f1"),
    ("NoAns F1", "NoAns_f1"),
    ("best F1", "best_f1"),
    ("best thresh", "best_f1_thresh"),
)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) >= 1 or value == 0 else f"{value:.3f}"
    return str(value)


def answer_policy(metrics: dict[str, Any]) -> str:
    """How the answers were decoded and who decided to abstain, e.g. "span, na>0.042", or
    "free, doubt>0.31" when the no-answer probability is the doubt in the answer."""
    decoding = "span" if metrics.get("span_constrained") else "free"
    threshold = metrics.get("na_threshold")
    if metrics.get("na_score") == "answer":
        return f"{decoding}, doubt>{0.5 if threshold is None else threshold:.3g}"
    return decoding if threshold is None else f"{decoding}, na>{threshold:.3g}"


def metrics_rows(name: str, metrics: dict[str, Any]) -> list[list[str]]:
    """Two rows per model: its scores, and the always-abstain baseline on the same questions."""
    official, baseline = metrics["official"], metrics["always_abstain"]
    speed = metrics["this_session"].get("questions_per_s")
    return [
        [
            name,
            answer_policy(metrics),
            _cell(official["total"]),
            *(_cell(official.get(k)) for _, k in COLUMNS),
            _cell(metrics.get("na_prob_auc")),
            _cell(metrics.get("latency_s", {}).get("p95")),
            _cell(speed),
        ],
        [
            "  always abstain",
            "",
            "",
            *(_cell(baseline.get(k)) for _, k in COLUMNS[:4]),
            *["-"] * 5,
        ],
    ]


HEADER = ["model", "answers", "questions", *(label for label, _ in COLUMNS), "NA AUC", "p95 s", "q/s"]


def markdown_table(rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def text_table(rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER) -> str:
    table = [header, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in table
    )
