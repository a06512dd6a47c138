"""`edgeqa calibrate`: a GGUF's no-answer threshold, found on validation questions, kept beside it."""

from __future__ import annotations

from dataclasses import dataclass

from edgeqa.errors import EdgeQAError
from edgeqa.evaluation.question_options import QuestionOptions
from edgeqa.option_field import option
from edgeqa.reader.policy import AnswerPolicy, AnswerStyle
from edgeqa.reader.windows import WindowOptions
from edgeqa.runtime.engine_options import EngineOptions

DESCRIPTION = (
    "Answer every validation question (the abstention forbidden), then pick the threshold on the "
    "no-answer probability that maximises F1, as the official SQuAD 2.0 script does, and write it "
    "to <model>.calibration.json (one entry per --decoding and --na-score), where eval and the "
    "demo find it (--na-threshold auto). Use questions the model was not trained on and that you "
    "will not report test scores on: the validation articles of the fine-tuning run."
)
EPILOG = (
    "example: edgeqa calibrate --model export/smollm2-squad-Q4_K_M.gguf "
    "--data squad-dev.json --article Normans --article 1973_oil_crisis"
)


@dataclass(frozen=True)
class CalibrateArgs(QuestionOptions, EngineOptions, AnswerStyle, WindowOptions):
    model: str | None = option(metavar="GGUF", required=True)
    """the GGUF (or model name) to calibrate"""


ARGS = CalibrateArgs


def run(args: CalibrateArgs) -> int:
    from edgeqa.evaluation.eval_command import evaluate
    from edgeqa.models.gguf_info import read_gguf_info
    from edgeqa.reader.calibration import calibration_path, write_calibration
    from edgeqa.reader.shipped import resolve_reader_model

    base = args.engine_config()  # every option checked before any model or data is read
    model = resolve_reader_model(args.model)
    read_gguf_info(model)
    data, examples = args.questions()
    if not any(not e.answers for e in examples) or all(not e.answers for e in examples):
        raise EdgeQAError(f"{data}: calibration needs answerable and unanswerable questions (SQuAD 2.0)")
    out = args.out_dir("calibrate", model.stem, data)
    print(f"edgeqa calibrate: {model} on {len(examples)} questions of {data}, every one answered -> {out}")
    metrics = evaluate(args, base, AnswerPolicy.forced_answers(args), model, data, examples, out)
    record = write_calibration(model, args.span_constrained, args.na_score, metrics)
    official = metrics["official"]
    print(
        f"no-answer threshold {record['na_threshold']:.4f}: F1 {official['f1']:.2f} with every question "
        f"answered -> best F1 {record['best_f1']:.2f} (always abstain: {metrics['always_abstain']['f1']:.2f})"
    )
    print(f"stored in {calibration_path(model)}; eval and demo use it with --na-threshold auto")
    return 0
