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
from edgeqa.fileio import atomic_write_json, sha256_file
from edgeqa.prompts import SYSTEM_PROMPT, parse_answer, qa_messages
from edgeqa.reader.answer import Answer
from edgeqa.reader.policy import AnswerPolicy
from edgeqa.reader.windows import WindowOptions
from edgeqa.runtime.engine_config import EngineConfig
from edgeqa.squad_metrics import GoldQuestion, always_abstain_baseline, evaluate, no_answer_auc


@dataclass(frozen=True)
class EvalRequest:
    """Everything that decides the predictions of a run (threads and batching do not).
    Answers come from the GGUF `model` through a Reader with `policy`, or from `endpoint` when
    it is set."""

    model: Path | None
    data: str
    examples: Sequence[QAExample]
    out_dir: Path
    engine: EngineConfig = field(default_factory=EngineConfig)
    policy: AnswerPolicy = field(default_factory=AnswerPolicy)
    windows: WindowOptions = field(default_factory=WindowOptions)
    too_long: str = "window"
    show_progress: bool = True
    endpoint: EndpointConfig | None = None

    @property
    def label(self) -> str:
        return self.endpoint.label if self.endpoint else str(self.model)


def _fingerprint(request: EvalRequest, model_sha256: str | None, threshold: float | None) -> dict[str, Any]:
    ids = hashlib.sha256("\n".join(e.qid for e in request.examples).encode()).hexdigest()
    return {
        "model_sha256": model_sha256,
        # the endpoint's model, not its URL: a restarted server on another port may resume
        "endpoint": request.endpoint.model if request.endpoint else None,
        "questions_sha256": ids,
        "questions": len(request.examples),
        "prompt_sha256": hashlib.sha256(SYSTEM_PROMPT.encode()).hexdigest(),
        "max_answer_tokens": request.engine.max_answer_tokens,
        "span_constrained": request.policy.span_constrained,
        "na_threshold": threshold,
        "na_score": request.policy.na_score,
        "too_long": request.too_long,
        "windows": asdict(request.windows),
    }


def _claim_out_dir(request: EvalRequest, model_sha256: str | None, threshold: float | None) -> None:
    details = {"model": request.label, "data": request.data, "engine": asdict(request.engine)}
    claim_run_dir(
        request.out_dir, "eval_config.json", _fingerprint(request, model_sha256, threshold), details
    )


def _too_long(request: EvalRequest, reader, examples: Sequence[QAExample]) -> set[int]:
    """Indices of questions whose context is longer than one window, unless --too-long window
    reads those in windows; with error, the first of them is one line naming the option."""
    if request.too_long == "window":
        return set()
    windows = {context: len(reader.split(context)) for context in {e.context for e in examples}}
    too_long = {i for i, e in enumerate(examples) if windows[e.context] > 1}
    if too_long and request.too_long == "error":
        first = examples[min(too_long)]
        raise EdgeQAError(
            f"question {first.qid}: its context is longer than one window ({reader.window_tokens} "
            "tokens of --max-seq-len); pass --too-long window (the default) or skip"
        )
    return too_long


def _record(example: QAExample, answer: Answer) -> dict[str, Any]:
    return {
        "id": example.qid,
        "prediction": answer.text,
        "raw": answer.raw,
        "na_prob": answer.no_answer_prob,
        "score": answer.score,
        "start": answer.start,
        "window": answer.window,
        "window_na_probs": {str(w): p for w, p in answer.no_answer_probs.items()},
        "prompt_tokens": answer.prompt_tokens,
        "generated_tokens": answer.generated_tokens,
        "latency_s": round(answer.latency_s, 4),
    }


def _skip_record(example: QAExample) -> dict[str, Any]:
    return {
        "id": example.qid,
        "prediction": "",
        "na_prob": 1.0,
        "skipped": "too_long",
        "prompt_tokens": 0,
        "generated_tokens": 0,
        "latency_s": 0.0,
    }


