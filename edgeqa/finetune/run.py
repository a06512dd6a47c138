"""`edgeqa finetune`: from a config to a run folder with an adapter and its provenance."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeqa.errors import EdgeQAError
from edgeqa.fileio import atomic_write_json, lock_run_dir
from edgeqa.finetune.config import FinetuneConfig, config_to_dict
from edgeqa.option_field import flag
from edgeqa.provenance import RunRecord
from edgeqa.run_folder import RunFolder


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
    from edgeqa.data.sources import DataSource

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
    loaded = config.load_sources()
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


def _plot_losses(target: Path, train: list, val: list) -> None:
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
    figure.savefig(target, dpi=120)
    plt.close(figure)


def _warm_start(model, init_adapter: str, folder: RunFolder, resuming: bool) -> dict[str, Any]:
    """Load `--init-adapter` into a new run and note what it was in the run folder; a resumed
    run has the weights in its checkpoint and reads the note back."""
    from edgeqa.finetune.warm_start import load_init_adapter

    note = folder.warm_start
    if resuming and note.is_file():
        return json.loads(note.read_text(encoding="utf-8"))
    record = {"from": Path(init_adapter).name, **load_init_adapter(model, init_adapter)}
    atomic_write_json(note, record)
    print(f"edgeqa finetune: the adapter starts from {init_adapter}")
    return record


def default_run_name(config: FinetuneConfig) -> str:
    base = Path(config.base).stem if config.base != "embedded" else "smollm2-135m"
    return f"{base}-{config.method}-{time.strftime('%Y%m%d-%H%M%S')}"


@dataclass
class PreparedData:
    """The run's questions (or conversations), split, and what run.json says of them."""

    info: dict[str, Any]
    data_format: str
    train: list
    val: list
    test: list
    cropped: int = 0  # training paragraphs cut to --context-window words

    @property
    def is_squad(self) -> bool:
        return self.data_format == "squad"


@dataclass
class EncodedData:
    train: list
    val: list
    questions: int  # training questions (several share a sequence when packed)
    dropped: int  # longer than --max-length, left out


def _claim_run_dir(config: FinetuneConfig, resume_dir: Path | None, is_main: bool) -> RunFolder:
    """The run's folder, locked before any work so a second run into it is refused at once."""
    folder = RunFolder(resume_dir or Path(config.out_dir) / (config.run_name or default_run_name(config)))
    if is_main and resume_dir is None and folder.config.exists():
        raise EdgeQAError(
            f"{folder.path}: a run with this name exists; use --resume {folder.path} or another --run-name"
        )
    if is_main:
        lock_run_dir(folder.path, "--resume" if resume_dir else "--run-name")
    return folder


def _check_before_loading(config: FinetuneConfig):
    """What can be refused before a model loads: the starting adapter, the base, the memory."""
    from edgeqa.finetune.backends import choose_backend, training_device
    from edgeqa.finetune.memory import check_fits, estimate_training_memory, free_memory_gib, gguf_shape
    from edgeqa.models.base_model import resolve_base

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
    return base, choice


def _prepare_data(config: FinetuneConfig) -> PreparedData:
    """Load and split; SQuAD training questions are rebalanced and cropped as the recipe says."""
    from edgeqa.finetune.recipe import crop_contexts, rebalance_answerable

    data = PreparedData(*_load_splits(config))
    if data.is_squad:
        train = rebalance_answerable(data.train, config.answerable_share, config.seed)
        data.train = crop_contexts(train, config.context_window, config.seed)
        data.cropped = sum(before is not after for before, after in zip(train, data.train, strict=True))
    return data


