"""How a decoded answer is chosen and judged: the chooser of each token (held to a span of the
context or free), the abstention at the first token, and the answer settled under the configured
no-answer score (see na_scores.py)."""

from __future__ import annotations

import numpy as np

from edgeqa.prompts import ABSTAIN
from edgeqa.runtime.answer_batch import AnswerBatch
from edgeqa.runtime.constraints import FreeChooser, SpanChooser, VocabIndex
from edgeqa.runtime.engine_config import EngineConfig, Generation
from edgeqa.runtime.llama_session import LlamaSession


class AnswerRules:
    def __init__(self, session: LlamaSession, config: EngineConfig):
        self.session, self.config = session, config
        self._vocab_index: VocabIndex | None = None

    @property
    def vocab_index(self) -> VocabIndex:
        """Every token's bytes (built on first use: about 0.2 s for a 49K vocabulary)."""
        if self._vocab_index is None:
            self._vocab_index = VocabIndex(
                [self.session.detokenize_bytes(t) for t in range(self.session.n_vocab)],
                self.session.is_end_of_generation,
            )
            self._abstain_tokens = self._vocab_index.abstention_starts(ABSTAIN)
        return self._vocab_index

    def chooser(self, context: str | None) -> FreeChooser | SpanChooser:
        index = self.vocab_index
        if not self.config.span_constrained:
            return FreeChooser(self._abstain_tokens, index.end_tokens)
        if context is None:
            raise ValueError("span-constrained decoding needs the context of every prompt")
        return SpanChooser(index, context, ABSTAIN, self._abstain_tokens)

    def start(
        self, logits: np.ndarray, context: str | None, threshold: float | None
    ) -> tuple[FreeChooser | SpanChooser, float, bool]:
        """(chooser, no-answer probability, abstain now): with a threshold, the threshold
        decides, and an answer below it may not be the abstention. With the answer score the
        answer is always decoded and `settle` decides once it is complete."""
        chooser = self.chooser(context)
        na_prob = chooser.na_prob(logits)
        forbid, abstain = self.config.no_answer_score.at_first_token(na_prob, threshold)
        if forbid:
            chooser.forbid_abstention()
        return chooser, na_prob, abstain

    def settle(
        self, na_prob: float, answer_logprob: float, abstained: bool, threshold: float | None
    ) -> tuple[float, bool]:
        """(no-answer probability, abstain) of a decoded answer under the configured score."""
        return self.config.no_answer_score.settle(na_prob, answer_logprob, abstained, threshold)

    def generation(self, answers: AnswerBatch, k: int, threshold: float | None) -> Generation:
        """Answer k as a Generation, its abstention settled under the configured score."""
        first_na_prob, abstained_first = answers.na_probs[k], answers.abstained[k]
        na_prob, abstain = self.settle(first_na_prob, answers.logprobs[k], abstained_first, threshold)
        return Generation(
            text=ABSTAIN if abstain else self.session.detokenize(answers.generated[k]),
            prompt_tokens=answers.prompt_lengths[k],
            generated_tokens=len(answers.generated[k]),
            na_prob=na_prob,
            latency_s=answers.finished_at[k],
            answer_logprob=None if abstained_first else answers.logprobs[k],
            context_ends=() if abstain else answers.choosers[k].context_ends(),
        )
