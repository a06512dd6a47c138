"""The `edgeqa` command: a thin dispatcher that imports only the chosen subcommand's stage.

User mistakes (EdgeQAError) print one line and exit 1; Ctrl-C exits 130 and says how to resume.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence

from edgeqa.errors import EdgeQAError

Handler = Callable[[argparse.Namespace], int]


def _default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def _add_eval(subparsers: argparse._SubParsersAction) -> None:
    from edgeqa.commands import eval_command

    parser = subparsers.add_parser(
        "eval",
        help="score SQuAD EM/F1 of one or more GGUF models on the CPU",
        description=(
            "Answer SQuAD questions with llama.cpp and score them with the official SQuAD 2.0 "
            "rules. Re-running the same command resumes an interrupted run."
        ),
        epilog="example: edgeqa eval --data squad-dev.json --limit 500 --out runs/base",
    )
    parser.add_argument(
        "--model",
        action="append",
        metavar="GGUF",
        help="GGUF file (repeat to compare several); default: the embedded SmolLM2-135M-Instruct",
    )
    _add_question_inputs(parser)
    _add_answer_policy(parser, threshold=True)
    _add_endpoint_options(
        parser, "a hosted model or a llama.cpp server as one more row, same prompt and scoring"
    )
    parser.set_defaults(handler=eval_command)


def _add_question_inputs(parser: argparse.ArgumentParser) -> None:
    """The questions, engine and output options shared by eval and calibrate."""
    parser.add_argument(
        "--data",
        default=None,
        metavar="PATH_OR_ID",
        help="SQuAD .json (official format), .jsonl, or a hub id such as rajpurkar/squad_v2; "
        "default: the bundled 2-article SQuAD 2.0 sample",
    )
    parser.add_argument("--split", default="validation", help="hub split (default: %(default)s)")
    parser.add_argument("--limit", type=int, metavar="N", help="evaluate at most N questions")
    parser.add_argument("--seed", type=int, help="with --limit: a seeded random sample, not the first N")
    parser.add_argument(
        "--article",
        action="append",
        default=[],
        metavar="TITLE",
        help="only questions of this article (repeatable)",
    )
    parser.add_argument(
        "--out", type=os.fsdecode, metavar="DIR", help="output folder (default: runs/eval/<model>-<data>)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=_default_threads(),
        help="CPU threads for llama.cpp (default: %(default)s, the usable cores)",
    )
    parser.add_argument(
        "--n-ctx",
        type=int,
        default=4096,
        help="KV cache size in tokens, shared by the questions decoded together (default: %(default)s)",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=512,
        help="llama.cpp batch size for prompt processing (default: %(default)s)",
    )
    parser.add_argument(
        "--parallel", type=int, default=16, help="questions decoded together (default: %(default)s)"
    )
    parser.add_argument(
        "--max-answer-tokens", type=int, default=32, help="answer length cap (default: %(default)s)"
    )
    parser.add_argument(
        "--too-long",
        choices=("error", "skip"),
        default="error",
        help="a prompt longer than --n-ctx: stop with an error, or skip the question "
        "and score it as unanswered (default: %(default)s)",
    )
    parser.add_argument("--no-mmap", action="store_true", help="read the model into memory")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_answer_policy(parser: argparse.ArgumentParser, threshold: bool) -> None:
    parser.add_argument(
        "--decoding",
        choices=("span", "free"),
        default="span",
        help="span: the answer can only be a span of the context or the abstention, enforced "
        "while decoding; free: plain greedy decoding (default: %(default)s)",
    )
    if threshold:
        parser.add_argument(
            "--na-threshold",
            default="auto",
            metavar="auto|model|P",
            help="who decides to abstain: a no-answer probability P above which the answer is "
            "empty (below it the model must answer); auto: the threshold `edgeqa calibrate` "
            "stored beside the GGUF, else the model; model: the model's own choice (default: auto)",
        )
    parser.add_argument(
        "--na-score",
        choices=("abstention", "answer"),
        default="abstention",
        help="the no-answer probability: abstention: the abstention's share of the first "
        "token's distribution; answer: 1 - P(the answer decoded when the model may not "
        "abstain), its doubt in its own answer (every answer is decoded; abstain above "
        "the threshold, 0.5 without one) (default: %(default)s)",
    )


def _add_endpoint_options(parser: argparse.ArgumentParser, purpose: str) -> None:
    endpoint = parser.add_argument_group("OpenAI-compatible endpoint", purpose)
    endpoint.add_argument("--endpoint", metavar="URL", help="API base URL, e.g. http://127.0.0.1:8000/v1")
    endpoint.add_argument("--endpoint-model", metavar="NAME", help="model name the endpoint serves")
    endpoint.add_argument(
        "--api-key-env",
        default="OPENAI_API_KEY",
        metavar="VAR",
        help="environment variable holding the API key (default: %(default)s; unset: no key sent)",
    )
    endpoint.add_argument(
        "--rate-limit", type=float, default=0.0, metavar="RPM", help="requests per minute (default: no limit)"
    )
    endpoint.add_argument(
        "--retries", type=int, default=4, help="retries with exponential backoff (default: %(default)s)"
    )


def _add_judge(subparsers: argparse._SubParsersAction) -> None:
    from edgeqa.commands import judge_command

    parser = subparsers.add_parser(
        "judge",
        help="LLM-as-a-judge scores (1-5) for the answers of one or more evaluations",
        description=(
            "Score each answer of an evaluation for correctness, completeness and faithfulness "
            "(1-5, a fixed rubric, JSON output enforced while decoding) with a local GGUF judge "
            "or an OpenAI-compatible endpoint; report the mean and a 95% bootstrap interval per "
            "model and how the judge agrees with EM/F1. Re-running the same command resumes."
        ),
        epilog="example: edgeqa judge runs/eval/compare/base runs/eval/compare/tuned --limit 100",
    )
    parser.add_argument(
        "answers",
        nargs="+",
        metavar="EVAL_DIR",
        help="an `edgeqa eval` output folder (or its predictions.json); repeat to compare models",
    )
    parser.add_argument(
        "--data",
        metavar="PATH_OR_ID",
        help="the SQuAD questions (default: the data recorded in the first folder's eval_config.json)",
    )
    parser.add_argument("--split", default="validation", help="hub split (default: %(default)s)")
    parser.add_argument("--limit", type=int, metavar="N", help="judge at most N questions")
    parser.add_argument("--seed", type=int, help="with --limit: a seeded random sample, not the first N")
    parser.add_argument(
        "--judge-model",
        metavar="GGUF",
        help="local judge on llama.cpp (default: the embedded SmolLM2-135M-Instruct, unless --endpoint)",
    )
    parser.add_argument(
        "--threads", type=int, default=_default_threads(), help="CPU threads (default: %(default)s)"
    )
    parser.add_argument(
        "--n-ctx", type=int, default=2048, help="judge context in tokens (default: %(default)s)"
    )
    parser.add_argument(
        "--out", default="runs/judge", metavar="DIR", help="output folder (default: %(default)s)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_endpoint_options(parser, "a hosted or served judge instead of a local GGUF")
    parser.set_defaults(handler=judge_command)


def _add_calibrate(subparsers: argparse._SubParsersAction) -> None:
    from edgeqa.commands import calibrate_command

    parser = subparsers.add_parser(
        "calibrate",
        help="find a GGUF's no-answer threshold on validation questions and store it beside it",
        description=(
            "Answer every validation question (the abstention forbidden), then pick the threshold "
            "on the no-answer probability that maximises F1, as the official SQuAD 2.0 script "
            "does, and write it to <model>.calibration.json (one entry per --decoding and "
            "--na-score), where eval and the demo find it "
            "(--na-threshold auto). Use questions the model was not trained on and that you will "
            "not report test scores on: the validation articles of the fine-tuning run."
        ),
        epilog="example: edgeqa calibrate --model export/smollm2-squad-Q4_K_M.gguf "
        "--data squad-dev.json --article Normans --article 1973_oil_crisis",
    )
    parser.add_argument("--model", required=True, metavar="GGUF", help="the GGUF to calibrate")
    _add_question_inputs(parser)
    _add_answer_policy(parser, threshold=False)
    parser.set_defaults(handler=calibrate_command)


def _add_models(subparsers: argparse._SubParsersAction) -> None:
    from edgeqa.commands import models_list_command

    parser = subparsers.add_parser("models", help="list the GGUF models edgeqa can find")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list",
        help="the embedded model and every GGUF under models/ and export/",
        description="Show path, size, quant type, architecture, context and chat template.",
    )
    listing.add_argument(
        "--dir", action="append", default=[], metavar="DIR", help="also search this folder (repeatable)"
    )
    listing.set_defaults(handler=models_list_command)


def _add_finetune(subparsers: argparse._SubParsersAction) -> None:
    from edgeqa.commands import finetune_command
    from edgeqa.finetune.config import config_fields, field_docs

    parser = subparsers.add_parser(
        "finetune",
        help="LoRA/QLoRA fine-tuning for extractive QA (unsloth on NVIDIA GPUs, transformers+PEFT elsewhere)",
        description="Fine-tune a base model on SQuAD with the shared QA prompt. Values come from "
        "the defaults, then --config, then these flags.",
        epilog="example: edgeqa finetune --config configs/smollm2-135m-lora-cpu.yaml --max-steps 50",
    )
    parser.add_argument("--config", metavar="YAML", help="a preset from configs/")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    docs = field_docs()
    for spec in config_fields():
        flag = "--" + spec.name.replace("_", "-")
        kind = spec.type if isinstance(spec.type, str) else spec.type.__name__
        options: dict = {"default": None, "help": docs.get(spec.name, "")}
        if kind == "bool":
            options["action"] = argparse.BooleanOptionalAction
        elif kind.startswith("tuple[float"):
            options.update(nargs=3, type=float, metavar=("TRAIN", "VAL", "TEST"))
        elif kind.startswith("tuple[str"):
            options.update(nargs="+", metavar=spec.name.upper().rstrip("S"))
        elif kind in ("int", "float"):
            options["type"] = int if kind == "int" else float
        parser.add_argument(flag, **options)
    parser.set_defaults(handler=finetune_command)


def _add_export(subparsers: argparse._SubParsersAction) -> None:
    from edgeqa.commands import export_command

    parser = subparsers.add_parser(
        "export",
        help="merge the adapter, convert to GGUF, quantize with llama.cpp, verify, write a manifest",
        description="Merge a LoRA adapter into a 16/32-bit copy of its base, convert it to GGUF with "
        "llama.cpp's converter, quantize it with llama.cpp, check it against the merged model, and "
        "write <name>.manifest.json. Files already exported from the same source are kept.",
        epilog="examples: edgeqa export models/smollm2-squad --quant q8_0,q4_k_m\n"
        "          edgeqa export --base embedded --quant q4_k_m",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run", nargs="?", metavar="RUN_DIR", help="a finetune run folder (models/<run>)")
    parser.add_argument(
        "--base",
        help="base model (hub id, HF folder, GGUF or 'embedded'); "
        "default: the base recorded in RUN_DIR/run.json",
    )
    parser.add_argument("--adapter", metavar="DIR", help="PEFT adapter folder (default: RUN_DIR/adapter)")
    parser.add_argument("--name", help="file name stem (default: the run folder's name)")
    parser.add_argument("--out", default="export", metavar="DIR", help="output folder (default: %(default)s)")
    parser.add_argument(
        "--quant", default="q4_k_m", help="comma-separated llama.cpp quant types (default: %(default)s)"
    )
    parser.add_argument(
        "--outtype",
        default="f16",
        choices=("f16", "bf16", "f32"),
        help="precision of the converted reference GGUF (default: %(default)s)",
    )
    parser.add_argument(
        "--threads", type=int, default=_default_threads(), help="quantization/verification threads"
    )
    parser.add_argument(
        "--imatrix",
        default="auto",
        metavar="auto|none|FILE",
        help="importance matrix for the quantizer: auto computes one from the run's training questions "
        "(the bundled sample for a bare --base) and writes <name>.imatrix.gguf beside the export; "
        "FILE is one from llama.cpp's llama-imatrix (GGUF or legacy .dat); none quantizes without "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--imatrix-tokens",
        type=int,
        default=8192,
        help="calibration tokens for --imatrix auto (default: %(default)s)",
    )
    parser.add_argument(
        "--tensor-type",
        action="append",
        default=[],
        metavar="PATTERN=TYPE",
        help="quantize tensors whose name matches the regular expression to this ggml type "
        "(repeatable; e.g. attn_v=q8_0), as llama-quantize --tensor-type",
    )
    parser.add_argument("--output-type", metavar="TYPE", help="ggml type of output.weight (e.g. q8_0)")
    parser.add_argument("--embedding-type", metavar="TYPE", help="ggml type of token_embd.weight (e.g. q8_0)")
    parser.add_argument(
        "--kl-tokens",
        type=int,
        default=8192,
        help="held-out tokens the KL divergence against the reference is scored on (default: %(default)s)",
    )
    parser.add_argument(
        "--kl-data",
        metavar="SQUAD_JSON",
        help="paragraphs for the KL divergence, before the run's validation questions and the bundled sample",
    )
    parser.add_argument("--no-verify", action="store_true", help="skip the verification step")
    parser.add_argument("--ollama", action="store_true", help="also write an Ollama Modelfile")
    parser.add_argument(
        "--lora-gguf",
        action="store_true",
        help="also write the adapter alone as a GGUF LoRA (+ the unmerged base GGUF) for llama.cpp's --lora",
    )
    parser.set_defaults(handler=export_command)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgeqa",
        description="Fine-tune, export and evaluate small Llama-family models for extractive QA "
        "on the edge (llama.cpp on the CPU).",
    )
    from edgeqa import __version__

    parser.add_argument("--version", action="version", version=f"edgeqa {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_finetune(subparsers)
    _add_export(subparsers)
    _add_eval(subparsers)
    _add_calibrate(subparsers)
    _add_judge(subparsers)
    _add_models(subparsers)
    _add_profile(subparsers)
    _add_doctor(subparsers)
    _add_demo(subparsers)
    _add_pipeline(subparsers)
    _add_longctx(subparsers)
    return parser


def _add_profile(subparsers: argparse._SubParsersAction) -> None:
    from edgeqa.commands import profile_command

    parser = subparsers.add_parser(
        "profile",
        help="latency (TTFT, p50/p95/p99), tokens/s and RSS of GGUF models on this CPU",
        description=(
            "Answer real SQuAD questions one at a time, each as a cold request, and measure what "
            "a user waits for and pays: load time, time to first token, prompt and generation "
            "tokens/s, end-to-end latency percentiles, peak and steady RSS. Each configuration "
            "runs in its own process; finished configurations are kept, so a re-run resumes."
        ),
        epilog="example: edgeqa profile --model export/smollm2-squad-Q4_K_M.gguf --threads 1,2 "
        "--transformers embedded --out runs/profile",
    )
    parser.add_argument(
        "--model", action="append", metavar="GGUF", help="GGUF file (repeatable; default: the embedded model)"
    )
    parser.add_argument(
        "--threads",
        default=str(_default_threads()),
        metavar="N[,N...]",
        help="thread counts to measure, comma-separated (default: %(default)s)",
    )
    parser.add_argument("--n-ctx", type=int, default=4096, help="context size (default: %(default)s)")
    parser.add_argument(
        "--mmap",
        choices=("on", "off", "both"),
        default="on",
        help="memory-map the model file, read it into RAM, or measure both (default: %(default)s)",
    )
    parser.add_argument(
        "--data", metavar="PATH", help="SQuAD file for the questions (default: the bundled sample)"
    )
    parser.add_argument(
        "--questions", type=int, default=20, help="questions per repeat (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0, help="which questions (default: %(default)s)")
    parser.add_argument(
        "--warmup", type=int, default=2, help="answers discarded before measuring (default: %(default)s)"
    )
    parser.add_argument(
        "--repeats", type=int, default=2, help="passes over the questions (default: %(default)s)"
    )
    parser.add_argument(
        "--max-answer-tokens", type=int, default=32, help="answer length cap (default: %(default)s)"
    )
    parser.add_argument(
        "--transformers",
        metavar="BASE",
        help="also profile this model through transformers on the CPU, the baseline "
        "(hub id, HF folder, GGUF or 'embedded')",
    )
    parser.add_argument(
        "--transformers-dtype",
        default="fp32,bf16",
        metavar="DTYPES",
        help="torch dtypes for --transformers (default: %(default)s)",
    )
    parser.add_argument(
        "--out", default="runs/profile", metavar="DIR", help="output folder (default: %(default)s)"
    )
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds per configuration (default: %(default)s)"
    )
    parser.set_defaults(handler=profile_command)


def _add_doctor(subparsers: argparse._SubParsersAction) -> None:
    from edgeqa.commands import doctor_command

    parser = subparsers.add_parser(
        "doctor",
        help="check this machine: hardware, llama.cpp build, a real quantized inference",
        description="Print the hardware and llama.cpp build, run a quantized inference in a child "
        "process, and say plainly what is broken and how to fix it. Exit status 1 if edgeqa cannot run.",
    )
    parser.set_defaults(handler=doctor_command)


def _add_demo(subparsers: argparse._SubParsersAction) -> None:
    from edgeqa.commands import demo_command

    parser = subparsers.add_parser(
        "demo",
        help="the Gradio demo (the same app as the Hugging Face Space in apps/space)",
        description="Serve a page where you paste a context, ask a question and watch the answer "
        "stream, with its time to first token, latency and the process RSS. Models are loaded "
        "once and shared; requests wait in a queue.",
        epilog="example: edgeqa demo --model export/smollm2-squad-Q4_K_M.gguf --port 7860",
    )
    parser.add_argument(
        "--model",
        action="append",
        metavar="GGUF",
        help="GGUF to offer (repeatable); default: the embedded model and the GGUFs in models/, export/",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=7860, help="port (default: %(default)s)")
    parser.add_argument(
        "--concurrency", type=int, default=1, help="answers generated at once (default: %(default)s)"
    )
    parser.add_argument(
        "--queue-size", type=int, default=64, help="requests that may wait (default: %(default)s)"
    )
    _add_answer_policy(parser, threshold=True)
    parser.set_defaults(handler=demo_command)


def _add_pipeline(subparsers: argparse._SubParsersAction) -> None:
    from edgeqa.commands import pipeline_command

    parser = subparsers.add_parser(
        "pipeline",
        help="finetune -> export -> eval (base vs fine-tuned) -> profile -> one report",
        description="Run the whole story for one preset: train, export f16 + quantized GGUFs, "
        "evaluate the base and the fine-tuned model on the same held-out questions, profile "
        "them on this CPU, and write a Markdown report with plots. Steps whose outputs are up "
        "to date are skipped, so re-running after an interruption continues where it stopped. "
        "Settings come from the preset's `pipeline:` section.",
        epilog="example: edgeqa pipeline --config configs/quickstart.yaml",
    )
    parser.add_argument("--config", required=True, metavar="YAML", help="a preset from configs/")
    parser.add_argument("--run-name", help="run folder name (default: the preset's file name)")
    parser.add_argument("--max-steps", type=int, help="override the preset's training steps")
    parser.add_argument("--eval-limit", type=int, help="held-out questions to evaluate")
    parser.add_argument("--report-dir", metavar="DIR", help="where reports go (default: reports)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(handler=pipeline_command)


def _add_longctx(subparsers: argparse._SubParsersAction) -> None:
    from edgeqa.commands import longctx_command

    parser = subparsers.add_parser(
        "longctx",
        help="perplexity and passkey retrieval at longer contexts with RoPE scaling",
        description="For each RoPE setting of the grid (none, linear, yarn, ntk with a factor, or "
        "llama.cpp's raw options) and each context length: perplexity over a long text "
        "(second half of each window, as llama.cpp's perplexity tool) and passkey retrieval "
        "at several depths. Each configuration runs in its own process; finished ones are kept, "
        "so a re-run resumes. Configurations that would not fit in memory are skipped.",
        epilog="example: edgeqa longctx --ctx 2048,4096,8192 --grid grid.yaml --out runs/longctx",
    )
    parser.add_argument("--model", metavar="GGUF", help="GGUF file (default: the embedded model)")
    parser.add_argument(
        "--ctx", required=True, metavar="N[,N...]", help="context lengths, e.g. 4096,8192,16384"
    )
    parser.add_argument(
        "--grid",
        metavar="YAML",
        help="settings file (`settings:` list of {method, factor} or raw options); default: "
        "none, linear x2/x4, yarn x2/x4, ntk x2/x4",
    )
    parser.add_argument(
        "--text",
        metavar="PATH",
        help="long text: .txt or a SQuAD file (default: the bundled sample's paragraphs)",
    )
    parser.add_argument(
        "--windows", type=int, default=1, help="perplexity windows per length (default: %(default)s)"
    )
    parser.add_argument(
        "--depths", default="0.1,0.5,0.9", help="passkey depths, 0..1 (default: %(default)s); 'none' to skip"
    )
    parser.add_argument(
        "--trials", type=int, default=2, help="passkey trials per depth (default: %(default)s)"
    )
    parser.add_argument(
        "--threads", type=int, default=_default_threads(), help="CPU threads (default: %(default)s)"
    )
    parser.add_argument(
        "--out", default="runs/longctx", metavar="DIR", help="output folder (default: %(default)s)"
    )
    parser.add_argument(
        "--timeout", type=float, default=3600, help="seconds per configuration (default: %(default)s)"
    )
    parser.set_defaults(handler=longctx_command)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM (`kill`, a job scheduler, a reclaimed spot instance, `timeout`) stops a command the
    way Ctrl-C does: a fine-tuning run saves its checkpoint, evaluations keep their logs, and the
    resume hint is printed. A background job started from a script ignores SIGINT, so without
    this the usual way to stop it would lose the work since the last checkpoint."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return args.handler(args)
    except EdgeQAError as exc:
        print(f"edgeqa: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        hint = str(exc) or "run the same command again to resume"
        print(f"\nedgeqa: interrupted; {hint}", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
