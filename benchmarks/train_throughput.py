"""CPU training throughput: edgeqa's hf backend vs a plain transformers Trainer + PEFT script.

Same model (the embedded SmolLM2-135M, dequantized), same questions in the same order, same
LoRA and optimizer settings, same number of optimizer steps, measured one after the other in
this process. The plain script computes logits at every position (the Trainer default); edgeqa
computes them only at answer positions. edgeqa is measured on the very same micro-batches (the
loss curves must match), with length-grouped batches (less padding), with shared-context packing
(a paragraph's questions in one sequence; compare questions/s, since a pack reads the paragraph
once), and under bf16 autocast.

usage: python benchmarks/train_throughput.py [--steps 12] [--batch-size 4] [--runs grouped packed]
       [--stem train_throughput]
writes: benchmarks/results/<stem>.json and .md
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from _report import write_results

from edgeqa.data.squad import BUNDLED_SAMPLE, load_squad
from edgeqa.finetune.backends import build_hf, lora_config
from edgeqa.finetune.config import FinetuneConfig
from edgeqa.finetune.examples import encode_examples
from edgeqa.finetune.loss import collate
from edgeqa.finetune.packing import encode_packed
from edgeqa.finetune.trainer import Trainer, micro_batch
from edgeqa.models.base_model import load_causal_lm, load_tokenizer, rebuild_plain, resolve_base

WARMUP_STEPS = 2


def _plain_arguments(config: FinetuneConfig, out: str, steps: int):
    """The plain Trainer's settings: edgeqa's batch, rate and clipping, no accumulation."""
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=out,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=1,
        learning_rate=config.learning_rate,
        max_steps=steps + WARMUP_STEPS,
        lr_scheduler_type="constant",
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        dataloader_num_workers=0,
        max_grad_norm=1.0,
        seed=config.seed,
        disable_tqdm=True,
    )


def plain_trainer(config: FinetuneConfig, examples, steps: int) -> tuple[float, list[float]]:
    """transformers.Trainer + PEFT, full-vocabulary logits; returns (tokens/s, losses)."""
    from peft import get_peft_model
    from transformers import Trainer as HFTrainer
    from transformers import TrainerCallback

    base = resolve_base(config.base)
    tokenizer = load_tokenizer(base)
    plain = rebuild_plain(load_causal_lm(base, torch.float32))  # Trainer refuses GGUF-flagged models
    torch.manual_seed(config.seed)
    model = get_peft_model(plain, lora_config(config))
    order = [
        e
        for i in range(steps + WARMUP_STEPS)
        for e in micro_batch(examples, i, config.batch_size, config.seed)
    ]

    class Rows(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(order)

        def __getitem__(self, index: int):
            return order[index]

    def collator(batch):
        ids, mask, labels, _ = collate(batch, tokenizer.eos_token_id)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    timings: dict[str, float] = {}
    losses: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == WARMUP_STEPS:
                timings["start"] = time.perf_counter()

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    with tempfile.TemporaryDirectory() as out:
        arguments = _plain_arguments(config, out, steps)

        class InOrder(HFTrainer):  # the same micro-batches as edgeqa's, not a fresh shuffle
            def _get_train_sampler(self, *args, **kwargs):
                return torch.utils.data.SequentialSampler(self.train_dataset)

        trainer = InOrder(model=model, args=arguments, train_dataset=Rows(), data_collator=collator)
        trainer.add_callback(Clock())
        trainer.train()
    elapsed = time.perf_counter() - timings["start"]
    tokens = sum(len(e.input_ids) for e in order[WARMUP_STEPS * config.batch_size :])
    return tokens / elapsed, losses[WARMUP_STEPS:]


def edgeqa_trainer(config: FinetuneConfig, examples, steps: int) -> tuple[float, float, list[float]]:
    """(input tokens/s, questions/s, losses) of edgeqa's own loop."""
    model, tokenizer = build_hf(config, resolve_base(config.base))
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(model, tokenizer.eos_token_id, config, Path(out), examples, examples[:1], False)
        for _ in range(WARMUP_STEPS):
            trainer._optimizer_step()
            trainer.state.step += 1
        start, tokens, questions, losses = time.perf_counter(), 0, 0, []
        for _ in range(steps):
            loss, step_tokens, step_questions = trainer._optimizer_step()
            trainer.state.step += 1
            tokens += step_tokens
            questions += step_questions
            losses.append(loss)
    elapsed = time.perf_counter() - start
    return tokens / elapsed, questions / elapsed, losses


