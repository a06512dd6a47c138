"""Merging a GGUF LoRA into its GGUF base gives the model llama.cpp computes with the LoRA at load."""

import numpy as np
import pytest

from edgeqa.errors import EdgeQAError
from edgeqa.export.merge_lora_gguf import merge_lora_gguf
from edgeqa.models.gguf_info import read_gguf_info
from edgeqa.models.registry import resolve_model
from edgeqa.prompts import PROMPT_LAYOUT_KEY
from edgeqa.runtime.engine import QAEngine
from edgeqa.runtime.engine_config import EngineConfig

PROMPT = ("The Normans lived in Normandy, a region of France.", "Where did the Normans live?")


def test_merged_weights_give_the_logits_of_the_lora_applied_at_load(embedded_model, tmp_path):
    adapter = resolve_model("smollm2-135m-squad")
    merged = merge_lora_gguf(
        embedded_model, adapter, tmp_path / "merged.gguf", {PROMPT_LAYOUT_KEY: "context-first"}
    )
    assert read_gguf_info(merged).prompt_layout == "context-first"
    assert not list(tmp_path.glob(".*partial"))
    config = EngineConfig(n_ctx=512, parallel=1)
    with (
        QAEngine(adapter, config) as at_load,
        QAEngine(merged, config) as fused,
        QAEngine(embedded_model, config) as base,
    ):
        prompt = at_load.qa_prompt(*PROMPT)
        expected = at_load.next_token_logits(prompt)
        got = fused.next_token_logits(prompt)
        untouched = base.next_token_logits(prompt)
    assert np.argmax(got) == np.argmax(expected)
    assert np.abs(got - expected).max() < 0.1 * np.abs(untouched - expected).max()


def test_a_model_file_is_not_a_lora(embedded_model, tmp_path):
    with pytest.raises(EdgeQAError, match="not a LoRA GGUF"):
        merge_lora_gguf(embedded_model, embedded_model, tmp_path / "x.gguf", {})
    assert not list(tmp_path.iterdir())
