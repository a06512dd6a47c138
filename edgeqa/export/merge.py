"""Merge a LoRA adapter into a 32-bit copy of its base.

Never into 4-bit weights: the base is loaded (or dequantized from GGUF) in float32 and the
adapter merged there; `base_model.save_hf_folder` writes the result for the converter.
"""

from __future__ import annotations

from edgeqa.errors import EdgeQAError
from edgeqa.export.source_model import ExportSource
from edgeqa.models.base_model import load_causal_lm, load_tokenizer


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
