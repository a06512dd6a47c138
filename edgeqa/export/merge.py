"""Merge a LoRA adapter into a 16/32-bit copy of its base and save it as an HF folder.

Never into 4-bit weights: the base is loaded (or dequantized from GGUF) in float32, the adapter
merged there, and the result written in the precision the converter is asked for. A model loaded
from a GGUF refuses save_pretrained, so the merged weights go into a freshly built model.
"""

from __future__ import annotations

from pathlib import Path

from edgeqa.errors import EdgeQAError
from edgeqa.export.sources import ExportSource
from edgeqa.finetune.base_model import load_causal_lm, load_tokenizer, rebuild_plain


def merged_model(source: ExportSource):
    """(merged float32 causal LM, tokenizer)."""
    import torch

    model = load_causal_lm(source.base, torch.float32)
    tokenizer = load_tokenizer(source.base)
    if source.adapter is not None:
        from peft import PeftModel

        try:
            model = PeftModel.from_pretrained(model, str(source.adapter)).merge_and_unload()
        except (RuntimeError, ValueError, KeyError) as exc:
            first_line = str(exc).strip().splitlines()[0]
            raise EdgeQAError(
                f"{source.adapter}: adapter does not fit base {source.base.ref} ({first_line})"
            ) from None
    return model, tokenizer


def save_hf_folder(model, tokenizer, folder: Path) -> Path:
    """Write model + tokenizer (with its chat template) as a plain transformers folder."""
    rebuild_plain(model).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder
