"""Is answerability in the model's states, where its own no-answer score cannot see it?

The fine-tuned models' no-answer scores rank unanswerable above answerable questions barely
better than chance (answer_levers.py: ROC AUC 0.53-0.64). This asks whether the skill is
missing or only unread: it takes the hidden state of every layer at one position for every
question of a run's articles, fits an L2 logistic regression per layer on the training
articles, picks the regularisation and the layer on the validation articles, and scores the
test articles. The position is
- `decision`: the last prompt token, where the model abstains or starts its answer;
- `answer-end`: the last token of the answer the model gives when it may not abstain, where it
  has read its own answer against the question (the verifier's view: a wrong or unsupported
  answer may be easier to spot once it is written). This needs forced answers for the
  training articles too, decoded here with `edgeqa eval --na-threshold 1` (resumable).
The probe's no-answer probability then replaces the model's own abstention score on the forced
answers that answer_levers.py decoded (free decoding, never abstaining) for the same questions,
with the threshold calibrated on the validation articles, exactly as `edgeqa calibrate` does.

Hidden states come from transformers (llama.cpp exposes only the last layer), loading the
run's F16 GGUF from answer_levers.py; prompts are tokenised by llama.cpp from the same file,
so they are the runtime's tokens. Each article's states are cached under --work: an
interrupted run resumes.

usage: python benchmarks/research/answerability_probe.py --run runs/recipe/cw64-e1-lr1e-3
       [--position answer-end]
needs: python benchmarks/research/answer_levers.py --run <the same run> (its export and forced answers)
writes: benchmarks/results/answerability_probe.json and .md (one section per run and position)
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from answer_levers import cli

from edgeqa.data.squad import QAExample, load_squad
from edgeqa.evaluation.progress_log import read_records
from edgeqa.fileio import atomic_write_json, atomic_write_text
from edgeqa.provenance import RunRecord
from edgeqa.squad_metrics import GoldQuestion, evaluate, no_answer_auc

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from edgeqa.runtime.engine import QAEngine

RESULTS = Path(__file__).parents[1] / "results"
LAMBDAS = (10.0, 100.0, 1000.0, 10000.0)
GROUP = 16  # questions of one paragraph decoded together after their shared prefix
PLACES = {"decision": "decision position", "answer-end": "end of the forced answer"}


def article_states(
    examples: Sequence[QAExample],
    model: PreTrainedModel,
    engine: QAEngine,
    answers: dict[str, list[int]] | None = None,
) -> np.ndarray:
    """[questions, layers + 1, width] hidden states at each sequence's last token: the prompt's,
    or with `answers` (answer tokens by question id) the answer's after its prompt. A
    paragraph's shared prefix is run once and its KV cache repeated for its questions' suffixes."""
    import torch

    from edgeqa.sequences import common_prefix_length

    states = []
    with torch.inference_mode():
        for _, paragraph in groupby(examples, key=lambda e: e.context):
            questions = list(paragraph)
            for start in range(0, len(questions), GROUP):
                group = questions[start : start + GROUP]
                prompts = [
                    engine.qa_prompt(e.context, e.question) + (answers or {}).get(e.qid, []) for e in group
                ]
                shared = common_prefix_length(prompts, keep_one=True)
                prefix = model.model(input_ids=torch.tensor([prompts[0][:shared]]), use_cache=True)
                cache = prefix.cache
                cache.batch_repeat_interleave(len(group))
                width = max(len(p) for p in prompts) - shared
                ids = torch.zeros(len(group), width, dtype=torch.long)
                mask = torch.zeros(len(group), shared + width, dtype=torch.long)
                mask[:, :shared] = 1
                for row, prompt in enumerate(prompts):
                    suffix = prompt[shared:]
                    ids[row, : len(suffix)] = torch.tensor(suffix)
                    mask[row, shared : shared + len(suffix)] = 1
                out = model.model(input_ids=ids, attention_mask=mask, cache=cache, output_hidden_states=True)
                last = torch.tensor([len(p) - shared - 1 for p in prompts])
                layers = torch.stack(out.hidden_states, 1)  # [group, layers + 1, width, hidden]
                states.append(layers[torch.arange(len(group)), :, last].float().numpy())
    return np.concatenate(states)


def _load_model(gguf: Path, threads: int) -> PreTrainedModel:
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging

    torch.set_num_threads(threads)
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    return model.eval()


def cached_states(
    examples: list[QAExample], gguf: Path, work: Path, threads: int, answers: dict[str, dict] | None = None
) -> dict[str, np.ndarray]:
    """Hidden states by question id (float16, as cached), one file per article (computed once,
    resumable); with `answers` (forced-answer records by question id), at each answer's end."""
    from edgeqa.runtime.engine import QAEngine
    from edgeqa.runtime.engine_config import EngineConfig

    work.mkdir(parents=True, exist_ok=True)
    by_id: dict[str, np.ndarray] = {}
    model = None
    for title, article in groupby(examples, key=lambda e: e.title):
        questions = list(article)
        path = work / f"{title}.npy"
        if not path.exists():
            if model is None:
                model = _load_model(gguf, threads)
                engine = QAEngine(gguf, EngineConfig(n_ctx=1024, parallel=1, n_threads=threads))
            started = time.perf_counter()
            answer_tokens = None
            if answers is not None:
                answer_tokens = {
                    e.qid: engine.session.tokenize(answers[e.qid]["raw"].strip(), special=False)
                    for e in questions
                }
            states = article_states(questions, model, engine, answer_tokens)
            np.save(path.with_suffix(".tmp.npy"), states.astype(np.float16))
            path.with_suffix(".tmp.npy").replace(path)
            print(
                f"  {title}: {len(questions)} questions in {time.perf_counter() - started:.0f} s", flush=True
            )
        for example, state in zip(questions, np.load(path), strict=True):
            by_id[example.qid] = state
    if model is not None:
        engine.close()
    return by_id


