"""The two training backends behind one small interface: build (model with adapters, tokenizer).

- hf: transformers + PEFT on any machine; QLoRA through bitsandbytes NF4 where it is installed,
  plain LoRA on a 32/16-bit base otherwise.
- unsloth: FastLanguageModel 4-bit QLoRA with gradient checkpointing, on NVIDIA GPUs. A GGUF
  base (the embedded model) is dequantized once into a cached float32 HF folder for it.

On a machine with an NVIDIA GPU both train there; the training loop follows the model's device.

Both return a PEFT model, so the training loop, checkpoints and adapter files are the same.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from typing import Any

from edgeqa.errors import EdgeQAError
from edgeqa.finetune.config import FinetuneConfig
from edgeqa.models.base_model import BaseModel, hf_twin, load_causal_lm, load_tokenizer


@dataclass(frozen=True)
class BackendChoice:
    name: str
    reason: str


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def training_device() -> str:
    """This process's NVIDIA GPU (torchrun's LOCAL_RANK) when one is visible, else the CPU."""
    return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if _cuda_available() else "cpu"


def choose_backend(config: FinetuneConfig) -> BackendChoice:
    """Resolve --backend auto, and check that an explicit choice can run here."""
    has_unsloth = importlib.util.find_spec("unsloth") is not None
    has_cuda = _cuda_available()
    if config.backend == "unsloth":
        if not has_cuda:
            raise EdgeQAError("--backend unsloth needs an NVIDIA GPU; none is visible (use --backend hf)")
        if not has_unsloth:
            raise EdgeQAError("--backend unsloth: unsloth is not installed (pip install 'edgeqa[gpu]')")
        return BackendChoice("unsloth", "requested")
    if config.backend == "hf":
        return BackendChoice("hf", "requested")
    if has_cuda and has_unsloth:
        return BackendChoice("unsloth", "NVIDIA GPU and unsloth found")
    if has_cuda:
        return BackendChoice("hf", "NVIDIA GPU found but unsloth is not installed")
    return BackendChoice("hf", "no NVIDIA GPU visible")


def lora_config(config: FinetuneConfig):
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.target_modules),
        use_rslora=config.use_rslora,
        bias="none",
        task_type="CAUSAL_LM",
    )


def _bnb_config():
    if importlib.util.find_spec("bitsandbytes") is None:
        raise EdgeQAError("--method qlora on the hf backend needs bitsandbytes (pip install bitsandbytes)")
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


def build_hf(config: FinetuneConfig, base: BaseModel) -> tuple[Any, Any]:
    import torch
    from peft import get_peft_model

    torch.manual_seed(config.seed)
    tokenizer = load_tokenizer(base)
    if config.method == "qlora":
        if base.is_gguf:
            raise EdgeQAError("--method qlora needs an HF base (a GGUF base is already quantized); use lora")
        from peft import prepare_model_for_kbit_training

        device = training_device()
        placement = {"": device} if device != "cpu" else None
        model = load_causal_lm(base, torch.bfloat16, quantization_config=_bnb_config(), device_map=placement)
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=True, gradient_checkpointing_kwargs={"use_reentrant": False}
        )
    else:
        model = load_causal_lm(base, torch.float32).to(training_device())
    _check_targets(model, config)
    return get_peft_model(model, lora_config(config)), tokenizer


def build_unsloth(config: FinetuneConfig, base: BaseModel) -> tuple[Any, Any]:
    from unsloth import FastLanguageModel

    folder = hf_twin(base) if base.is_gguf else None
    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=str(folder) if folder else base.ref,
        max_seq_length=config.max_length,
        load_in_4bit=config.method == "qlora",
        dtype=None,
    )
    model = FastLanguageModel.get_peft_model(
        model,
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.target_modules),
        use_gradient_checkpointing="unsloth",
        use_rslora=config.use_rslora,
        random_state=config.seed,
    )
    return model, tokenizer


def _check_targets(model, config: FinetuneConfig) -> None:
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [m for m in config.target_modules if m not in names]
    if missing:
        raise EdgeQAError(f"target_modules: the base has no module named {missing[0]!r}")


BUILDERS = {"hf": build_hf, "unsloth": build_unsloth}
