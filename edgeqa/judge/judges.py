"""The two kinds of judge behind one method, `grade(messages) -> Verdict`: a local GGUF on
llama.cpp (reply constrained token by token) or an OpenAI-compatible endpoint (JSON schema,
which llama.cpp's server turns into a grammar)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from edgeqa.errors import EdgeQAError
from edgeqa.evaluation.endpoint import EndpointClient, EndpointConfig
from edgeqa.judge.rubric import CRITERIA, SCORES, SCORES_SCHEMA, parse_scores

MAX_REPLY_TOKENS = 64  # the rubric's JSON is about 30 tokens


@dataclass(frozen=True)
class Verdict:
    scores: dict[str, int] | None  # None: the reply was not the rubric's JSON
    raw: str
    latency_s: float
    expected: dict[str, float] | None = None  # probability-weighted scores, where known


class Judge(Protocol):
    name: str

    def grade(self, messages: list[dict[str, str]]) -> Verdict: ...

    def close(self) -> None: ...


class LocalJudge:
    """A GGUF judge on llama.cpp that can only reply with the rubric's JSON.

    The reply is decoded as the rubric's fixed scaffold, `{"correctness": ` ..., with the model
    choosing each score among the tokens 1-5: the same constraint a JSON grammar enforces, in
    three forced decoding steps that reuse the prompt's KV cache (llama-cpp-python's grammar
    sampler spends over a second per reply on a 49K vocabulary). The digit probabilities also
    give each criterion's expected score (G-Eval, Liu et al. 2023), finer than the argmax.
    """

    def __init__(self, model: Path, n_ctx: int = 2048, n_threads: int = 2):
        from edgeqa.runtime.engine_config import EngineConfig
        from edgeqa.runtime.language_model import LanguageModel

        self.name = model.stem
        self._engine = LanguageModel(model, EngineConfig(n_ctx=n_ctx, n_threads=n_threads, parallel=1))
        digits = [self._engine.tokenize(str(score)) for score in SCORES]
        if any(len(ids) != 1 for ids in digits):
            self._engine.close()
            raise EdgeQAError(f"{model}: the judge's vocabulary has no single token for each score 1-5")
        self._digit_ids = [ids[0] for ids in digits]

    def grade(self, messages: list[dict[str, str]]) -> Verdict:
        import numpy as np

        started = time.perf_counter()
        prompt = self._engine.prompt_tokens(messages)
        reply, scores, expected = "{", {}, {}
        for i, name in enumerate(CRITERIA):
            reply += f'"{name}": '
            logits = self._engine.next_token_logits(prompt + self._engine.tokenize(reply))
            chosen = logits[self._digit_ids].astype(np.float64)
            probabilities = np.exp(chosen - chosen.max())
            probabilities /= probabilities.sum()
            scores[name] = SCORES[int(chosen.argmax())]
            expected[name] = round(float(probabilities @ np.asarray(SCORES, dtype=np.float64)), 4)
            reply += str(scores[name]) + ("}" if i == len(CRITERIA) - 1 else ", ")
        return Verdict(parse_scores(reply), reply, time.perf_counter() - started, expected)

    def close(self) -> None:
        self._engine.close()


class EndpointJudge:
    """A hosted or served judge; the schema rides in `response_format` (llama.cpp's server
    enforces it; others may not, which `parse_scores` catches)."""

    def __init__(self, config: EndpointConfig):
        self.name = config.model
        self._client = EndpointClient(config)

    def grade(self, messages: list[dict[str, str]]) -> Verdict:
        reply = self._client.chat(
            messages, MAX_REPLY_TOKENS, response_format={"type": "json_object", "schema": SCORES_SCHEMA}
        )
        return Verdict(parse_scores(reply.text), reply.text, reply.latency_s)

    def close(self) -> None:
        return None
