"""The training loop: adapter-only AdamW, validation loss, early stopping, checkpoints, resume.

Run folder (models/<run>/):
  config.json            the resolved FinetuneConfig (a resume reads it back)
  adapter/               best adapter so far (PEFT safetensors + adapter_config.json)
  checkpoint/            adapter + optimizer/scheduler/step state for --resume
  heldout.json           the test articles in official SQuAD format, for `edgeqa eval --data`
  run.json               base, data, split, versions, metrics (written at the end)
  loss_curves.json/.png  train and validation loss per step

Data parallel: under torchrun each process takes every WORLD_SIZE-th micro-batch and the
adapter gradients are summed with all_reduce (the loss is
normalised by the global number of answer tokens); rank 0 writes the files.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeqa.errors import EdgeQAError
from edgeqa.finetune.config import FinetuneConfig
from edgeqa.finetune.examples import TrainingExample
from edgeqa.finetune.loss import answer_loss_sum, collate, weighted_target_tokens
from edgeqa.run_folder import ADAPTER_WEIGHTS, RunFolder


@dataclass
class TrainState:
    """Everything a resumed run needs besides the weights and optimizer."""

    step: int = 0
    tokens_seen: int = 0
    questions_seen: int = 0
    best_val_loss: float = math.inf
    evals_without_improvement: int = 0
    train_history: list[tuple[int, float]] = field(default_factory=list)
    val_history: list[tuple[int, float]] = field(default_factory=list)
    stopped_early: bool = False
    elapsed_s: float = 0.0


def lr_factor(step: int, config: FinetuneConfig) -> float:
    """Linear warm-up, then cosine/linear/constant decay to zero at max_steps."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    if config.lr_schedule == "constant":
        return 1.0
    progress = (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps)
    if config.lr_schedule == "linear":
        return max(0.0, 1.0 - progress)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def epoch_batches(
    examples: Sequence[TrainingExample], batch_size: int, seed: int, epoch: int, group_by_length: bool
) -> list[list[int]]:
    """One epoch's micro-batches (indices): a seeded shuffle; with group_by_length, examples of
    similar length share a batch (less padding) and the batches are shuffled again."""
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(examples)))
    rng.shuffle(order)
    if group_by_length:
        window = batch_size * 64
        order = [
            i
            for start in range(0, len(order), window)
            for i in sorted(order[start : start + window], key=lambda i: len(examples[i].input_ids))
        ]
    batches = [order[i : i + batch_size] for i in range(0, len(order) - batch_size + 1, batch_size)]
    if group_by_length:
        rng.shuffle(batches)
    return batches or [order]


