"""What the span constraint costs per decoding step as the vocabulary grows: Llama 3's 128,256
tokens against SmolLM2's 49,152, on random Llama models of the same width and depth.

Both models are `edgeqa models standin` builds (SmolLM2's tokenizer read from the embedded GGUF,
Llama 3's from the tokenizer cache, see edgeqa/models/tokenizer_sources.py), converted to F16
by llama.cpp's converter. Each answers the same SQuAD questions of the bundled sample, forced to answer (a
random model would often abstain) for up to --answer-tokens tokens, span-constrained and free,
side by side in one run. Reported per vocabulary and mode, outside llama.cpp's decode:
- the first step per answer (the chooser made for the context, the no-answer probability);
- every later step per answer token (choosing, the token's log-probability, advancing the
  span's states, the loop's bookkeeping): the constraint's own cost per decoding step;
- the one-off building of the vocabulary index;
- and, side by side, a log-softmax over a whole vocabulary row (what free decoding does per step)
  computed from a float64 copy of the row (edgeqa before this benchmark) and in float32 terms
  summed in float64 (now).

usage: python benchmarks/span_vocab_cost.py [--width 576] [--layers 2] [--questions 32]
writes: benchmarks/results/span_vocab_cost.json and .md
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _report import write_results

BUNDLED = Path(__file__).parents[1] / "edgeqa" / "data" / "samples" / "squad_v2_sample.json"


def measure(gguf: Path, span: bool, questions: list, answer_tokens: int, threads: int) -> dict:
    from edgeqa.runtime.engine import QAEngine
    from edgeqa.runtime.engine_config import EngineConfig

    config = EngineConfig(
        n_ctx=4096, n_threads=threads, parallel=8, max_answer_tokens=answer_tokens, span_constrained=span
    )
    with QAEngine(gguf, config) as engine:
        started = time.perf_counter()
        _ = engine.vocab_index
        index_s = time.perf_counter() - started
        spent = {"decode": 0.0, "first step": 0.0}

        def timed(name: str, action):
            def run(*args, **kwargs):
                began = time.perf_counter()
                try:
                    return action(*args, **kwargs)
                finally:
                    spent[name] += time.perf_counter() - began

            return run

        engine.session.decode = timed("decode", engine.session.decode)
        engine.rules.start = timed("first step", engine.rules.start)
        prompts = [engine.qa_prompt(q.context, q.question) for q in questions]
        generated = 0
        started = time.perf_counter()
        for first in range(0, len(questions), 8):
            group = slice(first, first + 8)
            contexts = [q.context for q in questions[group]]
            answers = engine.generate_group(prompts[group], contexts, answer_all=True)
            generated += sum(a.generated_tokens for a in answers)
        total_s = time.perf_counter() - started
    later_steps = total_s - spent["decode"] - spent["first step"]
    return {
        "vocab": engine.session.n_vocab,
        "mode": "span" if span else "free",
        "answer_tokens": generated,
        "first_step_ms_per_answer": round(1000 * spent["first step"] / len(questions), 3),
        "later_steps_ms_per_token": round(1000 * later_steps / generated, 3),
        "vocab_index_s": round(index_s, 2),
    }


def log_softmax_costs(vocab: int, repeats: int = 300) -> dict:
    """ms per whole-row log-softmax: from a float64 copy (before) and float32 terms (now)."""
    import numpy as np

    from edgeqa.runtime.constraints import log_softmax_at

    row = np.random.default_rng(0).normal(0, 3, vocab).astype(np.float32)

    def float64_copy() -> float:
        top = float(row.max())
        return float(row[7] - top - np.log(np.exp(row.astype(np.float64) - top).sum()))

    timings = {}
    for name, action in (
        ("float64_copy_ms", float64_copy),
        ("float32_terms_ms", lambda: log_softmax_at(row, 7)),
    ):
        started = time.perf_counter()
        for _ in range(repeats):
            action()
        timings[name] = round(1000 * (time.perf_counter() - started) / repeats, 3)
    assert abs(float64_copy() - log_softmax_at(row, 7)) < 1e-5
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=576, help="hidden size of both models (SmolLM2's)")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--questions", type=int, default=32)
    parser.add_argument("--answer-tokens", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--stem", default="span_vocab_cost")
    args = parser.parse_args()

    from edgeqa.data.squad import load_squad
    from edgeqa.export.convert import convert_to_gguf
    from edgeqa.models.standin import build_standin

    questions = load_squad(BUNDLED)[: args.questions]
    rows = []
    with tempfile.TemporaryDirectory() as work:
        folders = {
            "SmolLM2 49K": build_standin(
                "smollm2", Path(work) / "smollm2", hidden_size=args.width, layers=args.layers
            ),
            "Llama 3 128K": build_standin(
                "llama3", Path(work) / "llama3", hidden_size=args.width, layers=args.layers
            ),
        }
        for label, folder in folders.items():
            gguf = convert_to_gguf(folder, Path(work) / f"{folder.name}-F16.gguf", "f16")
            for span in (True, False):
                row = {"model": label, **measure(gguf, span, questions, args.answer_tokens, args.threads)}
                print(row, flush=True)
                rows.append(row)
    header = "| vocabulary | mode | answer tokens | first step ms/answer | later steps ms/token | index s |"
    lines = [header, "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['mode']} | {r['answer_tokens']} | {r['first_step_ms_per_answer']} "
            f"| {r['later_steps_ms_per_token']} | {r['vocab_index_s']} |"
        )
    softmax = {vocab: log_softmax_costs(vocab) for vocab in (49152, 128256)}
    lines += [
        "",
        "| vocabulary | log-softmax of a row, float64 copy ms | float32 terms ms |",
        "|---|---|---|",
    ]
    lines += [f"| {v} | {t['float64_copy_ms']} | {t['float32_terms_ms']} |" for v, t in softmax.items()]
    settings = {k: getattr(args, k) for k in ("width", "layers", "questions", "answer_tokens", "threads")}
    result = {"settings": settings, "rows": rows, "log_softmax": softmax}
    write_results(args.stem, result, markdown="\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
