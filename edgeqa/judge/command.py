"""`edgeqa judge`: LLM-as-a-judge scores (1-5) for the answers of one or more evaluations."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeqa.errors import EdgeQAError
from edgeqa.evaluation.endpoint import EndpointOptions
from edgeqa.hardware import usable_cores
from edgeqa.option_field import option

DESCRIPTION = (
    "Score each answer of an evaluation for correctness, completeness and faithfulness (1-5, a "
    "fixed rubric, JSON output enforced while decoding) with a local GGUF judge or an "
    "OpenAI-compatible endpoint; report the mean and a 95% bootstrap interval per model and how "
    "the judge agrees with EM/F1. Re-running the same command resumes."
)
EPILOG = "example: edgeqa judge runs/eval/compare/base runs/eval/compare/tuned --limit 100"


@dataclass(frozen=True)
class JudgeArgs(EndpointOptions):
    answers: tuple[str, ...] = option((), positional=True, nargs="+", metavar="EVAL_DIR")
    """an `edgeqa eval` output folder (or its predictions.json); repeat to compare models"""
    data: str | None = option(metavar="PATH_OR_ID")
    """the SQuAD questions (default: the data recorded in the first folder's eval_config.json)"""
    split: str = "validation"
    """hub split"""
    limit: int | None = option(metavar="N", minimum=1)
    """judge at most N questions"""
    seed: int | None = None
    """with --limit: a seeded random sample, not the first N"""
    judge_model: str | None = option(metavar="GGUF")
    """local judge on llama.cpp (default: the embedded SmolLM2-135M-Instruct, unless --endpoint)"""
    threads: int = option(factory=usable_cores, minimum=1)
    """CPU threads (default: the usable cores)"""
    n_ctx: int = option(2048, minimum=1)
    """judge context in tokens"""
    out: str = option("runs/judge", metavar="DIR")
    """output folder"""
    quiet: bool = False
    """no progress bar"""


ARGS = JudgeArgs


def _judge(args: JudgeArgs):
    """(judge, its identity for the resume fingerprint) from --judge-model / --endpoint."""
    from edgeqa.fileio import sha256_file
    from edgeqa.judge.judges import EndpointJudge, LocalJudge
    from edgeqa.models.registry import resolve_model

    if args.judge_model and args.endpoint:
        raise EdgeQAError("give --judge-model or --endpoint, not both")
    endpoint = args.endpoint_config()
    if endpoint is not None:
        return EndpointJudge(endpoint), f"endpoint:{endpoint.model}"
    model = resolve_model(args.judge_model)
    return LocalJudge(model, n_ctx=args.n_ctx, n_threads=args.threads), sha256_file(model)


def run(args: JudgeArgs) -> int:
    from edgeqa.data.squad import load_squad, select_examples
    from edgeqa.evaluation.report import markdown_table, text_table
    from edgeqa.fileio import atomic_write_text
    from edgeqa.judge.run import JUDGE_HEADER, judge_rows, load_answer_set, run_judge

    loaded = [load_answer_set(Path(p)) for p in args.answers]
    names = [answers.name for answers, _ in loaded]
    if len(set(names)) != len(names):
        raise EdgeQAError(f"two answer sets share the folder name {names}; give each its own folder name")
    data = args.data or loaded[0][1]
    if data is None:
        raise EdgeQAError(f"{args.answers[0]}: no eval_config.json records its data; pass --data")
    answer_sets = [answers for answers, _ in loaded]
    answered = [
        e for e in load_squad(data, split=args.split) if all(e.qid in a.predictions for a in answer_sets)
    ]
    if not answered:
        raise EdgeQAError(f"{data}: no question has a prediction in every answer set; check --data")
    examples = select_examples(answered, limit=args.limit, seed=args.seed)
    judge, judge_id = _judge(args)
    print(
        f"edgeqa judge: {judge.name} judges {len(examples)} answers per model, "
        f"{len(answer_sets)} model(s) -> {args.out}"
    )
    try:
        summaries = run_judge(judge, judge_id, answer_sets, examples, Path(args.out), not args.quiet)
    finally:
        judge.close()
    rows = judge_rows(summaries)
    print()
    print(text_table(rows, JUDGE_HEADER))
    atomic_write_text(Path(args.out) / "judge.md", markdown_table(rows, JUDGE_HEADER))
    print(f"\njudge table: {Path(args.out) / 'judge.md'}")
    return 0