def micro_batch(
    examples: Sequence[TrainingExample], index: int, batch_size: int, seed: int, group_by_length: bool = False
) -> list[TrainingExample]:
    """The index-th micro-batch of an endless stream of epochs."""
    per_epoch = max(1, len(examples) // batch_size)
    epoch, offset = divmod(index, per_epoch)
    batch = epoch_batches(examples, batch_size, seed, epoch, group_by_length)[offset]
    return [examples[i] for i in batch]


def torchrun_rank_and_world() -> tuple[int, int]:
    """(rank, world size) from torchrun's environment; (0, 1) for a single process."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


class Distributed:
    """Rank/world size from torchrun's environment; a no-op for a single process."""

    def __init__(self) -> None:
        self.rank, self.world = torchrun_rank_and_world()
        self.device = "cpu"
        if self.world > 1:
            import torch
            import torch.distributed as dist

            if torch.cuda.is_available():  # NCCL reduces tensors on each process's own GPU
                self.device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
                torch.cuda.set_device(self.device)
            if not dist.is_initialized():
                dist.init_process_group("nccl" if self.device != "cpu" else "gloo")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def sum_gradients(self, parameters) -> None:
        """Sum adapter gradients over processes (each loss is already divided by the global
        number of target tokens, so the sum is the gradient of the global mean)."""
        if self.world == 1:
            return
        import torch.distributed as dist

        for parameter in parameters:
            if parameter.grad is not None:
                dist.all_reduce(parameter.grad)

    def sum(self, value: float) -> float:
        if self.world == 1:
            return value
        import torch
        import torch.distributed as dist

        tensor = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return float(tensor.item())


class Trainer:
    def __init__(
        self,
        model,
        pad_id: int,
        config: FinetuneConfig,
        run_dir: Path,
        train: Sequence[TrainingExample],
        val: Sequence[TrainingExample],
        show_progress: bool = True,
    ) -> None:
        import torch

        self.model, self.pad_id, self.config, self.run_dir = model, pad_id, config, run_dir
        self.folder = RunFolder(run_dir)
        self.train_examples, self.val_examples = train, val
        self.show_progress = show_progress
        self.dist = Distributed()
        self.parameters = [p for p in model.parameters() if p.requires_grad]
        from edgeqa.finetune.recipe import add_neftune_noise

        add_neftune_noise(model, config.neftune_alpha)
        self.optimizer = torch.optim.AdamW(
            self.parameters, lr=config.learning_rate, weight_decay=config.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_factor(step, config)
        )
        self.state = TrainState()
        from edgeqa.finetune.config import config_to_dict
        from edgeqa.finetune.reporting import Reporter

        self.reporter = Reporter(
            config.report_to if self.dist.is_main else "none", run_dir, config_to_dict(config)
        )
        self.device = next(model.parameters()).device  # the backend placed the model
        bf16 = config.dtype == "bf16"
        self.autocast = torch.autocast(self.device.type, dtype=torch.bfloat16) if bf16 else _NullContext()

    # --- checkpoints ---------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        """Adapter + optimizer + state into checkpoint/, swapped in whole (never half-written)."""
        if not self.dist.is_main:
            return
        import dataclasses

        import torch

        target, staging = self.folder.checkpoint, self.folder.checkpoint_staging
        shutil.rmtree(staging, ignore_errors=True)
        self.model.save_pretrained(staging)
        torch.save(
            {
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "state": dataclasses.asdict(self.state),
                "torch_rng": torch.get_rng_state(),
            },
            staging / "trainer_state.pt",
        )
        old = self.folder.previous_checkpoint
        if target.exists():  # else an earlier swap stopped halfway: old is the one to keep
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)

    def load_checkpoint(self) -> None:
        import torch
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        folder = self.folder.checkpoint
        if not (folder / "trainer_state.pt").is_file():  # stopped between the two renames of a swap
            folder = self.folder.previous_checkpoint
        if not (folder / "trainer_state.pt").is_file():
            raise EdgeQAError(f"{self.run_dir}: no checkpoint to resume from")
        set_peft_model_state_dict(self.model, load_file(folder / ADAPTER_WEIGHTS))
        saved = torch.load(folder / "trainer_state.pt", weights_only=False)
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["torch_rng"])
        state = saved["state"]
        state["train_history"] = [tuple(x) for x in state["train_history"]]
        state["val_history"] = [tuple(x) for x in state["val_history"]]
        self.state = TrainState(**state)

    def save_adapter(self) -> None:
        if not self.dist.is_main:
            return
        staging = self.folder.adapter_staging
        shutil.rmtree(staging, ignore_errors=True)
        self.model.save_pretrained(staging)
        shutil.rmtree(self.folder.adapter, ignore_errors=True)
        staging.rename(self.folder.adapter)

    # --- loops ---------------------------------------------------------------------------
    def validation_loss(self) -> float:
        import torch

        self.model.eval()
        total, count = 0.0, 0
        with torch.no_grad(), self.autocast:
            for start in range(0, len(self.val_examples), self.config.batch_size):
                batch = self.val_examples[start : start + self.config.batch_size]
                loss, n = answer_loss_sum(self.model, collate(batch, self.pad_id, self.device))
                total, count = total + float(loss), count + n
        self.model.train()
        return total / max(1, count)

    def _optimizer_step(self) -> tuple[float, int, int]:
        """One optimizer step over grad_accum micro-batches; (mean token loss, input tokens,
        questions)."""
        config = self.config
        batches = [
            micro_batch(
                self.train_examples,
                (self.state.step * config.grad_accum + k) * self.dist.world + self.dist.rank,
                config.batch_size,
                config.seed,
                config.group_by_length,
            )
            for k in range(config.grad_accum)
        ]
        weight = config.decision_weight
        target_tokens = self.dist.sum(sum(weighted_target_tokens(e, weight) for b in batches for e in b))
        total_loss, input_tokens, questions = 0.0, 0, 0
        for batch in batches:
            with self.autocast:
                loss, _ = answer_loss_sum(self.model, collate(batch, self.pad_id, self.device), weight)
            (loss / target_tokens).backward()
            total_loss += float(loss.detach())
            input_tokens += sum(len(e.input_ids) for e in batch)
            questions += sum(e.questions for e in batch)
        self.dist.sum_gradients(self.parameters)
        import torch

        torch.nn.utils.clip_grad_norm_(self.parameters, 1.0)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        total = self.dist.sum(total_loss) / target_tokens
        return total, int(self.dist.sum(input_tokens)), int(self.dist.sum(questions))

    def _evaluate_and_maybe_stop(self) -> bool:
        val = self.validation_loss()
        self.state.val_history.append((self.state.step, val))
        self.reporter.log(self.state.step, {"val/loss": val})
        if val < self.state.best_val_loss:
            self.state.best_val_loss = val
            self.state.evals_without_improvement = 0
            if self.config.keep_adapter == "best":  # "final" saves its weights once, at the end of fit
                self.save_adapter()
        else:
            self.state.evals_without_improvement += 1
        patience = self.config.early_stopping_patience
        return bool(patience and self.state.evals_without_improvement >= patience)

    def fit(self) -> TrainState:
        from tqdm import tqdm

        config, state = self.config, self.state
        self.model.train()
        started = time.perf_counter() - state.elapsed_s
        bar = tqdm(
            total=config.max_steps,
            initial=state.step,
            unit="step",
            desc="finetune",
            disable=not (self.show_progress and self.dist.is_main),
            dynamic_ncols=True,
        )
        try:
            while state.step < config.max_steps:
                loss, tokens, questions = self._optimizer_step()
                state.step += 1
                state.tokens_seen += tokens
                state.questions_seen += questions
                state.train_history.append((state.step, loss))
                state.elapsed_s = time.perf_counter() - started
                bar.update(1)
                self.reporter.log(
                    state.step, {"train/loss": loss, "train/lr": self.scheduler.get_last_lr()[0]}
                )
                bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{state.tokens_seen / state.elapsed_s:.0f}")
                last = state.step == config.max_steps
                due = (config.eval_every and state.step % config.eval_every == 0) or last
                if due and self._evaluate_and_maybe_stop() and not last:  # not 'early' at the end
                    break
                if config.save_every and state.step % config.save_every == 0:
                    self.save_checkpoint()
        except KeyboardInterrupt:
            state.elapsed_s = time.perf_counter() - started
            self.save_checkpoint()
            raise
        finally:
            bar.close()
            self.reporter.close()
        state.elapsed_s = time.perf_counter() - started
        state.stopped_early = state.step < config.max_steps  # this fit's end, also after a resume
        if config.keep_adapter == "final":
            self.save_adapter()
        self.save_checkpoint()
        return state


class _NullContext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: Any) -> None:
        return None
