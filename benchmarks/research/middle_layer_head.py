"""A no-answer head on a middle layer, read through llama.cpp: does it tell SQuAD 2.0's
unanswerable questions apart better than the reader's own score?

The reader's no-answer probability is the abstention's share of its first answer token (AUC
0.74 on real unanswerables for the shipped reader). A probe on older runs found more
answerability in the middle layers than the last one shows (docs/research/answer-quality.md).
This builds the runtime version of that probe and measures it:
- the reader GGUF cut after layer k (the first k blocks and the output norm, a valid llama.cpp
  model), whose normed last hidden state at the decision position (the last prompt token) is
  layer k's, read with `LlamaSession.decode_hidden`; each paragraph's prefix is decoded once;
- an L2 logistic-regression head on that state, fitted on SQuAD 1.1 *training-split*
  questions the reader never trained on plus made unanswerables (the seven kinds fine-tuning
  uses), its layer and L2 chosen on held-out training articles; and a two-feature combination
  of the head and the reader's own score, fitted on those held-out articles;
- each score tested on the real unanswerables of the SQuAD 2.0 dev articles: AUC, and F1 with
  the threshold of the other articles (leave one article out), beside the reader's own score
  on the same forced answers.

usage: python benchmarks/research/middle_layer_head.py --model <reader GGUF> \
    --train-data <train-v1.1.json> --skip 29800 --count 1500 --dev <squad-v2-dev.json> \
    --dev-run <edgeqa eval --na-threshold 1 folder of the same model on dev> --layers 15,21 \
    --work runs/na_head
writes: benchmarks/results/middle_layer_head.json and .md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from itertools import groupby
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1]))
from _report import write_results
from threshold_by_article import leave_one_article_out

from edgeqa.data.squad import QAExample, load_squad
from edgeqa.sequences import common_prefix_length
from edgeqa.squad_metrics import GoldQuestion, evaluate, no_answer_auc

LAMBDAS = (1.0, 10.0, 100.0, 1000.0)


def cut_after_layer(model: Path, layers: int, target: Path) -> Path:
    """`model` with only its first `layers` blocks: llama.cpp then returns layer `layers`'s
    state (through the output norm) as the model's last hidden state."""
    from gguf import GGUFReader, GGUFWriter

    from edgeqa.export.gguf_metadata import copy_fields, copy_tensor, finish_gguf

    if target.is_file():
        return target
    reader = GGUFReader(model)
    architecture = reader.get_field("general.architecture").contents()
    key = f"{architecture}.block_count"
    temporary = target.with_name(f".{target.name}.partial")
    writer = GGUFWriter(temporary, architecture, endianess=reader.endianess)
    copy_fields(reader, writer, skip={key})
    writer.add_uint32(key, layers)
    for tensor in reader.tensors:
        parts = tensor.name.split(".")
        if parts[0] != "blk" or int(parts[1]) < layers:
            copy_tensor(writer, tensor)
    return finish_gguf(writer, temporary, target)


def decision_states(model: Path, examples: list[QAExample], cache: Path) -> np.ndarray:
    """The hidden state at the last prompt token of every question (rows in `examples` order);
    the questions of a paragraph share its prompt prefix, decoded once. Cached in `cache`."""
    from edgeqa.runtime.engine import QAEngine
    from edgeqa.runtime.engine_config import EngineConfig

    if cache.is_file():
        return np.load(cache)
    started = time.perf_counter()
    rows: list[np.ndarray] = []
    with QAEngine(model, EngineConfig(n_ctx=2048, parallel=1)) as engine:
        session = engine.session
        for _, group in groupby(examples, key=lambda e: e.context):
            prompts = [engine.qa_prompt(e.context, e.question) for e in group]
            shared = common_prefix_length(prompts, keep_one=True)  # each keeps its last token
            session.clear()
            for start in range(0, shared, 512):  # the shared prefix: no output, so plain decoding
                chunk = prompts[0][start : min(shared, start + 512)]
                session.decode([(t, start + i, 0, False) for i, t in enumerate(chunk)])
            for prompt in prompts:
                # llama.cpp outputs every token's state when it returns states: ask for all, keep the last
                tail = prompt[shared:]
                rows.append(session.decode_hidden([(t, shared + i, 0, True) for i, t in enumerate(tail)])[-1])
                session.remove(0, shared)
    states = np.stack(rows)
    np.save(cache, states)
    print(f"  {len(rows)} states from {model.name} in {time.perf_counter() - started:.0f} s", flush=True)
    return states


