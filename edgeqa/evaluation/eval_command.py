"""`edgeqa eval`: SQuAD EM/F1 of one or more GGUF models (and an endpoint) on the same questions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeqa.errors import EdgeQAError
from edgeqa.evaluation.endpoint import EndpointOptions
from edgeqa.evaluation.question_options import QuestionOptions, slug
from edgeqa.option_field import option
from edgeqa.reader.policy import AnswerPolicy
from edgeqa.reader.windows import WindowOptions
from edgeqa.runtime.engine_options import EngineOptions

DESCRIPTION = (
    "Answer SQuAD questions with llama.cpp and score them with the official SQuAD 2.0 rules. "
    "Re-running the same command resumes an interrupted run."
)
EPILOG = "example: edgeqa eval --data squad-dev.json --limit 500 --out runs/base"


@dataclass(frozen=True)
class EvalArgs(QuestionOptions, EngineOptions, AnswerPolicy, WindowOptions, EndpointOptions):
    model: tuple[str, ...] = option((), metavar="GGUF")
    """GGUF file or model name (repeat to compare several); default: the embedded
    SmolLM2-135M-Instruct"""


ARGS = EvalArgs


def evaluate(
    args: QuestionOptions,
    engine,
    policy: AnswerPolicy,
    model: Path | None,
    data: str,
    examples,
    out: Path,
    endpoint=None,
) -> dict[str, Any]:
    """One scored run of `model` (or `endpoint`) with the engine settings and policy given;
    `args` carries the question and window options."""
    from edgeqa.evaluation.run import EvalRequest, run_eval

    request = EvalRequest(
        model=model,
        data=data,
        examples=examples,
        out_dir=out,
        engine=engine,
        policy=policy,
        windows=args.window_settings(),
        too_long=args.too_long,
        show_progress=not args.quiet,
        endpoint=endpoint,
    )
    return run_eval(request)


def run(args: EvalArgs) -> int:
    from edgeqa.evaluation.report import markdown_table, metrics_rows, text_table
    from edgeqa.fileio import atomic_write_text
    from edgeqa.models.gguf_info import read_gguf_info
    from edgeqa.reader.shipped import resolve_reader_model

    base = args.engine_config()  # every option checked before any model or data is read
    endpoint = args.endpoint_config()
    default_models: list[str | None] = [] if endpoint and not args.model else [None]
    models = [resolve_reader_model(m) for m in (args.model or default_models)]
    if len({m.resolve() for m in models}) != len(models):
        raise EdgeQAError("--model: the same model is given twice")
    for model in models:
        read_gguf_info(model)  # fail before any work on a bad file
    data, examples = args.questions()
    runs = len(models) + (endpoint is not None)
    names = [m.stem for m in models] + ([slug(endpoint.model)] if endpoint else [])
    out = args.out_dir("eval", names[0] if len(names) == 1 else "compare", data)
    rows = []
    for model in models:
        model_out = out / slug(model.stem) if runs > 1 else out
        policy = AnswerPolicy.of(args)
        threshold = policy.threshold_for(model)
        print(f"edgeqa eval: {model} on {len(examples)} questions of {data} -> {model_out}")
        print(
            f"  decoding: {args.decoding}; no-answer score: {args.na_score}; "
            f"threshold: {threshold.value} ({threshold.reason})"
        )
        metrics = evaluate(args, base, policy, model, data, examples, model_out)
        rows.extend(metrics_rows(model.stem, metrics))
    if endpoint is not None:  # an endpoint decodes freely and decides its own abstentions
        endpoint_out = out / slug(f"endpoint-{endpoint.model}") if runs > 1 else out
        print(f"edgeqa eval: {endpoint.label} on {len(examples)} questions of {data} -> {endpoint_out}")
        metrics = evaluate(args, base, AnswerPolicy.of(args), None, data, examples, endpoint_out, endpoint)
        rows.extend(metrics_rows(f"{endpoint.model} (endpoint)", metrics))
    print()
    print(text_table(rows))
    if runs > 1:
        atomic_write_text(out / "comparison.md", markdown_table(rows))
        print(f"\ncomparison table: {out / 'comparison.md'}")
    return 0
