"""`edgeqa finetune`: from a config to a run folder with an adapter and its provenance."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any

from edgeqa.errors import EdgeQAError
from edgeqa.fileio import atomic_write_json, lock_run_dir
from edgeqa.finetune.config import FinetuneConfig, config_to_dict
from edgeqa.provenance import RunRecord


def _library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for name in ("edgeqa", "torch", "transformers", "peft", "llama-cpp-python", "gguf", "unsloth"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions


def peak_memory_gib() -> dict[str, float]:
    """Peak resident memory of this process and, when training ran there, peak GPU memory."""
    import resource

    import torch

    peaks = {"peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}
    if torch.cuda.is_available() and torch.cuda.max_memory_allocated():
        peaks["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return peaks


def _load_splits(config: FinetuneConfig):
    """(sources, format, train, validation, test): SQuAD sources sized and split by article
    (with made unanswerables added to train and validation), conversations split by record."""
    from edgeqa.data.instructions import load_conversations, read_records, sniff_format, split_conversations
    from edgeqa.data.negatives import make_negatives
    from edgeqa.data.sources import DataSource, load_sources

    first = DataSource.parse(config.data[0])
    records = read_records(first.path) if config.data_format != "squad" else []
    data_format = sniff_format(records, first.path) if config.data_format == "auto" else config.data_format
    if data_format != "squad":
        if len(config.data) > 1 or first != DataSource(first.source):
            raise EdgeQAError(f"--data: {data_format} records come from one source, without options")
        info = {"source": first.path, "sources": [{"source": first.source, "role": "split"}]}
        conversations = load_conversations(records, first.path, data_format)
        if config.val_data:
            val = load_conversations(read_records(config.val_data), config.val_data, data_format)
            return info, data_format, conversations, val, []
        return info, data_format, *split_conversations(conversations, config.split, config.seed)
    loaded = load_sources(config.data, config.split, config.seed, config.val_data)
    train, made_train = make_negatives(loaded.train, config.negatives, config.negative_share, config.seed)
    val, made_val = make_negatives(loaded.val, config.negatives, config.negative_share, config.seed + 1)
    info = {
        "source": first.path,  # where the validation articles are read back (edgeqa pipeline)
        "sources": loaded.records,
        "made_unanswerable": {"train": made_train, "val": made_val},
    }
    return info, data_format, train, val, loaded.test


def _describe_data(data_format: str, train: list, val: list, test: list) -> dict[str, Any]:
    if data_format != "squad":
        return {"format": data_format, "train_conversations": len(train), "val_conversations": len(val)}
    return {
        "format": "squad",
        "train_articles": sorted({e.title for e in train}),
        "val_articles": sorted({e.title for e in val}),
        "test_articles": sorted({e.title for e in test}),
    }


def _plot_losses(run_dir: Path, train: list, val: list) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.5))
    axis.plot([s for s, _ in train], [v for _, v in train], label="train", alpha=0.6)
    if val:
        axis.plot([s for s, _ in val], [v for _, v in val], "o-", label="validation")
    axis.set_xlabel("step")
    axis.set_ylabel("answer-token loss")
    axis.legend()
    figure.tight_layout()
    figure.savefig(run_dir / "loss.png", dpi=120)
    plt.close(figure)


def _warm_start(model, init_adapter: str, run_dir: Path, resuming: bool) -> dict[str, Any]:
    """Load `--init-adapter` into a new run and note what it was in the run folder; a resumed
    run has the weights in its checkpoint and reads the note back."""
    from edgeqa.finetune.warm_start import load_init_adapter

    note = run_dir / "warm_start.json"
    if resuming and note.is_file():
        return json.loads(note.read_text(encoding="utf-8"))
    record = {"from": Path(init_adapter).name, **load_init_adapter(model, init_adapter)}
    atomic_write_json(note, record)
    print(f"edgeqa finetune: the adapter starts from {init_adapter}")
    return record


def default_run_name(config: FinetuneConfig) -> str:
    base = Path(config.base).stem if config.base != "embedded" else "smollm2-135m"
    return f"{base}-{config.method}-{time.strftime('%Y%m%d-%H%M%S')}"


def run_finetune(config: FinetuneConfig, resume_dir: Path | None = None, show_progress: bool = True) -> Path:
    """Train (or resume) and return the run folder."""
    import torch

    from edgeqa.data.squad import to_official_json
    from edgeqa.finetune.backends import BUILDERS, choose_backend, training_device
    from edgeqa.finetune.examples import encode_examples
    from edgeqa.finetune.library_noise import quiet_libraries
    from edgeqa.finetune.memory import check_fits, estimate_training_memory, free_memory_gib, gguf_shape
    from edgeqa.finetune.packing import encode_packed
    from edgeqa.finetune.recipe import crop_contexts, rebalance_answerable
    from edgeqa.finetune.trainer import Trainer, torchrun_rank_and_world
    from edgeqa.models.base_model import resolve_base

    quiet_libraries(show_progress)
    rank, world = torchrun_rank_and_world()
    is_main = rank == 0  # under torchrun only rank 0 writes files
    run_dir = resume_dir or Path(config.out_dir) / (config.run_name or default_run_name(config))
    if is_main and resume_dir is None and (run_dir / "config.json").exists():
        raise EdgeQAError(
            f"{run_dir}: a run with this name exists; use --resume {run_dir} or another --run-name"
        )
    if is_main:  # before any work: a second run into this folder is refused at once
        lock_run_dir(run_dir, "--resume" if resume_dir else "--run-name")
    if config.init_adapter:
        from edgeqa.finetune.warm_start import check_init_adapter

        check_init_adapter(
            config.init_adapter, config.lora_r, config.lora_alpha, tuple(config.target_modules)
        )
    base = resolve_base(config.base)
    choice = choose_backend(config)
    print(f"edgeqa finetune: backend {choice.name} ({choice.reason}); base {base.ref}")

    if base.is_gguf:
        estimate = estimate_training_memory(gguf_shape(base.ref), config)
        check_fits(estimate, *free_memory_gib(training_device()))
        print(f"edgeqa finetune: estimated memory {estimate.total_gib:.1f} GiB")

    started = time.perf_counter()
    data_info, data_format, train, val, test = _load_splits(config)
    source = ", ".join(config.data)
    cropped = 0
    if data_format == "squad":
        train = rebalance_answerable(train, config.answerable_share, config.seed)
        whole, train = train, crop_contexts(train, config.context_window, config.seed)
        cropped = sum(before is not after for before, after in zip(whole, train, strict=True))
    torch.manual_seed(config.seed)
    model, tokenizer = BUILDERS[choice.name](config, base)
    if config.init_adapter:
        data_info["warm_start"] = _warm_start(model, config.init_adapter, run_dir, resume_dir is not None)
    if config.pack_questions and data_format == "squad":
        train_encoded, questions, dropped = encode_packed(
            tokenizer, train, config.max_length, config.prompt_layout
        )
    else:
        train_encoded, dropped = encode_examples(tokenizer, train, config.max_length, config.prompt_layout)
        questions = len(train_encoded)
    val_subset = val[:: max(1, len(val) // config.val_examples)][: config.val_examples]
    val_encoded, _ = encode_examples(tokenizer, val_subset, config.max_length, config.prompt_layout)
    if not train_encoded:
        raise EdgeQAError(f"{source}: no training example fits --max-length {config.max_length}")
    if not val_encoded:
        raise EdgeQAError(f"{source}: no validation example; check --split or --val-data")
    examples_per_step = config.batch_size * config.grad_accum * world
    epochs_note = ""
    if config.epochs:  # the step count follows from the data, known only now
        steps = math.ceil(config.epochs * len(train_encoded) / examples_per_step)
        config = dataclasses.replace(config, max_steps=steps)
        epochs_note = f"; {config.epochs:g} epoch{'' if config.epochs == 1 else 's'} = {steps} steps"
    prepare_seconds = time.perf_counter() - started
    kind = (
        f"questions ({sum(bool(e.answers) for e in train) / len(train):.0%} answerable; "
        if data_format == "squad"
        else f"{data_format} conversations ("
    )
    print(
        f"edgeqa finetune: {questions} training {kind}{dropped} longer than "
        f"{config.max_length} tokens left out), {len(val_encoded)} for validation, "
        f"{len(test)} held out for testing"
        + (f"; {cropped} training paragraphs cropped to {config.context_window} words" if cropped else "")
        + (f"; packed into {len(train_encoded)} sequences" if len(train_encoded) != questions else "")
        + epochs_note
    )

    if is_main and resume_dir is None:
        atomic_write_json(run_dir / "config.json", config_to_dict(config))
        if data_format == "squad":  # validation: where `edgeqa calibrate` finds unseen questions
            atomic_write_json(run_dir / "validation.json", to_official_json(val))
        if test and data_format == "squad":
            atomic_write_json(run_dir / "heldout.json", to_official_json(test))
    trainer = Trainer(
        model,
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
        config,
        run_dir,
        train_encoded,
        val_encoded,
        show_progress,
    )
    if resume_dir is not None:
        trainer.load_checkpoint()
        print(f"edgeqa finetune: resuming at step {trainer.state.step}")
    try:
        state = trainer.fit()
    except KeyboardInterrupt:  # the checkpoint is saved; say how to pick it up
        raise KeyboardInterrupt(f"resume with: edgeqa finetune --resume {run_dir}") from None
    if not trainer.dist.is_main:
        return run_dir

    summary: dict[str, Any] = {
        "config": config_to_dict(config),
        "backend": {"name": choice.name, "reason": choice.reason},
        "base": base.to_dict(),
        "data": {
            **data_info,
            **_describe_data(data_format, train, val, test),
            "train_questions": questions,
            "train_sequences": len(train_encoded),
            "prepare_seconds": round(prepare_seconds, 1),
            "left_out_for_length": dropped,
            "heldout": "heldout.json" if test and data_format == "squad" else None,
        },
        "metrics": {
            "steps": state.step,
            "epochs": round(state.questions_seen / questions, 3),
            "stopped_early": state.stopped_early,
            "best_val_loss": state.best_val_loss,
            "final_train_loss": state.train_history[-1][1] if state.train_history else None,
            "train_seconds": round(state.elapsed_s, 1),
            "tokens_per_second": round(state.tokens_seen / state.elapsed_s, 1) if state.elapsed_s else None,
            "questions_per_second": round(state.questions_seen / state.elapsed_s, 2)
            if state.elapsed_s
            else None,
            **peak_memory_gib(),
        },
        "versions": _library_versions(),
        "adapter": "adapter",
    }
    atomic_write_json(run_dir / "loss_curves.json", {"train": state.train_history, "val": state.val_history})
    _plot_losses(run_dir, state.train_history, state.val_history)
    RunRecord(path=run_dir / RunRecord.FILE, **summary).save()
    print(json.dumps(summary["metrics"], indent=2))
    print(f"edgeqa finetune: adapter in {run_dir / 'adapter'}; export with: edgeqa export {run_dir}")
    return run_dir


# What may change when a run resumes: how long it goes on and how often it validates and saves.
RESUME_OVERRIDES = ("max_steps", "eval_every", "save_every", "early_stopping_patience")


def resume_config(run_dir: Path, overrides: dict[str, Any] | None = None) -> FinetuneConfig:
    """The run's own config, with `--max-steps` and the like changed (and recorded) if given:
    a run can be cut short or lengthened; anything else would make it another run."""
    path = run_dir / "config.json"
    if not path.is_file():
        raise EdgeQAError(f"{run_dir}: not a finetune run folder (no config.json)")
    config = FinetuneConfig(**json.loads(path.read_text(encoding="utf-8")))
    overrides = overrides or {}
    fixed = sorted(set(overrides) - set(RESUME_OVERRIDES))
    if fixed:
        flags = ", ".join("--" + name.replace("_", "-") for name in RESUME_OVERRIDES)
        raise EdgeQAError(f"--{fixed[0].replace('_', '-')} cannot change on --resume (only {flags})")
    if overrides:
        changed = {**overrides, "epochs": 0.0} if "max_steps" in overrides else overrides
        config = dataclasses.replace(config, **changed)
        atomic_write_json(path, config_to_dict(config))
    return config
