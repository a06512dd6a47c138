"""One profiling configuration, run in its own process: `python -m edgeqa.profiling.worker SPEC OUT`.

A process per configuration keeps memory readings clean (nothing left from the previous
model) and turns a native crash into a failed configuration instead of a failed sweep.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from edgeqa.isolation import child_main
from edgeqa.profiling.measure import Answerer, llama_cpp_answerer, measure, transformers_answerer
from edgeqa.profiling.spec import ProfileSpec


def _load_llama_cpp(spec: ProfileSpec) -> tuple[Answerer, Any]:
    from pathlib import Path

    from edgeqa.reader.reader import Reader
    from edgeqa.runtime.engine_config import EngineConfig

    engine = EngineConfig(
        n_ctx=spec.n_ctx,
        n_threads=spec.threads,
        parallel=1,
        max_answer_tokens=spec.max_answer_tokens,
        use_mmap=spec.mmap,
    )
    reader = Reader.from_settings(Path(spec.model), spec.policy, engine)
    return llama_cpp_answerer(reader), reader


def _load_transformers(spec: ProfileSpec) -> tuple[Answerer, Any]:
    import torch

    from edgeqa.models.base_model import load_causal_lm, load_tokenizer, resolve_base

    torch.set_num_threads(spec.threads)
    base = resolve_base(spec.model)
    # a profiled GGUF is no training base: no float32 twin in the user cache for each file profiled,
    # and transformers' own GGUF load is what its load_s measures
    dtype = torch.float32 if spec.dtype == "fp32" else torch.bfloat16
    model = load_causal_lm(base, dtype, via_twin=False)
    model.eval()
    return transformers_answerer(model, load_tokenizer(base, via_twin=False), spec.max_answer_tokens), model


def run(spec: ProfileSpec) -> dict[str, Any]:
    from edgeqa.data.squad import load_squad, select_examples

    examples = select_examples(load_squad(spec.data), limit=spec.questions, seed=spec.seed)
    started = time.perf_counter()
    answerer, handle = (_load_llama_cpp if spec.backend == "llama.cpp" else _load_transformers)(spec)
    load_s = time.perf_counter() - started
    result = measure(answerer, examples, spec.warmup, spec.repeats)
    if hasattr(handle, "close"):
        handle.close()
    return {"load_s": load_s, **result}


if __name__ == "__main__":
    sys.exit(child_main(lambda payload: run(ProfileSpec.from_dict(payload)), sys.argv[1:]))
