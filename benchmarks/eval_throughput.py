"""Eval throughput: edgeqa's batched, prefix-sharing engine vs a naive create_chat_completion loop.

Both run in this one process, on the same GGUF, prompt, answer cap, questions (dataset order)
and threads. Also measures the floor: the prompt tokens the engine actually decoded divided by
the measured prompt-processing rate, plus its decode steps times the measured time of one
batched decode step at the engine's mean batch width.

usage: python benchmarks/eval_throughput.py [--data PATH] [--limit N] [--threads 2]
writes: benchmarks/results/eval_throughput.json and .md
"""

from __future__ import annotations

import argparse
import platform
import resource
import time
from pathlib import Path

import numpy as np
from _report import RESULTS, write_results

from edgeqa.data.squad import BUNDLED_SAMPLE, load_squad, select_examples
from edgeqa.export.quantize import quantize_gguf
from edgeqa.models.registry import embedded_model_path
from edgeqa.prompts import parse_answer, qa_messages
from edgeqa.runtime.engine import QAEngine
from edgeqa.runtime.engine_config import EngineConfig
from edgeqa.runtime.llama_session import PREFIX_SEQ
from edgeqa.runtime.scheduler import plan_groups


def run_engine(model: Path, examples, config: EngineConfig) -> tuple[list[str], float, QAEngine]:
    engine = QAEngine(model, config)
    started = time.perf_counter()
    prompts = [engine.qa_prompt(e.context, e.question) for e in examples]
    answers = [""] * len(examples)
    for group in plan_groups(engine, [e.context for e in examples], prompts):
        for index, generation in zip(group, engine.generate_group([prompts[i] for i in group]), strict=True):
            answers[index] = parse_answer(generation.text)
    return answers, time.perf_counter() - started, engine


def run_naive(model: Path, examples, threads: int, max_tokens: int) -> tuple[list[str], float]:
    from llama_cpp import Llama

    llm = Llama(
        model_path=str(model),
        n_ctx=4096,
        n_threads=threads,
        n_threads_batch=threads,
        chat_format="chat_template.default",
        verbose=False,
    )
    started = time.perf_counter()
    answers = []
    for example in examples:
        reply = llm.create_chat_completion(
            qa_messages(example.context, example.question), max_tokens=max_tokens, temperature=0.0
        )
        answers.append(parse_answer(reply["choices"][0]["message"]["content"] or ""))
    elapsed = time.perf_counter() - started
    llm.close()
    return answers, elapsed


def measure_rates(engine: QAEngine, width: int, repeats: int = 3) -> tuple[float, float]:
    """(prompt tokens/s for a 512-token batch, seconds per decode step of `width` sequences)."""
    tokens = list(np.random.default_rng(0).integers(100, 10_000, size=512))
    pp_times, step_times = [], []
    for _ in range(repeats):
        engine.session.clear()
        start = time.perf_counter()
        engine.session.decode_chunked([(int(t), i, PREFIX_SEQ, i == 511) for i, t in enumerate(tokens)])
        pp_times.append(time.perf_counter() - start)
        engine.session.clear()
        engine.session.decode([(int(tokens[0]), 0, seq, True) for seq in range(1, width + 1)])
        start = time.perf_counter()
        for pos in range(1, 33):
            engine.session.decode([(int(tokens[pos]), pos, seq, True) for seq in range(1, width + 1)])
        step_times.append((time.perf_counter() - start) / 32)
    engine.session.clear()
    return 512 / float(np.median(pp_times)), float(np.median(step_times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="GGUF (default: the embedded model)")
    parser.add_argument("--data", default=str(BUNDLED_SAMPLE))
    parser.add_argument(
        "--as-type",
        default=None,
        metavar="QUANT",
        help="first re-type the model with llama.cpp's quantizer (e.g. f16)",
    )
    parser.add_argument("--tag", default="", help="suffix of the result file names")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-answer-tokens", type=int, default=32)
    args = parser.parse_args()

    model = Path(args.model) if args.model else embedded_model_path()
    if args.as_type:
        model = quantize_gguf(model, RESULTS / f".{model.stem}-{args.as_type}.gguf", args.as_type)
    examples = select_examples(load_squad(args.data), limit=args.limit)
    config = EngineConfig(n_threads=args.threads, max_answer_tokens=args.max_answer_tokens)

    ours, ours_s, engine = run_engine(model, examples, config)
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    stats = engine.stats
    width = max(1, round(stats.step_sequences / max(1, stats.decode_steps)))
    pp_rate, step_s = measure_rates(engine, width)
    engine.close()
    floor_s = stats.prompt_tokens_decoded / pp_rate + stats.decode_steps * step_s

    naive, naive_s = run_naive(model, examples, args.threads, args.max_answer_tokens)
    same = sum(a == b for a, b in zip(ours, naive, strict=True)) / len(examples)
    result = {
        "model": model.name,
        "data": Path(args.data).name,
        "questions": len(examples),
        "threads": args.threads,
        "max_answer_tokens": args.max_answer_tokens,
        "cpu": platform.processor() or platform.machine(),
        "naive_questions_per_s": round(len(examples) / naive_s, 2),
        "edgeqa_questions_per_s": round(len(examples) / ours_s, 2),
        "speedup": round(naive_s / ours_s, 2),
        "same_predictions": round(same, 4),
        "edgeqa_wall_s": round(ours_s, 2),
        "naive_wall_s": round(naive_s, 2),
        "prompt_tokens_decoded": stats.prompt_tokens_decoded,
        "decode_steps": stats.decode_steps,
        "mean_step_width": width,
        "pp_tokens_per_s": round(pp_rate, 1),
        "decode_step_ms": round(step_s * 1000, 2),
        "floor_s": round(floor_s, 2),
        "wall_over_floor": round(ours_s / floor_s, 2),
        "edgeqa_peak_rss_mib": round(peak_rss_mib, 1),
    }
    write_results(f"eval_throughput{'-' + args.tag if args.tag else ''}", result)
    if args.as_type:
        model.unlink()


if __name__ == "__main__":
    main()
