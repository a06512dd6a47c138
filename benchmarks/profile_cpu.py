"""CPU profile of one model in several GGUF types vs transformers, and a check of the profiler.

1. `edgeqa profile`'s runner on each GGUF (llama.cpp) and on the HF model through transformers
   (fp32 and bf16): p50/p95 latency, time to first token, tokens/s, peak RSS.
2. In the same run, direct timings of each GGUF through llama.cpp's low-level API, counting
   only llama_decode (no tokenization, templating or sampling):
   - llama-bench-style pp512 (one 512-token batch) and tg128 (128 single-token decodes from an
     empty cache), median of 3;
   - a replay of the profiled workload: the same questions' prompts decoded as one batch, then
     their greedy answers decoded token by token at their real positions.
   - interleaved: the profiler's own timed answer (its answerer and rate arithmetic, in this
     process) and the bare decode of the same question, alternated question by question on
     one engine over --rounds rounds; the median ratio of their rates. Machine drift between
     two measurements minutes apart hits both alike here.
   Each GGUF's direct timings run right after its profile. The profiler's rates are checked
   against the replay (target: within 10%); pp512/tg128 show
   how far a synthetic benchmark is from what a QA user gets (shorter prompts, generation at
   the depth of the prompt).

usage: python benchmarks/profile_cpu.py --model A.gguf --model B.gguf [--transformers embedded]
writes: benchmarks/results/profile_cpu.json, .md, and the profiler's latency/throughput plots
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

import numpy as np
from _report import RESULTS, write_results

from edgeqa.data.squad import BUNDLED_SAMPLE
from edgeqa.models.registry import resolve_model
from edgeqa.profiling.report import markdown, write_report
from edgeqa.profiling.run import run_profile
from edgeqa.profiling.spec import ProfileSpec
from edgeqa.profiling.system import system_report
from edgeqa.runtime.engine import QAEngine
from edgeqa.runtime.engine_config import EngineConfig
from edgeqa.runtime.llama_session import PREFIX_SEQ


def llama_bench(model: Path, threads: int, pp: int = 512, tg: int = 128, repeats: int = 3) -> dict:
    """Prompt-processing and generation tokens/s without tokenization or sampling, as llama-bench."""
    tokens = [int(t) for t in np.random.default_rng(0).integers(100, 10_000, size=max(pp, tg))]
    config = EngineConfig(n_ctx=pp + tg, n_threads=threads, n_batch=pp, parallel=1)
    with QAEngine(model, config) as engine:

        def timed(entries_per_call: list[list[tuple[int, int, int, bool]]]) -> float:
            engine.session.clear()
            started = time.perf_counter()
            for entries in entries_per_call:
                engine.session.decode(entries)
            return time.perf_counter() - started

        prompt = [[(t, i, PREFIX_SEQ, i == pp - 1) for i, t in enumerate(tokens[:pp])]]
        generation = [[(t, i, PREFIX_SEQ, True)] for i, t in enumerate(tokens[:tg])]
        timed(prompt)  # warm-up
        pp_s = statistics.median(timed(prompt) for _ in range(repeats))
        tg_s = statistics.median(timed(generation) for _ in range(repeats))
    return {f"pp{pp}_tokens_per_s": round(pp / pp_s, 1), f"tg{tg}_tokens_per_s": round(tg / tg_s, 1)}


def replay_one(engine, example, max_answer_tokens: int = 32) -> tuple[int, float, int, float]:
    """One question timed at llama_decode only: (prompt tokens, prompt s, generated, generation s)."""
    prompt = engine.qa_prompt(example.context, example.question)
    engine.session.clear()
    started = time.perf_counter()
    (logits,) = engine.session.decode_chunked(
        [(t, i, PREFIX_SEQ, i == len(prompt) - 1) for i, t in enumerate(prompt)]
    )
    prompt_s = time.perf_counter() - started
    generated, generate_s = 0, 0.0
    for step in range(max_answer_tokens - 1):
        token = int(np.argmax(logits))
        if engine.session.is_end_of_generation(token):
            break
        started = time.perf_counter()
        (logits,) = engine.session.decode([(token, len(prompt) + step, PREFIX_SEQ, True)])
        generate_s += time.perf_counter() - started
        generated += 1
    return len(prompt), prompt_s, generated, generate_s


def _questions(count: int):
    from edgeqa.data.squad import load_squad, select_examples

    return select_examples(load_squad(BUNDLED_SAMPLE), limit=count, seed=0)


def _decode_rates(timed: list[tuple[int, float, int, float]]) -> tuple[float, float]:
    """(prompt tokens/s, generation tokens/s) over replay_one results."""
    prompt_tokens, prompt_s, generated, generate_s = (sum(column) for column in zip(*timed, strict=True))
    return prompt_tokens / prompt_s, generated / generate_s


def replay(engine, examples) -> dict:
    """The profiled questions again, timing only llama_decode: prompt and generation tokens/s."""
    prompt_rate, generation_rate = _decode_rates([replay_one(engine, example) for example in examples])
    return {
        "replay_prompt_tokens_per_s": round(prompt_rate, 1),
        "replay_generation_tokens_per_s": round(generation_rate, 1),
    }


def interleaved(engine, examples, rounds: int) -> dict:
    """The profiler's own timed answer and the bare decode of the same question, alternated
    question by question (order swapped every round) on one engine, so machine drift hits both
    alike; the ratio of their rates per round, median over rounds."""
    from dataclasses import asdict

    from edgeqa.profiling.measure import llama_cpp_answerer
    from edgeqa.profiling.stats import pass_rates

    ratios: dict[str, list[float]] = {"prompt": [], "generation": []}
    answer = llama_cpp_answerer(engine)
    for round_index in range(rounds + 1):  # round 0 warms up and is discarded
        profiled, direct = [], []
        for example in examples:
            if round_index % 2:
                direct.append(replay_one(engine, example))
            profiled.append(answer(example.context, example.question))
            if not round_index % 2:
                direct.append(replay_one(engine, example))
        if round_index == 0:
            continue
        prompt_rate, generation_rate = _decode_rates(direct)
        rates = pass_rates([asdict(a) for a in profiled])  # the profiler's own arithmetic
        ratios["prompt"].append(rates["prompt_tokens_per_s"] / prompt_rate)
        ratios["generation"].append(rates["generation_tokens_per_s"] / generation_rate)
    result: dict = {"interleaved_rounds": rounds}
    for kind, values in ratios.items():
        result[f"interleaved_{kind}_ratio"] = round(statistics.median(values), 3)
        result[f"interleaved_{kind}_ratio_range"] = [round(min(values), 3), round(max(values), 3)]
    return result


def scrub(text: str, models: list[Path]) -> str:
    """Keep file names, drop the folders they live in on this machine."""
    for folder in {str(m.parent) for m in models} | {str(BUNDLED_SAMPLE.parent)}:
        text = text.replace(folder + "/", "")
    return text


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="GGUF ('embedded' for the default)")
    parser.add_argument("--transformers", default="embedded", help="HF baseline ('' to skip)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved profiler-vs-decode rounds")
    parser.add_argument("--work", default="runs/profile-cpu")
    return parser.parse_args()


def _specs(args: argparse.Namespace) -> tuple[list[ProfileSpec], list[Path]]:
    """The profile configurations, and every model path (to scrub from the results)."""
    models = [resolve_model(m) for m in args.model]
    common = {"threads": args.threads, "data": str(BUNDLED_SAMPLE), "questions": args.questions}
    common["repeats"] = args.repeats
    specs = [ProfileSpec("llama.cpp", str(m), **common) for m in models]
    if args.transformers:
        from edgeqa.models.base_model import resolve_base

        base = resolve_base(args.transformers).ref
        specs += [ProfileSpec("transformers", base, dtype=d, **common) for d in ("fp32", "bf16")]
        models.append(Path(base))
    return specs, models


def _agreement_row(record: dict, bench: dict, replayed: dict) -> dict:
    """The profiler's tokens/s against direct llama.cpp decoding of the same model."""
    prompt, generation = record["prompt_tokens_per_s"], record["generation_tokens_per_s"]
    return {
        "model": Path(record["spec"]["model"]).name,
        **bench,
        **replayed,
        "profile_prompt_tokens_per_s": prompt,
        "profile_generation_tokens_per_s": generation,
        "prompt_vs_replay": round(prompt / replayed["replay_prompt_tokens_per_s"], 3),
        "generation_vs_replay": round(generation / replayed["replay_generation_tokens_per_s"], 3),
        "prompt_vs_pp512": round(prompt / bench["pp512_tokens_per_s"], 3),
        "generation_vs_tg128": round(generation / bench["tg128_tokens_per_s"], 3),
        "profile_mean_prompt_tokens": record["mean_prompt_tokens"],
    }


