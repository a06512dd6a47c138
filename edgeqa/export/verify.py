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
from edgeqa.export.request import ExportRequest
from edgeqa.export.source_model import ExportSource
from edgeqa.runtime.engine import QAEngine
from edgeqa.runtime.engine_config import EngineConfig
from edgeqa.runtime.language_model import LanguageModel

KL_WINDOW = 512


def hf_vs_gguf(hf_model, gguf_path: Path, prompts: Sequence[list[int]], threads: int) -> dict[str, Any]:
    """Top-1 agreement and max |logit difference| at the last position of each prompt."""
    import torch

    agree, max_diff = 0, 0.0
    with LanguageModel(gguf_path, EngineConfig(n_ctx=2048, n_threads=threads, parallel=1)) as engine:
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


def verification_prompts(tokenizer, examples, layout: str, count: int = 8) -> list[list[int]]:
    from edgeqa.models.chat_tokens import prompt_ids
    from edgeqa.prompts import qa_messages

    chosen = examples[:: max(1, len(examples) // count)][:count]
    return [prompt_ids(tokenizer, qa_messages(e.context, e.question, layout)) for e in chosen]


def verification_examples(source: ExportSource):
    from edgeqa.data.squad import BUNDLED_SAMPLE, load_squad
    from edgeqa.run_folder import RunFolder

    heldout = RunFolder(source.run_dir).heldout if source.run_dir else None
    return load_squad(heldout if heldout and heldout.is_file() else BUNDLED_SAMPLE)


def _drift(
    request: ExportRequest, tokenizer, reference: Path, files: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Perplexity and KL divergence of every file against the reference, on held-out text (the
    same for every export of a source; its sha256 goes into the manifest)."""
    import hashlib
    import math

    from edgeqa.export.imatrix_text import heldout_tokens
    from edgeqa.export.kl_divergence import compare, scored_tokens

    wanted = math.ceil(request.kl_tokens / scored_tokens(KL_WINDOW, KL_WINDOW)) * KL_WINDOW
    tokens = heldout_tokens(tokenizer, request.source, request.imatrix_tokens, wanted, request.kl_data)
    scored = scored_tokens(len(tokens), KL_WINDOW)
    if scored < request.kl_tokens:
        print(
            f"edgeqa export: only {scored} held-out tokens to score the KL divergence on "
            f"(asked for {request.kl_tokens}); --kl-data <squad.json> adds paragraphs"
        )
    quantized = {q: request.out_dir / e["file"] for q, e in files.items() if q != request.out_type}
    print(f"edgeqa export: perplexity and KL divergence against {reference.name} on {scored} tokens")
    ref_ppl, drifts = compare(reference, list(quantized.values()), tokens, KL_WINDOW, request.threads)
    files[request.out_type].update(perplexity=round(ref_ppl, 4), perplexity_vs_reference=1.0)
    for quant, path in quantized.items():
        drift = drifts[path]
        files[quant].update(
            perplexity=round(drift.perplexity, 4),
            perplexity_vs_reference=round(drift.perplexity_ratio, 4),
            kl_divergence=drift.kl_dict(),
        )
    text = hashlib.sha256(" ".join(map(str, tokens)).encode()).hexdigest()
    return {"kl_window": KL_WINDOW, "kl_tokens": scored, "kl_text_sha256": text}


def verify_export(
    request: ExportRequest,
    model,
    tokenizer,
    reference: Path,
    files: dict[str, dict[str, Any]],
    lora_files: dict[str, Any],
) -> dict[str, Any]:
    """Every check of a finished export: the LoRA GGUF against the merge (when written), the
    reference GGUF against the merged model, each file's drift from the reference (recorded in
    `files`), and one SQuAD question answered by each file."""
    examples = verification_examples(request.source)
    layout = request.source.prompt_layout
    verification: dict[str, Any] = {}
    if lora_files:
        verification["lora_gguf_vs_merged"] = lora_vs_merged(
            request.out_dir / lora_files["base"]["file"],
            request.out_dir / lora_files["adapter"]["file"],
            reference,
            verification_prompts(tokenizer, examples, layout, count=4),
            request.threads,
        )
    print("edgeqa export: verifying against the merged model")
    verification["hf_vs_f16"] = hf_vs_gguf(
        model, reference, verification_prompts(tokenizer, examples, layout), request.threads
    )
    verification.update(_drift(request, tokenizer, reference, files))
    smoke_example = next((e for e in examples if e.answers), examples[0])
    for entry in files.values():
        entry["squad_smoke"] = squad_smoke(request.out_dir / entry["file"], smoke_example, request.threads)
    return verification
