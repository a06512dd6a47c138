"""`edgeqa eval`: answer SQuAD questions with a GGUF on llama.cpp, resumably, and score them.

Outputs in the run folder: eval_config.json (what the run is; a resume must match it),
log.jsonl (one line per question: answer, tokens, latency), and at the end predictions.json and
na_prob.json (the official formats) and metrics.json.
"""

from __future__ import annotations

import hashlib
import resource
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeqa.data.squad import QAExample
from edgeqa.errors import EdgeQAError
from edgeqa.evaluation.endpoint import EndpointClient, EndpointConfig
from edgeqa.evaluation.progress_log import RecordWriter, claim_run_dir, read_records, release_unstarted
from edgeqa.evaluation.squad_metrics import GoldQuestion, always_abstain_baseline, evaluate, no_answer_auc
from edgeqa.fileio import atomic_write_json, sha256_file
from edgeqa.prompts import SYSTEM_PROMPT, parse_answer, qa_messages
from edgeqa.runtime.engine import QAEngine
from edgeqa.runtime.engine_config import EngineConfig
from edgeqa.runtime.scheduler import plan_groups

TOO_LONG_POLICIES = ("error", "skip")


@dataclass(frozen=True)
class EvalRequest:
    """Everything that decides the predictions of a run (threads and batching do not).
    Answers come from the GGUF `model` on llama.cpp, or from `endpoint` when it is set."""

    model: Path | None
    data: str
    examples: Sequence[QAExample]
    out_dir: Path
    engine: EngineConfig = field(default_factory=EngineConfig)
    too_long: str = "error"
    show_progress: bool = True
    endpoint: EndpointConfig | None = None

    @property
    def label(self) -> str:
        return self.endpoint.label if self.endpoint else str(self.model)


def _fingerprint(request: EvalRequest, model_sha256: str | None) -> dict[str, Any]:
    ids = hashlib.sha256("\n".join(e.qid for e in request.examples).encode()).hexdigest()
    return {
        "model_sha256": model_sha256,
        # the endpoint's model, not its URL: a restarted server on another port may resume
        "endpoint": request.endpoint.model if request.endpoint else None,
        "questions_sha256": ids,
        "questions": len(request.examples),
        "prompt_sha256": hashlib.sha256(SYSTEM_PROMPT.encode()).hexdigest(),
        "max_answer_tokens": request.engine.max_answer_tokens,
        "span_constrained": request.engine.span_constrained,
        "na_threshold": request.engine.na_threshold,
        "na_score": request.engine.na_score,
        "too_long": request.too_long,
    }


def _claim_out_dir(request: EvalRequest, model_sha256: str | None) -> None:
    details = {"model": request.label, "data": request.data, "engine": asdict(request.engine)}
    claim_run_dir(request.out_dir, "eval_config.json", _fingerprint(request, model_sha256), details)


def _check_lengths(
    request: EvalRequest, examples: Sequence[QAExample], prompts: Sequence[list[int]], window: int
) -> set[int]:
    """Indices of prompts too long for the context; an error unless --too-long skip."""
    budget = request.engine.n_ctx - request.engine.max_answer_tokens
    too_long = {i for i, p in enumerate(prompts) if len(p) > budget}
    if too_long and request.too_long == "error":
        first = min(too_long)
        raise EdgeQAError(
            f"question {examples[first].qid}: prompt of {len(prompts[first])} tokens + "
            f"{request.engine.max_answer_tokens} answer tokens exceeds --n-ctx "
            f"{request.engine.n_ctx} (model window {window}); raise --n-ctx or pass --too-long skip"
        )
    return too_long


def _answer_pending(request: EvalRequest, pending: Sequence[QAExample], done: int) -> None:
    from tqdm import tqdm

    with (
        QAEngine(request.model, request.engine) as engine,
        RecordWriter(request.out_dir / "log.jsonl") as writer,
    ):
        prompts = [engine.qa_prompt(e.context, e.question) for e in pending]
        skipped = _check_lengths(request, pending, prompts, engine.n_ctx_train)
        writer.write(
            {
                "id": pending[i].qid,
                "prediction": "",
                "na_prob": 1.0,
                "skipped": "too_long",
                "prompt_tokens": len(prompts[i]),
                "generated_tokens": 0,
                "latency_s": 0.0,
            }
            for i in sorted(skipped)
        )
        keep = [i for i in range(len(pending)) if i not in skipped]
        kept_examples = [pending[i] for i in keep]
        kept_prompts = [prompts[i] for i in keep]
        total = done + len(pending)
        with tqdm(
            total=total,
            initial=done + len(skipped),
            unit="q",
            desc="eval",
            disable=not request.show_progress,
            dynamic_ncols=True,
        ) as bar:
            for group in plan_groups(engine, [e.context for e in kept_examples], kept_prompts):
                generations = engine.generate_group(
                    [kept_prompts[i] for i in group], [kept_examples[i].context for i in group]
                )
                writer.write(
                    {
                        "id": kept_examples[i].qid,
                        "prediction": parse_answer(g.text),
                        "raw": g.text,
                        "na_prob": g.na_prob,
                        "answer_logprob": g.answer_logprob,
                        "prompt_tokens": g.prompt_tokens,
                        "generated_tokens": g.generated_tokens,
                        "latency_s": round(g.latency_s, 4),
                    }
                    for i, g in zip(group, generations, strict=True)
                )
                bar.update(len(group))


