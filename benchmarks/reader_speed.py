"""The shipped reader merged (what `--model smollm2-135m-squad` loads) vs its LoRA applied at load
vs a merged Q4_K_M of the same weights: speed in one profile run, and dev-set F1 side by side.

Speed: one `edgeqa profile` run (each configuration in its own process, cold single requests on
the bundled sample) of the three GGUFs. Quality: with --lora-run and --merged-run, two finished
`edgeqa eval --na-threshold 1` folders of the LoRA and the merged reader on the same questions,
scored at the reader's calibrated threshold and never abstaining.

usage: python benchmarks/reader_speed.py [--questions 20] [--repeats 2] [--threads 2]
       [--lora-run DIR --merged-run DIR --data <squad-v2-dev.json>] [--work runs/reader_speed]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import write_results
from edgeqa.data.squad import BUNDLED_SAMPLE, load_squad
from edgeqa.export.merge_lora_gguf import merge_lora_gguf
from edgeqa.export.quantize import quantize_gguf
from edgeqa.models.gguf_info import read_gguf_info
from edgeqa.models.registry import resolve_model
from edgeqa.profiling.run import run_profile
from edgeqa.profiling.spec import ProfileSpec
from edgeqa.reader.policy import AnswerPolicy
from edgeqa.reader.shipped import resolve_reader_model
from edgeqa.runtime.llama_session import adapter_base_info
from edgeqa.squad_metrics import GoldQuestion, evaluate, no_answer_auc

READER = "smollm2-135m-squad"
SPEED_KEYS = (
    "status",
    "latency_p50_s",
    "latency_p95_s",
    "ttft_p50_s",
    "prompt_tokens_per_s",
    "generation_tokens_per_s",
    "peak_rss_mib",
)


def merged_q4_k_m(adapter: Path, work: Path, threads: int) -> Path:
    """The adapter merged into its base and quantized to Q4_K_M (the quickstart's export type)."""
    target = work / f"{READER}-merged-Q4_K_M.gguf"
    if not target.exists():
        info = read_gguf_info(adapter)
        merged = merge_lora_gguf(
            adapter_base_info(info).path,
            adapter,
            work / "merged-F16.gguf",
            {"edgeqa.prompt_layout": info.prompt_layout},
        )
        quantize_gguf(merged, target, "q4_k_m", threads=threads)
        merged.unlink()
    return target


def speed(models: dict[str, Path], args) -> dict[str, Any]:
    common = {"threads": args.threads, "data": str(BUNDLED_SAMPLE), "questions": args.questions}
    specs = [ProfileSpec("llama.cpp", str(path), **common, repeats=args.repeats) for path in models.values()]
    records = run_profile(specs, args.work / "profile", timeout_s=1800)
    rows = {}
    for label, record in zip(models, records, strict=True):
        rows[label] = {key: record.get(key) for key in SPEED_KEYS}
    return rows


def quality(lora_run: Path, merged_run: Path, data: str, threshold: float) -> dict[str, Any]:
    golds = [GoldQuestion(e.qid, e.answers) for e in load_squad(data)]
    rows = {}
    for label, run in (("lora at load", lora_run), ("merged Q8_0", merged_run)):
        predictions = json.loads((run / "predictions.json").read_text())
        na_probs = json.loads((run / "na_prob.json").read_text())
        asked = [g for g in golds if g.qid in predictions]
        shipped = evaluate(asked, predictions, na_probs, threshold)
        never = evaluate(asked, predictions, na_probs, 1.0)
        rows[label] = {
            "questions": len(asked),
            "f1_at_threshold": round(shipped["f1"], 2),
            "HasAns_f1_at_threshold": round(shipped["HasAns_f1"], 2),
            "never_abstain_HasAns_f1": round(never["HasAns_f1"], 2),
            "best_f1": round(never["best_f1"], 2),
            "na_auc": round(no_answer_auc(asked, na_probs), 4),
        }
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("runs/reader_speed"))
    parser.add_argument("--lora-run", type=Path)
    parser.add_argument("--merged-run", type=Path)
    parser.add_argument("--data")
    parser.add_argument("--stem", default="reader_speed")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    adapter = resolve_model(READER)
    merged = resolve_reader_model(READER)
    models = {
        "lora at load (before)": adapter,
        "merged Q8_0 (smollm2-135m-squad now)": merged,
        "merged Q4_K_M": merged_q4_k_m(adapter, args.work, args.threads),
    }
    rows = speed(models, args)
    before, now, q4 = (rows[label] for label in models)
    result: dict[str, Any] = {
        "threads": args.threads,
        "questions": args.questions,
        "repeats": args.repeats,
        "speed": rows,
        "prompt_rate_vs_lora": round(now["prompt_tokens_per_s"] / before["prompt_tokens_per_s"], 2),
        "p50_vs_merged_q4_k_m": round(now["latency_p50_s"] / q4["latency_p50_s"], 3),
    }
    if args.lora_run and args.merged_run and args.data:
        threshold = AnswerPolicy().threshold_for(adapter).value
        result["threshold"] = threshold
        result["quality"] = quality(args.lora_run, args.merged_run, args.data, threshold)
    write_results(args.stem, result, table_skips=("speed", "quality"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