def fit_probe(
    features: np.ndarray, unanswerable: np.ndarray, strength: float
) -> Callable[[np.ndarray], np.ndarray]:
    """L2-regularised logistic regression on standardised features (Newton's method); returns
    the no-answer probability of new rows."""
    features = features.astype(np.float64)
    mean, scale = features.mean(0), features.std(0) + 1e-6

    def design(rows: np.ndarray) -> np.ndarray:
        return np.c_[(rows - mean) / scale, np.ones(len(rows))]

    x = design(features)
    penalty = strength * np.diag(np.r_[np.ones(x.shape[1] - 1), 0.0])
    weights = np.zeros(x.shape[1])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-x @ weights))
        gradient = x.T @ (p - unanswerable) + penalty @ weights
        hessian = (x * (p * (1 - p))[:, None]).T @ x + penalty
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if np.abs(step).max() < 1e-6:
            break
    return lambda rows: 1.0 / (1.0 + np.exp(-design(rows) @ weights))


def auc(scores: np.ndarray, unanswerable: np.ndarray) -> float:
    golds = [GoldQuestion(str(i), () if flag else ("-",)) for i, flag in enumerate(unanswerable)]
    return no_answer_auc(golds, {str(i): float(s) for i, s in enumerate(scores)})


def forced_answers(folder: Path) -> dict[str, dict]:
    """The log of an answer_levers evaluation that never abstained: answer and model score."""
    log = folder / "log.jsonl"
    if not log.exists():
        raise SystemExit(f"{log}: missing; run python benchmarks/research/answer_levers.py --run <run> first")
    return read_records(log)


def training_answers(name: str, data: dict, levers: Path, folder: Path, threads: int) -> dict[str, dict]:
    """Forced answers (free decoding, never abstaining) on the run's training articles, decoded
    from its Q4_K_M export as answer_levers.py decodes the others; a re-run resumes the log."""
    articles = [arg for title in data["train_articles"] for arg in ("--article", title)]
    command = ["eval", "--model", str(levers / "export" / f"{name}-Q4_K_M.gguf"), "--data", data["source"]]
    command += [*articles, "--decoding", "free", "--na-threshold", "1", "--threads", str(threads)]
    cli(*command, "--out", str(folder), "--quiet")
    return forced_answers(folder)


def calibrated_f1(
    golds: dict[str, GoldQuestion], val: dict[str, dict], test: dict[str, dict], score: Callable[[str], float]
) -> dict:
    """F1 on the test answers with the threshold that maximises F1 on the validation answers."""

    def scored(rows: dict[str, dict], threshold: float = 1.0) -> dict:
        questions = [golds[q] for q in rows]
        na_probs = {q: score(q) for q in rows}
        metrics = evaluate(questions, {q: r["prediction"] for q, r in rows.items()}, na_probs, threshold)
        return metrics | {"auc": no_answer_auc(questions, na_probs)}

    threshold = scored(val)["best_f1_thresh"]
    metrics = scored(test, threshold)
    return {
        "threshold": threshold,
        "f1": metrics["f1"],
        "HasAns_f1": metrics["HasAns_f1"],
        "NoAns_f1": metrics["NoAns_f1"],
        "test_auc": metrics["auc"],
        "test_chosen_best_f1": metrics["best_f1"],
        "questions": metrics["total"],
    }