def _agreement_table(agreement: list[dict]) -> list[str]:
    lines = [
        "| model | profile prompt tok/s | replay | ratio | interleaved ratio | pp512 "
        "| profile gen tok/s | replay | ratio | interleaved ratio | tg128 |",
        "|---" * 11 + "|",
    ]
    return lines + [
        f"| {a['model']} | {a['profile_prompt_tokens_per_s']} | {a['replay_prompt_tokens_per_s']} "
        f"| {a['prompt_vs_replay']} | {a['interleaved_prompt_ratio']} | {a['pp512_tokens_per_s']} "
        f"| {a['profile_generation_tokens_per_s']} | {a['replay_generation_tokens_per_s']} "
        f"| {a['generation_vs_replay']} | {a['interleaved_generation_ratio']} | {a['tg128_tokens_per_s']} |"
        for a in agreement
    ]


def main() -> None:
    args = _arguments()
    specs, models = _specs(args)
    work = Path(args.work)
    direct: dict[str, tuple[dict, dict]] = {}
    examples = _questions(args.questions)  # the profiled questions, read once

    def measure_directly(record: dict, cached: bool) -> None:
        """Right after each GGUF's profile, so both see the machine in the same state."""
        print(record["label"], record["status"], "(kept)" if cached else "")
        if record["spec"]["backend"] == "llama.cpp" and record["status"] == "ok":
            model = Path(record["spec"]["model"])
            bench = llama_bench(model, args.threads)
            with QAEngine(model, EngineConfig(n_threads=args.threads, parallel=1)) as engine:
                replayed = {**replay(engine, examples), **interleaved(engine, examples, args.rounds)}
            direct[record["label"]] = (bench, replayed)

    records = run_profile(specs, work, timeout_s=3600, on_done=measure_directly)
    system = system_report()
    write_report(records, system, work)
    agreement = [_agreement_row(r, *direct[r["label"]]) for r in records if r["label"] in direct]
    result = {"system": system, "configurations": records, "profiler_vs_llama_bench": agreement}
    header = (
        f"{system['cpu']}, {args.threads} threads, {args.questions} questions x {args.repeats} repeats\n\n"
    )
    text = header + markdown(records) + "\n" + "\n".join(_agreement_table(agreement)) + "\n"
    write_results("profile_cpu", json.loads(scrub(json.dumps(result), models)), markdown=scrub(text, models))
    for plot in ("latency.png", "throughput_rss.png"):
        if (work / plot).is_file():
            shutil.copy(work / plot, RESULTS / f"profile_cpu-{plot}")


if __name__ == "__main__":
    main()