def _ask_endpoint(request: EvalRequest, pending: Sequence[QAExample], done: int) -> None:
    """One request per question, logged as it returns, so an interrupted run resumes."""
    from tqdm import tqdm

    assert request.endpoint is not None
    client = EndpointClient(request.endpoint)
    with (
        RecordWriter(request.out_dir / "log.jsonl") as writer,
        tqdm(
            total=done + len(pending),
            initial=done,
            unit="q",
            desc="eval",
            disable=not request.show_progress,
            dynamic_ncols=True,
        ) as bar,
    ):
        for example in pending:
            reply = client.chat(
                qa_messages(example.context, example.question), request.engine.max_answer_tokens
            )
            prediction = parse_answer(reply.text)
            record = {
                "id": example.qid,
                "prediction": prediction,
                "raw": reply.text,
                "na_prob": 0.0 if prediction else 1.0,  # an endpoint gives no probabilities
                "prompt_tokens": 0,
                "generated_tokens": reply.completion_tokens,
                "latency_s": round(reply.latency_s, 4),
                "attempts": reply.attempts,
            }
            writer.write([record])
            bar.update(1)


def _latency_summary(latencies: Sequence[float]) -> dict[str, float]:
    import numpy as np

    values = np.asarray(latencies, dtype=float)
    return {f"p{q}": round(float(np.percentile(values, q)), 4) for q in (50, 95)}


def run_eval(request: EvalRequest) -> dict[str, Any]:
    """Answer every question not yet in the log, then score; returns the metrics dict."""
    from edgeqa.models.gguf_info import read_gguf_info

    if request.endpoint is None:
        assert request.model is not None
        info = read_gguf_info(request.model)
        model_sha256: str | None = sha256_file(request.model)
        name, quant = info.name, info.file_type
    else:
        model_sha256, name, quant = None, request.endpoint.model, "endpoint"
    _claim_out_dir(request, model_sha256)
    log_path = request.out_dir / "log.jsonl"
    records = read_records(log_path)
    pending = [e for e in request.examples if e.qid not in records]
    started = time.perf_counter()
    if pending:
        answer = _answer_pending if request.endpoint is None else _ask_endpoint
        try:
            answer(request, pending, done=len(request.examples) - len(pending))
        except EdgeQAError:  # e.g. a prompt too long for the context: the folder stays reusable
            release_unstarted(request.out_dir, "eval_config.json", "log.jsonl")
            raise
        records = read_records(log_path)
    elapsed = time.perf_counter() - started

    golds = [GoldQuestion(e.qid, e.answers) for e in request.examples]
    predictions = {e.qid: records[e.qid]["prediction"] for e in request.examples}
    na_probs = {e.qid: records[e.qid]["na_prob"] for e in request.examples}
    metrics = {
        "model": request.label,
        "model_name": name,
        "model_sha256": model_sha256,
        "quant": quant,
        "data": request.data,
        "span_constrained": request.engine.span_constrained,
        "na_threshold": request.engine.na_threshold,
        "na_score": request.engine.na_score,
        "official": evaluate(golds, predictions, na_probs),
        "always_abstain": always_abstain_baseline(golds),
        "na_prob_auc": no_answer_auc(golds, na_probs),
        "skipped_too_long": sum(1 for e in request.examples if records[e.qid].get("skipped")),
        "prompt_tokens": sum(records[e.qid]["prompt_tokens"] for e in request.examples),
        "generated_tokens": sum(records[e.qid]["generated_tokens"] for e in request.examples),
        "latency_s": _latency_summary([records[e.qid]["latency_s"] for e in request.examples]),
        "this_session": {
            "questions": len(pending),
            "wall_s": round(elapsed, 2),
            "questions_per_s": round(len(pending) / elapsed, 2) if pending and elapsed else None,
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "engine": asdict(request.engine),
        },
    }
    atomic_write_json(request.out_dir / "predictions.json", predictions)
    atomic_write_json(request.out_dir / "na_prob.json", na_probs)
    atomic_write_json(request.out_dir / "metrics.json", metrics)
    return metrics
