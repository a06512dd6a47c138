"""The grid: every RoPE setting at every context length, each isolated, kept once finished."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeqa.errors import EdgeQAError
from edgeqa.isolation import run_child, run_keyed
from edgeqa.longctx.grid import GridSetting, build_setting


@dataclass(frozen=True)
class LongCtxRequest:
    model: Path
    contexts: tuple[int, ...]
    grid: list[dict[str, Any]]
    out_dir: Path
    text: str | None = None
    windows: int = 1
    depths: tuple[float, ...] = (0.1, 0.5, 0.9)
    trials: int = 2
    threads: int = 2
    n_batch: int = 512
    seed: int = 0
    timeout_s: float = 3600


def resolve_settings(request: LongCtxRequest) -> list[GridSetting]:
    from edgeqa.models.gguf_info import read_gguf_info

    info = read_gguf_info(request.model)
    trained = int(info.context_length or 0)
    if not trained:
        raise EdgeQAError(f"{request.model}: the GGUF does not record its trained context length")
    settings = [
        build_setting(
            entry,
            trained,
            info.hparam("rope.freq_base", 10_000.0),
            int(info.hparam("rope.dimension_count", 128)),
        )
        for entry in request.grid
    ]
    names = [s.name for s in settings]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise EdgeQAError(f"grid: the name {duplicated[0]!r} is used twice; give each entry its own name")
    return settings


def check_text_length(request: LongCtxRequest) -> int:
    """Fail before the grid starts when the text cannot fill the longest context."""
    from edgeqa.longctx.probes import load_text
    from edgeqa.runtime.engine_config import EngineConfig
    from edgeqa.runtime.language_model import LanguageModel

    with LanguageModel(request.model, EngineConfig(n_ctx=512, parallel=1)) as model:
        count = len(model.tokenize(load_text(request.text)))
    longest = max(request.contexts)
    if count < longest:
        raise EdgeQAError(
            f"{request.text or 'the bundled text'}: {count} tokens, but --ctx {longest} needs at least "
            f"{longest}; pass --text with a longer text (.txt or a SQuAD file)"
        )
    return count


def _configuration(request: LongCtxRequest, setting: GridSetting, n_ctx: int) -> tuple[str, Callable]:
    import psutil

    from edgeqa.longctx.probes import memory_estimate_gib
    from edgeqa.models.gguf_info import read_gguf_info

    payload = {
        "model": str(request.model),
        "n_ctx": n_ctx,
        "rope": setting.to_dict()["rope"],
        "text": request.text,
        "windows": request.windows,
        "depths": list(request.depths),
        "trials": request.trials,
        "threads": request.threads,
        "n_batch": request.n_batch,
        "seed": request.seed,
    }
    key = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]
    base = {"setting": setting.name, "method": setting.method, "factor": setting.factor, "n_ctx": n_ctx}

    def job() -> dict[str, Any]:
        info = read_gguf_info(request.model)
        needed = memory_estimate_gib(info.size_bytes, info.hparams, n_ctx, request.n_batch)
        available = psutil.virtual_memory().available / 2**30
        record = {**base, "memory_estimate_gib": round(needed, 2)}
        if needed > 0.9 * available:
            return {
                **record,
                "status": "skipped",
                "error": f"needs ~{needed:.1f} GiB, {available:.1f} GiB available",
            }
        outcome = run_child("edgeqa.longctx.worker", payload, request.timeout_s)
        record.update(status=outcome.status, peak_rss_mib=outcome.peak_rss_mib)
        if outcome.status != "ok":
            return {**record, "error": outcome.error}
        return {**record, **outcome.result}

    return key, job


def run_longctx(
    request: LongCtxRequest, on_done: Callable[[dict[str, Any], bool], None] = lambda r, c: None
) -> tuple[list[GridSetting], list[dict[str, Any]]]:
    settings = resolve_settings(request)
    check_text_length(request)
    jobs = [
        _configuration(request, s, n_ctx) for n_ctx in request.contexts for s in settings if s.runs_at(n_ctx)
    ]
    return settings, run_keyed(jobs, request.out_dir / "configs", on_done)
