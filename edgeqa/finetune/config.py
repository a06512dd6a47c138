"""The fine-tuning configuration: one dataclass, loaded from a YAML preset, overridden by flags.

Precedence is CLI flag > YAML preset > dataclass default, merged in `load_config` only. An unknown
key in a preset or an invalid value is an error naming the key, never silently ignored.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeqa.data.instructions import DATA_FORMATS
from edgeqa.errors import EdgeQAError
from edgeqa.prompts import DEFAULT_PROMPT_LAYOUT, PROMPT_LAYOUTS

if TYPE_CHECKING:
    from edgeqa.data.sources import LoadedSources

BACKENDS = ("auto", "unsloth", "hf")
METHODS = ("lora", "qlora")
SCHEDULES = ("cosine", "linear", "constant")
DTYPES = ("fp32", "bf16")
REPORTERS = ("none", "tensorboard", "wandb")
KEPT_ADAPTERS = ("best", "final")
LLAMA_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class FinetuneConfig:
    """Every knob of `edgeqa finetune`; each field is also a --flag of the same name."""

    base: str = "embedded"
    """Base model: a hub id, a local HF folder, a GGUF file, or 'embedded' (SmolLM2-135M GGUF)."""
    data: tuple[str, ...] = ("bundled",)
    """SQuAD or instruction data (.json/.jsonl, a hub id, or 'bundled', the shipped SQuAD sample);
    several SQuAD sources, each SOURCE[:count=N|share=S][,role=split|train|val|test]."""
    data_format: str = "auto"
    """auto (from the first record), squad, alpaca, messages or sharegpt."""
    val_data: str | None = None
    """Separate validation data; without it the articles of --data are split."""
    split: tuple[float, float, float] = (0.8, 0.2, 0.0)
    """Article-level train/validation/test fractions of --data (a test part is written to heldout.json)."""
    init_adapter: str | None = None
    """Start the LoRA from an earlier adapter (a run or adapter folder, a LoRA .gguf, or a shipped
    reader by name: smollm2-135m-squad) and train it on this run's data; rank, alpha/rank and
    target modules must match. Unlike --resume, all else is new."""
    run_name: str | None = None
    """Folder name under --out-dir (default: <base>-<method>-<time>)."""
    out_dir: str = "models"
    """Where run folders are written."""
    backend: str = "auto"
    """auto (unsloth on an NVIDIA GPU with unsloth installed, else hf), unsloth, or hf."""
    method: str = "lora"
    """lora (16/32-bit base) or qlora (4-bit NF4 base through bitsandbytes or unsloth)."""
    lora_r: int = 16
    """LoRA rank."""
    lora_alpha: int = 16
    """LoRA alpha (scale = alpha / r, or alpha / sqrt(r) with rsLoRA)."""
    lora_dropout: float = 0.05
    """Dropout on the LoRA input."""
    use_rslora: bool = False
    """Rank-stabilised LoRA scaling."""
    target_modules: tuple[str, ...] = LLAMA_PROJECTIONS
    """Modules that get adapters: attention and MLP projections by default."""
    learning_rate: float = 2e-4
    """Peak learning rate."""
    lr_schedule: str = "cosine"
    """cosine, linear or constant decay after warm-up."""
    warmup_steps: int = 10
    """Linear warm-up steps."""
    weight_decay: float = 0.0
    """AdamW weight decay on the adapter weights."""
    max_steps: int = 200
    """Optimizer steps (each of batch_size x grad_accum examples)."""
    epochs: float = 0.0
    """Passes over the training examples instead of max_steps, rounded up to whole steps (0: off)."""
    batch_size: int = 4
    """Examples per forward pass."""
    grad_accum: int = 2
    """Forward passes per optimizer step."""
    group_by_length: bool = True
    """Batch examples of similar length together (less padding; order still seeded)."""
    max_length: int = 512
    """Longest prompt + answer in tokens; longer examples are left out and counted."""
    dtype: str = "fp32"
    """Compute dtype: fp32, or bf16 autocast (on the CPU or the GPU)."""
    eval_every: int = 25
    """Validation loss every N steps (0: only at the end)."""
    val_examples: int = 128
    """Validation questions used for the loss (a fixed, seeded subset)."""
    early_stopping_patience: int = 4
    """Stop after this many evaluations without a better validation loss (0: never)."""
    keep_adapter: str = "best"
    """The adapter a run ends with in adapter/: best (lowest validation loss) or final (the last
    step's weights: for an annealed schedule judged on a validation part too small to rank steps)."""
    save_every: int = 25
    """Checkpoint every N steps for --resume."""
    negatives: tuple[str, ...] = ()
    """Made unanswerable questions for the training and validation parts: kinds from
    answer-removed, other-paragraph, entity-swap, number-swap, negation, antonym,
    impossible-condition (or all, adversarial)."""
    negative_share: float = 0.0
    """Share of made unanswerable questions in the training and validation parts."""
    pack_questions: bool = False
    """Train a paragraph's questions in one sequence that reads the paragraph once (faster; same loss)."""
    answerable_share: float = 0.0
    """Share of answerable questions in the training data, sampled down to it (0: as given)."""
    context_window: int = 0
    """Crop training paragraphs to this many words around the answer (0: whole paragraphs)."""
    neftune_alpha: float = 0.0
    """NEFTune noise on the input embeddings while training (0: off; 5 is the paper's default)."""
    decision_weight: float = 1.0
    """Loss weight of each answer's first token, the abstain-or-answer decision (1: plain loss)."""
    prompt_layout: str = DEFAULT_PROMPT_LAYOUT
    """context-first, or question-first (question, context, question); kept in the exported GGUF."""
    seed: int = 0
    """Seed for the split, the data order and the adapter initialisation."""
    report_to: str = "none"
    """none, tensorboard or wandb (offline-safe: none by default)."""

    def load_sources(self) -> LoadedSources:
        """The run's SQuAD data, sized and split as training drew it: deterministic in the config,
        so export and the pipeline recover exactly which questions a run trained on."""
        from edgeqa.data.sources import load_sources

        return load_sources(self.data, self.split, self.seed, self.val_data)

    def __post_init__(self) -> None:
        from edgeqa.data.negatives import parse_kinds

        if isinstance(self.data, str):  # one source, as a YAML preset or an old run.json gives it
            self.data = (self.data,)
        self.data = tuple(self.data)
        self.negatives = parse_kinds(self.negatives)
        self.split = tuple(float(x) for x in self.split)  # type: ignore[assignment]
        self.target_modules = tuple(self.target_modules)
        checks = [
            (self.backend in BACKENDS, f"backend must be one of {', '.join(BACKENDS)}"),
            (self.data_format in DATA_FORMATS, f"data_format must be one of {', '.join(DATA_FORMATS)}"),
            (self.method in METHODS, f"method must be one of {', '.join(METHODS)}"),
            (self.lr_schedule in SCHEDULES, f"lr_schedule must be one of {', '.join(SCHEDULES)}"),
            (self.dtype in DTYPES, f"dtype must be one of {', '.join(DTYPES)}"),
            (self.report_to in REPORTERS, f"report_to must be one of {', '.join(REPORTERS)}"),
            (
                len(self.split) == 3 and abs(sum(self.split) - 1) < 1e-6 and min(self.split) >= 0,
                "split must be three fractions (train, validation, test) that sum to 1",
            ),
            (self.lora_r > 0 and self.lora_alpha > 0, "lora_r and lora_alpha must be positive"),
            (0 <= self.lora_dropout < 1, "lora_dropout must be in [0, 1)"),
            (self.learning_rate > 0, "learning_rate must be positive"),
            (0 <= self.answerable_share <= 1, "answerable_share must be in [0, 1]"),
            (0 <= self.negative_share < 1, "negative_share must be in [0, 1)"),
            (bool(self.data), "data must name at least one source"),
            (self.neftune_alpha >= 0, "neftune_alpha must be >= 0"),
            (self.decision_weight > 0, "decision_weight must be positive (1: plain loss)"),
            (self.epochs >= 0, "epochs must be >= 0 (0: max_steps sets the length)"),
            (self.context_window >= 0, "context_window must be >= 0 (0: whole paragraphs)"),
            (
                self.prompt_layout in PROMPT_LAYOUTS,
                f"prompt_layout must be one of {', '.join(PROMPT_LAYOUTS)}",
            ),
            (
                min(self.max_steps, self.batch_size, self.grad_accum, self.max_length) > 0,
                "max_steps, batch_size, grad_accum and max_length must be positive",
            ),
            (
                min(self.warmup_steps, self.eval_every, self.save_every, self.early_stopping_patience) >= 0,
                "warmup_steps, eval_every, save_every and early_stopping_patience must be >= 0",
            ),
            (bool(self.target_modules), "target_modules must name at least one module"),
            (self.keep_adapter in KEPT_ADAPTERS, f"keep_adapter must be {' or '.join(KEPT_ADAPTERS)}"),
        ]
        for ok, message in checks:
            if not ok:
                raise EdgeQAError(f"finetune config: {message}")


def load_config(preset: str | Path | None, overrides: dict[str, Any]) -> FinetuneConfig:
    """Defaults, then the YAML preset, then the flags the user gave (None means not given)."""
    values: dict[str, Any] = {}
    known = {f.name for f in dataclasses.fields(FinetuneConfig)}
    if preset is not None:
        from edgeqa.fileio import read_yaml

        path = Path(preset)
        loaded = read_yaml(path, "config")
        if not isinstance(loaded, dict):
            raise EdgeQAError(f"{path}: expected a mapping of option: value")
        loaded.pop("pipeline", None)  # the `edgeqa pipeline` section of a preset
        unknown = sorted(set(loaded) - known)
        if unknown:
            raise EdgeQAError(f"{path}: unknown option {unknown[0]!r} (valid: {', '.join(sorted(known))})")
        values.update(loaded)
    given = {k: v for k, v in overrides.items() if v is not None}
    if "max_steps" in given and "epochs" not in given:
        values["epochs"] = 0.0  # a --max-steps on the command line sets the length, over a preset's epochs
    values.update(given)
    try:
        return FinetuneConfig(**values)
    except TypeError as exc:
        raise EdgeQAError(f"finetune config: {exc}") from None


def config_to_dict(config: FinetuneConfig) -> dict[str, Any]:
    data = dataclasses.asdict(config)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}