def fit_logistic(features: np.ndarray, labels: np.ndarray, l2: float) -> np.ndarray:
    """L2 logistic regression by Newton's method; the last weight is the (unpenalised) bias."""
    x = np.hstack([features, np.ones((len(features), 1))])
    weights = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(30):
        p = 1 / (1 + np.exp(-(x @ weights)))
        gradient = x.T @ (p - labels) + penalty * weights
        hessian = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if np.abs(step).max() < 1e-6:
            break
    return weights


def logit(weights: np.ndarray, features: np.ndarray) -> np.ndarray:
    return features @ weights[:-1] + weights[-1]


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    golds = [GoldQuestion(str(i), [] if y else ["x"]) for i, y in enumerate(labels)]
    return float(no_answer_auc(golds, {str(i): float(s) for i, s in enumerate(scores)}))


def training_questions(path: str, count: int, skip: int, seed: int) -> list[QAExample]:
    """SQuAD 1.1 training paragraphs past the ones the reader trained on, with made unanswerables
    (35%, the seven kinds, as fine-tuning makes them)."""
    from edgeqa.data.negatives import KINDS, make_negatives
    from edgeqa.data.sources import take_paragraphs

    taken = take_paragraphs(load_squad(path), count, seed, skip)
    examples, _ = make_negatives(taken, tuple(KINDS), 0.35, seed)
    return examples


def own_scores(model: Path, examples: list[QAExample], out_dir: Path) -> dict[str, float]:
    """The reader's own no-answer probability for each question (answers forced)."""
    from edgeqa.evaluation.run import EvalRequest, run_eval
    from edgeqa.reader.policy import AnswerPolicy
    from edgeqa.reader.threshold import ALWAYS_ANSWER
    from edgeqa.runtime.engine_config import EngineConfig

    request = EvalRequest(
        model=model,
        data="training split",
        examples=examples,
        out_dir=out_dir,
        engine=EngineConfig(n_threads=2),
        policy=AnswerPolicy(na_threshold=ALWAYS_ANSWER),
    )
    run_eval(request)
    return json.loads((out_dir / "na_prob.json").read_text())


def _standardise(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    mean, scale = train.mean(0), train.std(0) + 1e-6
    return [(a - mean) / scale for a in (train, *others)]


def choose_head(states: np.ndarray, labels: np.ndarray, fit_rows: np.ndarray, pick_rows: np.ndarray):
    """The L2 whose head ranks the held-out training articles best: (AUC there, lambda, weights)."""
    fit_x, pick_x = _standardise(states[fit_rows], states[pick_rows])
    best = (-1.0, 0.0, np.zeros(0))
    for l2 in LAMBDAS:
        weights = fit_logistic(fit_x, labels[fit_rows], l2)
        score = auc(labels[pick_rows], logit(weights, pick_x))
        best = max(best, (score, l2, weights), key=lambda b: b[0])
    return best


def dev_report(
    examples: list[QAExample],
    predictions: dict[str, str],
    scores: dict[str, float],
    fold_scores: Callable[[str], dict[str, float]] | None = None,
) -> dict:
    """AUC, never-abstain HasAns F1 and leave-one-article-out F1 (HasAns, NoAns) of one score;
    for a score fitted per fold, `scores` are the held-out ones and `fold_scores` each fold's."""
    golds = [GoldQuestion(e.qid, e.answers) for e in examples]
    decided, thresholds = leave_one_article_out(examples, predictions, scores, fold_scores)
    scored = evaluate(golds, decided, scores, 1.0)
    return {
        "na_auc": round(no_answer_auc(golds, scores), 4),
        "f1_leave_one_article_out": round(scored["f1"], 2),
        "HasAns_f1": round(scored["HasAns_f1"], 2),
        "NoAns_f1": round(scored["NoAns_f1"], 2),
        "threshold_median": round(float(np.median(list(thresholds.values()))), 4),
    }


def _probability(logits: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-logits))