def probe_run(run: Path, position: str, levers: Path, work: Path, threads: int) -> dict:
    data = RunRecord.load(run).data
    name = run.name
    examples = load_squad(data["source"])
    parts = {part: set(data[f"{part}_articles"]) for part in ("train", "val", "test")}
    wanted = [e for e in examples if any(e.title in titles for titles in parts.values())]
    gguf = levers / "export" / f"{name}-F16.gguf"
    if not gguf.exists():
        levers_script = "benchmarks/research/answer_levers.py"
        raise SystemExit(f"{gguf}: missing; run python {levers_script} --run {run} first")
    val_answers = forced_answers(levers / "calibrate" / f"{name}-free")
    test_answers = forced_answers(levers / "eval" / f"{name}-free-1")
    answers = val_answers | test_answers
    if position == "decision":
        states = cached_states(wanted, gguf, work / name, threads)
    else:
        answers |= training_answers(name, data, levers, work / name / "train-answers", threads)
        wanted = [e for e in wanted if e.qid in answers]
        states = cached_states(wanted, gguf, work / name / position, threads, answers)
    golds = {e.qid: GoldQuestion(e.qid, e.answers) for e in wanted}

    def split(part: str) -> tuple[np.ndarray, np.ndarray]:
        ids = [e.qid for e in wanted if e.title in parts[part]]
        return np.stack([states[q] for q in ids]), np.array([not golds[q].has_answer for q in ids], float)

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = split("train"), split("val"), split("test")
    layers, probes = [], {}
    for layer in range(1, x_train.shape[1]):
        fits = []
        for strength in LAMBDAS:
            probe = fit_probe(x_train[:, layer], y_train, strength)
            fits.append((auc(probe(x_val[:, layer]), y_val), strength, probe))
        val_auc, strength, probes[layer] = max(fits, key=lambda fit: fit[0])
        test_auc = auc(probes[layer](x_test[:, layer]), y_test)
        layers.append({"layer": layer, "l2": strength, "val_auc": val_auc, "test_auc": test_auc})
    best = max(layers, key=lambda row: row["val_auc"])
    probe = probes[best["layer"]]
    return {
        "run": name,
        "position": position,
        "train_questions": len(y_train),
        "test_questions": len(y_test),
        "layers": layers,
        "chosen_layer": best["layer"],
        "model_score": calibrated_f1(golds, val_answers, test_answers, lambda q: answers[q]["na_prob"]),
        "probe": calibrated_f1(
            golds, val_answers, test_answers, lambda q: float(probe(states[q][best["layer"]][None])[0])
        ),
    }


def markdown(results: dict[str, dict]) -> str:
    lines = ["# Answerability probe: each layer's hidden state at the decision position or answer end", ""]
    for result in results.values():
        lines += [
            f"## {result['run']}, {PLACES[result['position']]} (probe fitted on {result['train_questions']} "
            f"training questions, tested on {result['test_questions']})",
            "",
            "| layer | L2 (chosen on val) | val AUC | test AUC |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {r['layer']} | {r['l2']:g} | {r['val_auc']:.3f} | {r['test_auc']:.3f} |"
            for r in result["layers"]
        ]
        lines += [
            "",
            "Free decoding, forced answers, threshold calibrated on the validation articles:",
            "",
            "| no-answer score | threshold | test F1 | HasAns F1 | NoAns F1 | test AUC "
            "| test-chosen best F1 |",
            "|---|---|---|---|---|---|---|",
        ]
        for label, key in (
            ("model's abstention", "model_score"),
            (f"probe, layer {result['chosen_layer']}", "probe"),
        ):
            r = result[key]
            lines.append(
                f"| {label} | {r['threshold']:.3f} | {r['f1']:.1f} | {r['HasAns_f1']:.1f} "
                f"| {r['NoAns_f1']:.1f} | {r['test_auc']:.3f} | {r['test_chosen_best_f1']:.1f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, action="append", required=True, help="a fine-tuning run folder")
    parser.add_argument(
        "--levers-dir", type=Path, default=Path("runs/answer-levers"), help="answer_levers.py's work"
    )
    parser.add_argument(
        "--work", type=Path, default=Path("runs/answerability-probe"), help="cached hidden states"
    )
    parser.add_argument(
        "--position",
        choices=list(PLACES),
        default="decision",
        help="decision: the last prompt token; answer-end: the last token of the forced answer "
        "(decodes the training articles' forced answers first)",
    )
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    results_file = RESULTS / "answerability_probe.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    for run in args.run:
        print(f"{run.name}: hidden states at the {PLACES[args.position]}", flush=True)
        results[f"{run.name}:{args.position}"] = probe_run(
            run, args.position, args.levers_dir, args.work, args.threads
        )
    atomic_write_json(results_file, results)
    atomic_write_text(RESULTS / "answerability_probe.md", markdown(results))
    print(markdown({key: results[key] for key in results if key.split(":")[0] in {r.name for r in args.run}}))


if __name__ == "__main__":
    main()
