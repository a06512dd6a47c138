"""One (RoPE setting, context length) configuration, in its own process:
`python -m edgeqa.longctx.worker PAYLOAD OUT`. A crash or an out-of-memory kill at a long
context ends this configuration only."""

from __future__ import annotations

import math
import sys
import time
from typing import Any

from edgeqa.isolation import child_main


def run(payload: dict[str, Any]) -> dict[str, Any]:
    from edgeqa.longctx.perplexity import window_nll
    from edgeqa.longctx.probes import load_text, passkey_prompt, passkeys
    from edgeqa.runtime.engine import QAEngine
    from edgeqa.runtime.engine_config import EngineConfig, RopeSettings

    n_ctx = payload["n_ctx"]
    config = EngineConfig(
        n_ctx=n_ctx,
        n_threads=payload["threads"],
        n_batch=payload["n_batch"],
        parallel=1,
        max_answer_tokens=8,
        rope=RopeSettings(**payload["rope"]),
    )
    with QAEngine(payload["model"], config) as engine:
        tokens = engine.tokenize(load_text(payload["text"]))
        started = time.perf_counter()
        nll, count = 0.0, 0
        windows = min(payload["windows"], len(tokens) // n_ctx)
        for start in range(0, windows * n_ctx, n_ctx):
            window_nll, window_count = window_nll(engine, tokens[start : start + n_ctx], n_ctx // 2)
            nll, count = nll + window_nll, count + window_count
        perplexity_s = time.perf_counter() - started

        started = time.perf_counter()
        passkey = []
        for depth in payload["depths"]:
            hits = 0
            for key in passkeys(payload["trials"], payload["seed"]):
                prompt = passkey_prompt(engine.tokenize, n_ctx - 9, depth, key)
                hits += str(key) in "".join(engine.stream(prompt, reuse_prefix=False))
            passkey.append({"depth": depth, "hits": hits, "trials": payload["trials"]})
    return {
        "perplexity": math.exp(nll / count) if count else None,
        "windows": windows,
        "text_tokens": len(tokens),
        "scored_tokens": count,
        "perplexity_s": perplexity_s,
        "passkey": passkey,
        "passkey_s": time.perf_counter() - started,
    }


if __name__ == "__main__":
    sys.exit(child_main(run, sys.argv[1:]))
