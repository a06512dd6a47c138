"""Check that an exported GGUF still behaves like the model that was trained.

- f16 GGUF vs the merged HF model: next-token top-1 agreement and the largest logit difference
  on fixed QA prompts (conversion bugs show up here, not in a perplexity average);
- each quantized file vs the f16 file: perplexity and KL divergence on held-out text
  (`kl_divergence.py`);
- one SQuAD question answered by each file, as a smoke test.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgeqa.data.squad import QAExample
from edgeqa.runtime.engine import QAEngine
from edgeqa.runtime.engine_config import EngineConfig


def hf_vs_gguf(hf_model, gguf_path: Path, prompts: Sequence[list[int]], threads: int) -> dict[str, Any]:
    """Top-1 agreement and max |logit difference| at the last position of each prompt."""
    import torch

    agree, max_diff = 0, 0.0
    with QAEngine(gguf_path, EngineConfig(n_ctx=2048, n_threads=threads, parallel=1)) as engine:
        for prompt in prompts:
            gguf_logits = engine.sequence_logits(prompt)[-1]
            with torch.no_grad():
                hf_logits = hf_model(torch.tensor([prompt])).logits[0, -1].float().numpy()
            agree += int(np.argmax(gguf_logits) == np.argmax(hf_logits))
            max_diff = max(max_diff, float(np.abs(gguf_logits - hf_logits).max()))
    return {"prompts": len(prompts), "top1_agreement": agree / len(prompts), "max_logit_diff": max_diff}


def lora_vs_merged(
    base_gguf: Path, lora_gguf: Path, merged_gguf: Path, prompts: Sequence[list[int]], threads: int
) -> dict[str, Any]:
    """The base GGUF with the LoRA GGUF applied at load time, vs the merged GGUF (last logits).

    The base alone is measured too, as a control: the LoRA must close most of that gap."""
    from llama_cpp import Llama

    def last_logits(model: Path, lora: Path | None) -> list[np.ndarray]:
        llm = Llama(
            model_path=str(model),
            lora_path=str(lora) if lora else None,
            n_ctx=2048,
            n_threads=threads,
            logits_all=True,  # without it, eval() keeps no logits in this llama-cpp-python
            verbose=False,
        )
        try:
            rows = []
            for prompt in prompts:
                llm.reset()
                llm.eval(prompt)
                rows.append(np.array(llm.scores[llm.n_tokens - 1]))
            return rows
        finally:
            llm.close()

    merged = last_logits(merged_gguf, None)

    def max_diff(rows: list[np.ndarray]) -> float:
        return float(max(np.abs(a - b).max() for a, b in zip(rows, merged, strict=True)))

    with_lora = last_logits(base_gguf, lora_gguf)
    agree = sum(int(np.argmax(a) == np.argmax(b)) for a, b in zip(with_lora, merged, strict=True))
    return {
        "prompts": len(prompts),
        "top1_agreement": agree / len(prompts),
        "max_logit_diff": max_diff(with_lora),
        "base_without_lora_max_logit_diff": max_diff(last_logits(base_gguf, None)),
    }


def squad_smoke(gguf_path: Path, example: QAExample, threads: int) -> dict[str, Any]:
    from edgeqa.prompts import parse_answer
    from edgeqa.squad_metrics import compute_f1

    with QAEngine(gguf_path, EngineConfig(n_ctx=2048, n_threads=threads, parallel=1)) as engine:
        generation = engine.generate_group([engine.qa_prompt(example.context, example.question)])
    answer = parse_answer(generation[0].text)
    golds = example.answers or ("",)
    return {
        "question": example.question,
        "answer": answer,
        "gold": list(example.answers),
        "f1": max(compute_f1(g, answer) for g in golds),
    }