def _own_logit(probabilities: np.ndarray) -> np.ndarray:
    p = np.clip(probabilities, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))[:, None]


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="the reader GGUF (merged)")
    parser.add_argument("--train-data", required=True, help="the SQuAD 1.1 training split (train-v1.1.json)")
    parser.add_argument("--skip", type=int, required=True, help="questions' worth the reader trained on")
    parser.add_argument("--count", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dev", required=True, help="the SQuAD 2.0 dev file")
    parser.add_argument("--dev-run", type=Path, required=True, help="edgeqa eval --na-threshold 1 of --model")
    parser.add_argument("--layers", default="15,21")
    parser.add_argument("--work", type=Path, default=Path("runs/na_head"))
    return parser.parse_args()


class Head:
    """The chosen layer's head and its combination with the reader's own score."""

    def __init__(self, layer: int, cut: Path, states: np.ndarray, weights: np.ndarray, fit_rows: np.ndarray):
        self.layer, self.cut, self.weights = layer, cut, weights
        self.mean, self.scale = states[fit_rows].mean(0), states[fit_rows].std(0) + 1e-6
        self.combiner = np.zeros(3)

    def logits(self, states: np.ndarray) -> np.ndarray:
        return logit(self.weights, (states - self.mean) / self.scale)

    def fit_combiner(self, states: np.ndarray, own_x: np.ndarray, labels: np.ndarray) -> None:
        self.combiner = fit_logistic(np.hstack([self.logits(states)[:, None], own_x]), labels, 1e-3)

    def combined(self, states: np.ndarray, own_x: np.ndarray) -> np.ndarray:
        return _probability(logit(self.combiner, np.hstack([self.logits(states)[:, None], own_x])))


def train_head(args, train: list[QAExample], labels: np.ndarray, pick: np.ndarray, result: dict) -> Head:
    """The layer and L2 whose head ranks the held-out training articles best."""
    chosen: tuple[float, Head] | None = None
    for layer in (int(v) for v in args.layers.split(",")):
        cut = cut_after_layer(args.model, layer, args.work / f"{args.model.stem}-L{layer}.gguf")
        states = decision_states(cut, train, args.work / f"train-L{layer}.npy")
        score, l2, weights = choose_head(states, labels, ~pick, pick)
        result[f"layer_{layer}"] = {"held_out_training_auc": round(score, 4), "l2": l2}
        print(f"  layer {layer}: AUC {score:.4f} on held-out training articles (L2 {l2})", flush=True)
        if chosen is None or score > chosen[0]:
            chosen = (score, Head(layer, cut, states, weights, ~pick))
    assert chosen is not None
    return chosen[1]


def main() -> None:
    args = _arguments()
    args.work.mkdir(parents=True, exist_ok=True)
    train = training_questions(args.train_data, args.count, args.seed, args.skip)
    labels = np.array([0.0 if e.answers else 1.0 for e in train])
    pick_titles = set(sorted({e.title for e in train})[::5])  # a fifth choose layer, L2, combination
    pick = np.array([e.title in pick_titles for e in train])
    own_train = own_scores(args.model, train, args.work / "own-train")
    own_train_x = _own_logit(np.array([own_train[e.qid] for e in train]))
    predictions = json.loads((args.dev_run / "predictions.json").read_text())
    own_dev = json.loads((args.dev_run / "na_prob.json").read_text())
    dev = [e for e in load_squad(args.dev) if e.qid in predictions]
    result: dict = {
        "model": args.model.name,
        "training_questions": len(train),
        "made_unanswerable": int(labels.sum()),
        "own_score_auc_held_out_training_articles": round(auc(labels[pick], own_train_x[pick, 0]), 4),
        "dev_questions": len(dev),
        "own_score": dev_report(dev, predictions, own_dev),
    }
    head = train_head(args, train, labels, pick, result)
    train_states = np.load(args.work / f"train-L{head.layer}.npy")
    head.fit_combiner(train_states[pick], own_train_x[pick], labels[pick])
    dev_states = decision_states(head.cut, dev, args.work / f"dev-L{head.layer}.npy")
    own_dev_x = _own_logit(np.array([own_dev[e.qid] for e in dev]))
    qids = [e.qid for e in dev]
    result["chosen_layer"] = head.layer
    result["head"] = dev_report(
        dev, predictions, dict(zip(qids, map(float, _probability(head.logits(dev_states))), strict=True))
    )
    result["head_plus_own"] = dev_report(
        dev, predictions, dict(zip(qids, map(float, head.combined(dev_states, own_dev_x)), strict=True))
    )
    result["combiner_weights"] = [round(float(w), 4) for w in head.combiner]
    write_results("middle_layer_head", result)


if __name__ == "__main__":
    main()