def _encode(config: FinetuneConfig, tokenizer, data: PreparedData) -> EncodedData:
    """Token sequences for training (packed when asked) and a spread subset for validation."""
    from edgeqa.finetune.examples import encode_examples
    from edgeqa.finetune.packing import encode_packed

    layout = config.prompt_layout
    if config.pack_questions and data.is_squad:
        train, questions, dropped = encode_packed(tokenizer, data.train, config.max_length, layout)
    else:
        train, dropped = encode_examples(tokenizer, data.train, config.max_length, layout)
        questions = len(train)
    val_subset = data.val[:: max(1, len(data.val) // config.val_examples)][: config.val_examples]
    val, _ = encode_examples(tokenizer, val_subset, config.max_length, layout)
    source = ", ".join(config.data)
    if not train:
        raise EdgeQAError(f"{source}: no training example fits --max-length {config.max_length}")
    if not val:
        raise EdgeQAError(f"{source}: no validation example; check --split or --val-data")
    return EncodedData(train, val, questions, dropped)


def _with_step_count(config: FinetuneConfig, encoded: EncodedData, world: int) -> tuple[FinetuneConfig, str]:
    """--epochs as a step count, known only once the data is encoded; and how to say it."""
    if not config.epochs:
        return config, ""
    steps = math.ceil(config.epochs * len(encoded.train) / (config.batch_size * config.grad_accum * world))
    note = f"; {config.epochs:g} epoch{'' if config.epochs == 1 else 's'} = {steps} steps"
    return dataclasses.replace(config, max_steps=steps), note


def _announce(config: FinetuneConfig, data: PreparedData, encoded: EncodedData, steps_note: str) -> None:
    kind = (
        f"questions ({sum(bool(e.answers) for e in data.train) / len(data.train):.0%} answerable; "
        if data.is_squad
        else f"{data.data_format} conversations ("
    )
    print(
        f"edgeqa finetune: {encoded.questions} training {kind}{encoded.dropped} longer than "
        f"{config.max_length} tokens left out), {len(encoded.val)} for validation, "
        f"{len(data.test)} held out for testing"
        + (
            f"; {data.cropped} training paragraphs cropped to {config.context_window} words"
            if data.cropped
            else ""
        )
        + (f"; packed into {len(encoded.train)} sequences" if len(encoded.train) != encoded.questions else "")
        + steps_note
    )


def _write_inputs(folder: RunFolder, config: FinetuneConfig, data: PreparedData) -> None:
    """The config, and the validation and test questions in SQuAD's JSON (where `edgeqa
    calibrate` and the pipeline find questions the run did not train on)."""
    from edgeqa.data.squad import to_official_json

    atomic_write_json(folder.config, config_to_dict(config))
    if data.is_squad:
        atomic_write_json(folder.validation, to_official_json(data.val))
        if data.test:
            atomic_write_json(folder.heldout, to_official_json(data.test))


def _train(trainer, folder: RunFolder, resuming: bool):
    if resuming:
        trainer.load_checkpoint()
        print(f"edgeqa finetune: resuming at step {trainer.state.step}")
    try:
        return trainer.fit()
    except KeyboardInterrupt:  # the checkpoint is saved; say how to pick it up
        raise KeyboardInterrupt(f"resume with: edgeqa finetune --resume {folder.path}") from None


def _training_metrics(state, questions: int) -> dict[str, Any]:
    seconds = state.elapsed_s
    return {
        "steps": state.step,
        "epochs": round(state.questions_seen / questions, 3),
        "stopped_early": state.stopped_early,
        "best_val_loss": state.best_val_loss,
        "final_train_loss": state.train_history[-1][1] if state.train_history else None,
        "train_seconds": round(seconds, 1),
        "tokens_per_second": round(state.tokens_seen / seconds, 1) if seconds else None,
        "questions_per_second": round(state.questions_seen / seconds, 2) if seconds else None,
        **peak_memory_gib(),
    }


def _record(
    folder: RunFolder,
    config: FinetuneConfig,
    setup,
    data: PreparedData,
    encoded: EncodedData,
    state,
    prepare_seconds: float,
) -> None:
    """run.json, the loss curves and their plot: written last, so a run.json means finished."""
    from edgeqa.versions import library_versions

    base, choice = setup
    record = RunRecord(
        path=folder.record,
        config=config_to_dict(config),
        backend={"name": choice.name, "reason": choice.reason},
        base=base.to_dict(),
        data={
            **data.info,
            **_describe_data(data.data_format, data.train, data.val, data.test),
            "train_questions": encoded.questions,
            "train_sequences": len(encoded.train),
            "prepare_seconds": round(prepare_seconds, 1),
            "left_out_for_length": encoded.dropped,
            "heldout": folder.heldout.name if data.test and data.is_squad else None,
        },
        metrics=_training_metrics(state, encoded.questions),
        versions=library_versions(
            ("edgeqa", "torch", "transformers", "peft", "llama-cpp-python", "gguf", "unsloth")
        ),
        adapter=folder.adapter.name,
    )
    atomic_write_json(folder.loss_curves, {"train": state.train_history, "val": state.val_history})
    _plot_losses(folder.loss_plot, state.train_history, state.val_history)
    record.save()
    print(json.dumps(record.metrics, indent=2))
    print(f"edgeqa finetune: adapter in {folder.adapter}; export with: edgeqa export {folder.path}")


def run_finetune(config: FinetuneConfig, resume_dir: Path | None = None, show_progress: bool = True) -> Path:
    """Train (or resume) and return the run folder."""
    import torch

    from edgeqa.finetune.backends import BUILDERS
    from edgeqa.finetune.library_noise import quiet_training_libraries
    from edgeqa.finetune.trainer import Trainer, torchrun_rank_and_world

    quiet_training_libraries(show_progress)
    rank, world = torchrun_rank_and_world()
    is_main = rank == 0  # under torchrun only rank 0 writes files
    folder = _claim_run_dir(config, resume_dir, is_main)
    base, choice = _check_before_loading(config)
    started = time.perf_counter()
    data = _prepare_data(config)
    torch.manual_seed(config.seed)
    model, tokenizer = BUILDERS[choice.name](config, base)
    if config.init_adapter:
        data.info["warm_start"] = _warm_start(model, config.init_adapter, folder, resume_dir is not None)
    encoded = _encode(config, tokenizer, data)
    config, steps_note = _with_step_count(config, encoded, world)
    _announce(config, data, encoded, steps_note)
    prepare_seconds = time.perf_counter() - started
    if is_main and resume_dir is None:
        _write_inputs(folder, config, data)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    trainer = Trainer(model, pad_id, config, folder.path, encoded.train, encoded.val, show_progress)
    state = _train(trainer, folder, resuming=resume_dir is not None)
    if trainer.dist.is_main:
        _record(folder, config, (base, choice), data, encoded, state, prepare_seconds)
    return folder.path


# What may change when a run resumes: how long it goes on, how often it validates and saves, and
# which adapter it ends with.
RESUME_OVERRIDES = ("max_steps", "eval_every", "save_every", "early_stopping_patience", "keep_adapter")


def resume_config(run_dir: Path, overrides: dict[str, Any] | None = None) -> FinetuneConfig:
    """The run's own config, with `--max-steps` and the like changed (and recorded) if given:
    a run can be cut short or lengthened; anything else would make it another run."""
    path = RunFolder(run_dir).config
    if not path.is_file():
        raise EdgeQAError(f"{run_dir}: not a finetune run folder (no config.json)")
    config = FinetuneConfig(**json.loads(path.read_text(encoding="utf-8")))
    overrides = overrides or {}
    fixed = sorted(set(overrides) - set(RESUME_OVERRIDES))
    if fixed:
        flags = ", ".join(flag(name) for name in RESUME_OVERRIDES)
        raise EdgeQAError(f"--{fixed[0].replace('_', '-')} cannot change on --resume (only {flags})")
    if overrides:
        changed = {**overrides, "epochs": 0.0} if "max_steps" in overrides else overrides
        config = dataclasses.replace(config, **changed)
        atomic_write_json(path, config_to_dict(config))
    return config