RUNS = ("plain", "fp32", "grouped", "packed", "bf16")


def measure(name: str, config: FinetuneConfig, examples, packs, steps: int) -> dict[str, Any]:
    """One run's numbers, keyed by its name; `config` is the plain script's settings."""
    if name == "plain":
        tps, losses = plain_trainer(config, examples, steps)
        return {"tokens_per_s": tps, "losses": losses}
    grouped = replace(config, group_by_length=True)
    variants = {
        "fp32": (config, examples),  # the plain script's very micro-batches
        "grouped": (grouped, examples),
        # packs hold ~5 questions each: fewer of them per micro-batch keeps the tokens per step alike
        "packed": (replace(grouped, pack_questions=True, batch_size=max(1, config.batch_size // 2)), packs),
        "bf16": (replace(config, dtype="bf16"), examples),
    }
    tps, qps, losses = edgeqa_trainer(*variants[name], steps)
    return {"tokens_per_s": tps, "questions_per_s": qps, "losses": losses}


def summary(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Each run's rates and losses, and the ratios between the runs that were measured."""
    result: dict[str, Any] = {}
    for name, run in runs.items():
        result[f"{name}_tokens_per_s"] = round(run["tokens_per_s"], 1)
        if "questions_per_s" in run:
            result[f"{name}_questions_per_s"] = round(run["questions_per_s"], 2)
    if "plain" in runs:
        for name in runs.keys() - {"plain"}:
            result[f"{name}_over_plain_tokens_per_s"] = round(
                runs[name]["tokens_per_s"] / runs["plain"]["tokens_per_s"], 2
            )
    if {"plain", "fp32"} <= runs.keys():
        pairs = zip(runs["plain"]["losses"], runs["fp32"]["losses"], strict=True)
        result["max_loss_difference_same_batches"] = round(max(abs(a - b) for a, b in pairs), 4)
    if {"grouped", "packed"} <= runs.keys():
        result["packed_over_grouped_questions_per_s"] = round(
            runs["packed"]["questions_per_s"] / runs["grouped"]["questions_per_s"], 2
        )
    for name, run in runs.items():
        result[f"{name}_losses"] = [round(x, 4) for x in run["losses"]]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument(
        "--runs",
        nargs="+",
        choices=RUNS,
        default=list(RUNS),
        help="which runs to measure (default: all; bf16 is very slow on CPUs without native bf16)",
    )
    parser.add_argument("--stem", default="train_throughput", help="results/<stem>.json and .md")
    args = parser.parse_args()
    config = FinetuneConfig(
        base="embedded",
        backend="hf",
        batch_size=args.batch_size,
        grad_accum=1,
        lr_schedule="constant",
        warmup_steps=0,
        learning_rate=2e-4,
        lora_dropout=0.0,
        max_steps=args.steps + WARMUP_STEPS,
        group_by_length=False,  # the plain script's batch order; the grouped run turns it on
    )
    torch.manual_seed(0)
    tokenizer_model, tokenizer = build_hf(config, resolve_base(config.base))
    del tokenizer_model
    questions = load_squad(BUNDLED_SAMPLE)
    examples, _ = encode_examples(tokenizer, questions, config.max_length)
    packs, _, _ = encode_packed(tokenizer, questions, config.max_length, config.prompt_layout)
    runs = {name: measure(name, config, examples, packs, args.steps) for name in RUNS if name in args.runs}
    result = {
        "model": "SmolLM2-135M-Instruct (embedded GGUF, dequantized)",
        "steps_measured": args.steps,
        "batch_size": args.batch_size,
        "threads": torch.get_num_threads(),
        "questions_per_pack": round(len(questions) / len(packs), 2),
        **summary(runs),
    }
    write_results(args.stem, result, table_skips=("losses",))


if __name__ == "__main__":
    main()
