"""GPU fine-tuning: the unsloth backend (4-bit QLoRA) vs the hf backend on one NVIDIA GPU.

Each configuration is a real `edgeqa finetune` run through the CLI, in its own process (so each
peak of GPU memory is its own), on the same base (the embedded SmolLM2-135M GGUF), the same
questions, LoRA settings and number of optimizer steps. Tokens/s and peak GPU memory come from
each run's run.json; the first configuration also pays for the one-off dequantization of the
GGUF into the cached HF folder unsloth loads (outside its timed training loop).

usage: python benchmarks/finetune_gpu.py --data SQUAD.json [--steps 60] [--out runs/finetune-gpu]
writes: benchmarks/results/finetune-gpu.json and .md
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from edgeqa.provenance import RunRecord

RESULTS = Path(__file__).parent / "results"
PACKAGES = ("torch", "transformers", "peft", "unsloth", "bitsandbytes")

CONFIGS = {
    "unsloth-qlora-bf16": ["--backend", "unsloth", "--method", "qlora", "--dtype", "bf16"],
    "hf-lora-bf16": ["--backend", "hf", "--method", "lora", "--dtype", "bf16"],
    "hf-lora-fp32": ["--backend", "hf", "--method", "lora", "--dtype", "fp32"],
}


def run_config(name: str, flags: list[str], args: argparse.Namespace) -> dict:
    command = [sys.executable, "-m", "edgeqa", "finetune", "--base", "embedded", "--data", args.data]
    command += ["--split", "0.7", "0.1", "0.2", "--max-steps", str(args.steps), "--batch-size", "8"]
    command += ["--grad-accum", "1", "--lora-r", "16", "--lora-alpha", "16", "--max-length", "512"]
    command += ["--eval-every", "0", "--save-every", "0", "--val-examples", "64", "--quiet"]
    command += ["--out-dir", args.out, "--run-name", name, *flags]
    subprocess.run(command, check=True)
    run = RunRecord.load(Path(args.out) / name)
    metrics = run.metrics
    return {
        "config": name,
        "backend": run.backend["name"],
        "steps": metrics["steps"],
        "tokens_per_s": metrics["tokens_per_second"],
        "train_s": metrics["train_seconds"],
        "peak_gpu_gib": metrics.get("peak_gpu_memory_gib"),
        "final_train_loss": round(metrics["final_train_loss"], 4),
        "val_loss": round(metrics["best_val_loss"], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="SQuAD 2.0 JSON (split by article 0.7/0.1/0.2)")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--out", default="runs/finetune-gpu")
    args = parser.parse_args()

    from importlib.metadata import version

    import torch

    result = {
        "gpu": torch.cuda.get_device_name(0),
        "versions": {name: version(name) for name in PACKAGES},
        "model": "SmolLM2-135M-Instruct (embedded GGUF)",
        "batch_size": 8,
        "rows": [],
    }
    for name, flags in CONFIGS.items():  # written after each row: a cut-off run keeps its rows
        result["rows"].append(run_config(name, flags, args))
        write_results(result)


def write_results(result: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "finetune-gpu.json").write_text(json.dumps(result, indent=2) + "\n")
    header = "| config | backend | steps | tokens/s | train s | peak GPU GiB | final train loss | val loss |"
    lines = [
        f"GPU: {result['gpu']}; " + ", ".join(f"{k} {v}" for k, v in result["versions"].items()),
        "",
        header,
        "|" + "---|" * 8,
    ]
    for row in result["rows"]:
        lines.append("| " + " | ".join(str(value) for value in row.values()) + " |")
    (RESULTS / "finetune-gpu.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
