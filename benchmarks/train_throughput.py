"""CPU training throughput: edgeqa's hf backend vs a plain transformers Trainer + PEFT script.

Same model (the embedded SmolLM2-135M, dequantized), same questions in the same order, same
LoRA and optimizer settings, same number of optimizer steps, measured one after the other in
this process. The plain script computes logits at every position (the Trainer default); edgeqa
computes them only at answer positions. edgeqa is measured on the very same micro-batches (the
loss curves must match), with length-grouped batches (less padding), with shared-context packing
(a paragraph's questions in one sequence; compare questions/s, since a pack reads the paragraph
once), and under bf16 autocast.

usage: python benchmarks/train_throughput.py [--steps 12] [--batch-size 4]
writes: benchmarks/results/train_throughput.json and .md
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

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


def plain_trainer(config: FinetuneConfig, examples, steps: int) -> tuple[float, list[float]]:
    """transformers.Trainer + PEFT, full-vocabulary logits; returns (tokens/s, losses)."""
    from peft import get_peft_model
    from transformers import Trainer as HFTrainer
    from transformers import TrainerCallback, TrainingArguments

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
        arguments = TrainingArguments(
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=4)
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
        group_by_length=False,  # the plain script's batch order; the grouped run below turns it on
    )
    torch.manual_seed(0)
    tokenizer_model, tokenizer = build_hf(config, resolve_base(config.base))
    del tokenizer_model
    questions = load_squad(BUNDLED_SAMPLE)
    examples, _ = encode_examples(tokenizer, questions, config.max_length)
    packs, _, _ = encode_packed(tokenizer, questions, config.max_length, config.prompt_layout)

    plain_tps, plain_losses = plain_trainer(config, examples, args.steps)
    ours_fp32_tps, _, ours_fp32_losses = edgeqa_trainer(config, examples, args.steps)
    grouped = FinetuneConfig(**{**config.__dict__, "group_by_length": True})
    grouped_tps, grouped_qps, grouped_losses = edgeqa_trainer(grouped, examples, args.steps)
    # packs hold ~5 questions each: fewer of them per micro-batch keeps the tokens per step alike
    packed = FinetuneConfig(
        **{**grouped.__dict__, "pack_questions": True, "batch_size": max(1, args.batch_size // 2)}
    )
    packed_tps, packed_qps, packed_losses = edgeqa_trainer(packed, packs, args.steps)
    bf16 = FinetuneConfig(**{**config.__dict__, "dtype": "bf16"})
    ours_bf16_tps, _, ours_bf16_losses = edgeqa_trainer(bf16, examples, args.steps)
    result = {
        "model": "SmolLM2-135M-Instruct (embedded GGUF, dequantized)",
        "steps_measured": args.steps,
        "batch_size": args.batch_size,
        "threads": torch.get_num_threads(),
        "plain_trainer_tokens_per_s": round(plain_tps, 1),
        "edgeqa_fp32_tokens_per_s": round(ours_fp32_tps, 1),
        "edgeqa_bf16_tokens_per_s": round(ours_bf16_tps, 1),
        "edgeqa_fp32_grouped_tokens_per_s": round(grouped_tps, 1),
        "speedup_fp32": round(ours_fp32_tps / plain_tps, 2),
        "speedup_fp32_grouped": round(grouped_tps / plain_tps, 2),
        "max_loss_difference_same_batches": round(
            max(abs(a - b) for a, b in zip(plain_losses, ours_fp32_losses, strict=True)), 4
        ),
        "speedup_bf16": round(ours_bf16_tps / plain_tps, 2),
        "edgeqa_fp32_grouped_questions_per_s": round(grouped_qps, 2),
        "edgeqa_fp32_packed_tokens_per_s": round(packed_tps, 1),
        "edgeqa_fp32_packed_questions_per_s": round(packed_qps, 2),
        "packed_over_grouped_questions_per_s": round(packed_qps / grouped_qps, 2),
        "questions_per_pack": round(len(questions) / len(packs), 2),
        "plain_losses": [round(x, 4) for x in plain_losses],
        "edgeqa_fp32_losses": [round(x, 4) for x in ours_fp32_losses],
        "edgeqa_bf16_losses": [round(x, 4) for x in ours_bf16_losses],
        "edgeqa_fp32_grouped_losses": [round(x, 4) for x in grouped_losses],
        "edgeqa_fp32_packed_losses": [round(x, 4) for x in packed_losses],
    }
    write_results("train_throughput", result, table_skips=("losses",))


if __name__ == "__main__":
    main()