def _progress_bar(request: EvalRequest, done: int):
    from tqdm import tqdm

    return tqdm(
        total=len(request.examples),
        initial=done,
        unit="q",
        desc="eval",
        disable=not request.show_progress,
        dynamic_ncols=True,
    )


def _answer_with_reader(request: EvalRequest, records: dict[str, dict[str, Any]]) -> int:
    """Answer every chunk of questions (Reader.chunks, planned over the whole run) not wholly in
    the log, each logged in one write. A chunk cut short by a kill is answered again whole, as
    the same chunk: llama.cpp's numbers depend on what is decoded together, so a resumed run
    gives exactly the uninterrupted run's answers."""
    from edgeqa.reader.reader import Reader

    assert request.model is not None
    with (
        Reader.from_settings(request.model, request.policy, request.engine, request.windows) as reader,
        RecordWriter(request.out_dir / "log.jsonl") as writer,
    ):
        skipped = _too_long(request, reader, request.examples)
        newly_skipped = [
            request.examples[i] for i in sorted(skipped) if request.examples[i].qid not in records
        ]
        writer.write(_skip_record(e) for e in newly_skipped)
        kept = [e for i, e in enumerate(request.examples) if i not in skipped]
        chunks = [
            [kept[i] for i in chunk] for chunk in reader.chunks([(e.question, e.context) for e in kept])
        ]
        todo = [chunk for chunk in chunks if any(e.qid not in records for e in chunk)]
        with _progress_bar(request, len(request.examples) - sum(len(c) for c in todo)) as bar:
            for chunk in todo:
                answers = reader.answer_many([(e.question, e.context) for e in chunk])
                writer.write(_record(e, a) for e, a in zip(chunk, answers, strict=True))
                bar.update(len(chunk))
    return len(newly_skipped) + sum(len(c) for c in todo)


def _ask_endpoint(request: EvalRequest, records: dict[str, dict[str, Any]]) -> int:
    """One request per question, logged as it returns, so an interrupted run resumes."""
    assert request.endpoint is not None
    client = EndpointClient(request.endpoint)
    pending = [e for e in request.examples if e.qid not in records]
    with (
        RecordWriter(request.out_dir / "log.jsonl") as writer,
        _progress_bar(request, len(request.examples) - len(pending)) as bar,
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
    return len(pending)


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
    threshold = request.policy.threshold_for(request.model).value if request.endpoint is None else None
    _claim_out_dir(request, model_sha256, threshold)
    log_path = request.out_dir / "log.jsonl"
    records = read_records(log_path)
    answered = 0
    started = time.perf_counter()
    if any(e.qid not in records for e in request.examples):
        answer = _answer_with_reader if request.endpoint is None else _ask_endpoint
        try:
            answered = answer(request, records)
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
        "span_constrained": request.policy.span_constrained,
        "na_threshold": threshold,
        "na_score": request.policy.na_score,
        "official": evaluate(golds, predictions, na_probs),
        "always_abstain": always_abstain_baseline(golds),
        "na_prob_auc": no_answer_auc(golds, na_probs),
        "skipped_too_long": sum(1 for e in request.examples if records[e.qid].get("skipped")),
        "prompt_tokens": sum(records[e.qid]["prompt_tokens"] for e in request.examples),
        "generated_tokens": sum(records[e.qid]["generated_tokens"] for e in request.examples),
        "latency_s": _latency_summary([records[e.qid]["latency_s"] for e in request.examples]),
        "this_session": {
            "questions": answered,
            "wall_s": round(elapsed, 2),
            "questions_per_s": round(answered / elapsed, 2) if answered and elapsed else None,
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "engine": asdict(request.engine),
        },
    }
    atomic_write_json(request.out_dir / "predictions.json", predictions)
    atomic_write_json(request.out_dir / "na_prob.json", na_probs)
    atomic_write_json(request.out_dir / "metrics.json", metrics)
    return metrics
