"""Real inference on the embedded SmolLM2 GGUF (quantized) and an F16 copy of it.

The quantized tests fail on a broken llama.cpp build (the AMX crash); the F16 tests compare
decoding paths token for token, which quantized activations would blur.
"""

import itertools

import numpy as np
import pytest

from edgeqa.data.squad import load_squad
from edgeqa.longctx.perplexity import window_nll
from edgeqa.prompts import ABSTAIN, qa_messages
from edgeqa.runtime.engine import QAEngine
from edgeqa.runtime.engine_config import EngineConfig, StreamTimings

CONFIG = EngineConfig(n_ctx=4096, parallel=8, max_answer_tokens=24)


@pytest.fixture(scope="module")
def examples():
    from tests.conftest import ASSETS

    return load_squad(ASSETS / "squad_v2_tiny.json")


@pytest.fixture(scope="module")
def engine(embedded_model):
    with QAEngine(embedded_model, CONFIG) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def f16_engine(embedded_f16):
    with QAEngine(embedded_f16, CONFIG) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def paragraph_prompts(engine, examples):
    first = [e for e in examples if e.context == examples[0].context][:6]
    return [engine.qa_prompt(e.context, e.question) for e in first]


def test_prompt_uses_the_gguf_chat_template(engine):
    prompt = engine.prompts.render(qa_messages("Some context.", "A question?"))
    assert prompt.startswith("<|im_start|>system\n")
    assert prompt.endswith("<|im_start|>assistant\n")
    assert prompt.index("Some context.") < prompt.index("A question?")


def test_quantized_inference_answers_from_the_context(engine, examples):
    question = next(e for e in examples if e.question == "In what country is Normandy located?")
    answer = engine.generate_group([engine.qa_prompt(question.context, question.question)])
    assert "France" in answer[0].text


def test_batched_answers_equal_one_at_a_time_answers(f16_engine, paragraph_prompts):
    batched = f16_engine.generate_group(paragraph_prompts)
    single = [f16_engine.generate_group([p])[0] for p in paragraph_prompts]
    assert [g.text for g in batched] == [g.text for g in single]
    assert all(g.generated_tokens >= 1 for g in batched)
    assert any(g.text.strip() for g in batched)  # real text, not empty strings
    for b, s in zip(batched, single, strict=True):
        assert b.na_prob == pytest.approx(s.na_prob, abs=1e-3)
        assert 0.0 <= b.na_prob <= 1.0


def test_prompts_and_answers_match_llama_cpp_chat_completion(embedded_f16, f16_engine, examples):
    """Same prompt tokens, greedy decoding and stop tokens as the high-level API.

    Prompts must match token for token. Answers may differ where two tokens are within float
    noise of each other (different batch shapes sum in a different order), so allow one in six.
    """
    from llama_cpp import Llama

    llm = Llama(
        model_path=str(embedded_f16),
        n_ctx=2048,
        n_threads=2,
        verbose=False,
        chat_format="chat_template.default",
    )
    agree = 0
    try:
        for example in examples[:6]:
            messages = qa_messages(example.context, example.question)
            reference = llm.create_chat_completion(messages, max_tokens=24, temperature=0.0)
            prompt = f16_engine.prompt_tokens(messages)
            assert list(llm.input_ids[: len(prompt)]) == prompt
            ours = f16_engine.generate_group([prompt])[0]
            agree += ours.text.strip() == reference["choices"][0]["message"]["content"].strip()
    finally:
        llm.close()
    assert agree >= 5


def test_answer_length_is_capped(embedded_model, paragraph_prompts):
    with QAEngine(embedded_model, EngineConfig(n_ctx=2048, parallel=2, max_answer_tokens=2)) as short:
        for generation in short.generate_group(paragraph_prompts[:2]):
            assert generation.generated_tokens <= 2


def test_group_larger_than_parallel_is_refused(engine, paragraph_prompts):
    with pytest.raises(ValueError):
        engine.generate_group(paragraph_prompts * 2)


def test_streamed_answers_equal_group_answers(f16_engine, paragraph_prompts):
    """Streaming (the demo, the profiler) decodes the same greedy answer as evaluation does,
    whether the shared prefix is reused from the previous prompt or decoded from scratch."""
    for reuse in (True, False):
        for prompt in paragraph_prompts[:3]:
            timings = StreamTimings()
            text = "".join(f16_engine.stream(prompt, timings, reuse_prefix=reuse))
            expected = f16_engine.generate_group([prompt])[0]
            assert text == expected.text
            assert timings.generated_tokens == expected.generated_tokens
            assert timings.na_prob == pytest.approx(expected.na_prob, abs=1e-3)
            assert 0 < timings.first_token_s <= timings.total_s
            assert timings.prompt_tokens == len(prompt)
    timings = StreamTimings()
    "".join(f16_engine.stream(paragraph_prompts[0], timings, reuse_prefix=True))
    assert timings.prefill_tokens < len(paragraph_prompts[0])  # the cached prefix was reused


def test_abandoned_stream_leaves_the_engine_usable(f16_engine, paragraph_prompts):
    pieces = f16_engine.stream(paragraph_prompts[1])
    next(pieces)
    pieces.close()
    again = "".join(f16_engine.stream(paragraph_prompts[1]))
    assert again == f16_engine.generate_group([paragraph_prompts[1]])[0].text


def test_stream_refuses_a_prompt_that_does_not_fit(embedded_model, paragraph_prompts):
    from edgeqa.errors import EdgeQAError

    with (
        QAEngine(embedded_model, EngineConfig(n_ctx=256, parallel=1)) as small,
        pytest.raises(EdgeQAError, match="--n-ctx"),
    ):
        next(small.stream(list(paragraph_prompts[0]) * 2))


def test_window_nll_equals_the_log_softmax_of_full_logits(f16_engine, paragraph_prompts):
    tokens = list(paragraph_prompts[0])[:96]
    logits = f16_engine.sequence_logits(tokens).astype(np.float64)
    log_probs = logits - logits.max(axis=1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(axis=1, keepdims=True))
    expected = -sum(log_probs[i, tokens[i + 1]] for i in range(48, 95))
    nll, count = window_nll(f16_engine, tokens, first_scored=48)
    assert count == 47
    assert nll == pytest.approx(expected, rel=1e-4)


def test_rope_settings_change_the_model_only_when_asked(embedded_f16, paragraph_prompts):
    from edgeqa.runtime.engine_config import RopeSettings

    tokens = list(paragraph_prompts[0])[:64]

    def nll(rope: RopeSettings) -> float:
        with QAEngine(embedded_f16, EngineConfig(n_ctx=256, parallel=1, rope=rope)) as engine:
            return window_nll(engine, tokens, first_scored=1)[0]

    default = nll(RopeSettings())
    assert nll(RopeSettings(scaling="none")) == pytest.approx(default, rel=1e-3)
    assert nll(RopeSettings(scaling="linear", freq_scale=0.25)) > default * 1.05  # squeezed positions hurt


@pytest.fixture(scope="module")
def paragraph(examples):
    return [e for e in examples if e.context == examples[0].context][:6]


def span_engine(model, **policy):
    return QAEngine(
        model, EngineConfig(n_ctx=4096, parallel=8, max_answer_tokens=24, span_constrained=True, **policy)
    )


def test_span_constrained_answers_are_context_spans(embedded_model, paragraph, paragraph_prompts):
    context = paragraph[0].context
    with span_engine(embedded_model) as engine:
        group = engine.generate_group(paragraph_prompts, [context] * len(paragraph_prompts))
        streamed = ["".join(engine.stream(p, context=context)) for p in paragraph_prompts]
    assert [g.text for g in group] == streamed
    for generation in group:
        assert generation.text == ABSTAIN or (generation.text.strip() and generation.text in context)
        assert 0.0 <= generation.na_prob <= 1.0


def test_threshold_decides_the_abstention(embedded_model, paragraph, paragraph_prompts):
    contexts = [paragraph[0].context] * len(paragraph_prompts)
    with span_engine(embedded_model, na_threshold=1.0) as always_answer:
        answered = always_answer.generate_group(paragraph_prompts, contexts)
    with span_engine(embedded_model, na_threshold=0.0) as always_abstain:
        abstained = always_abstain.generate_group(paragraph_prompts, contexts)
    assert all(g.text != ABSTAIN and g.text in contexts[0] and g.generated_tokens for g in answered)
    assert all(g.text == ABSTAIN and g.generated_tokens == 0 for g in abstained)
    assert [g.na_prob for g in answered] == pytest.approx([g.na_prob for g in abstained])


def test_answer_logprob_is_the_chosen_tokens_log_probability(embedded_f16, paragraph_prompts):
    """One answer token: its log-probability is the top log-softmax of the prompt's next-token
    logits; longer answers multiply in more tokens (and the end), so they can only be less likely."""
    prompts = paragraph_prompts[:3]
    with QAEngine(embedded_f16, EngineConfig(n_ctx=4096, parallel=8, max_answer_tokens=1)) as one_token:
        first = one_token.generate_group(prompts)
        expected = []
        for prompt in prompts:
            logits = one_token.next_token_logits(prompt).astype(np.float64)
            expected.append(logits.max() - logits.max() - np.log(np.exp(logits - logits.max()).sum()))
    # batched and one-at-a-time decoding differ in the last digits of F16 matmuls
    assert [g.answer_logprob for g in first] == pytest.approx(expected, abs=1e-2)
    with QAEngine(embedded_f16, CONFIG) as full:
        whole = full.generate_group(prompts)
    for short, long in zip(first, whole, strict=True):
        assert long.answer_logprob <= short.answer_logprob + 1e-3


def test_answer_score_judges_the_decoded_answer(embedded_model, paragraph, paragraph_prompts):
    """With the answer score, every answer is decoded; its doubt (1 - P(answer)) is the
    no-answer probability, and the threshold turns doubtful ones into the abstention, in a
    group and in a stream (one piece, once judged) alike."""
    contexts = [paragraph[0].context] * len(paragraph_prompts)
    with span_engine(embedded_model, na_score="answer", na_threshold=1.0) as answering:
        answered = answering.generate_group(paragraph_prompts, contexts)
    doubts = [g.na_prob for g in answered]
    for g in answered:
        assert g.text != ABSTAIN and g.text in contexts[0]
        assert g.na_prob == pytest.approx(1 - np.exp(g.answer_logprob))
    # a threshold in the widest gap between the doubts, so that no answer sits on its edge
    edges = sorted([0.0, *doubts, 1.0])
    low, high = max(itertools.pairwise(edges), key=lambda pair: pair[1] - pair[0])
    threshold = (low + high) / 2
    with span_engine(embedded_model, na_score="answer", na_threshold=threshold) as judged:
        group = judged.generate_group(paragraph_prompts, contexts)
        streamed = [list(judged.stream(p, context=contexts[0])) for p in paragraph_prompts]
    for g, reference, doubt, pieces in zip(group, answered, doubts, streamed, strict=True):
        assert g.text == (ABSTAIN if doubt > threshold else reference.text)
        assert g.generated_tokens == reference.generated_tokens  # decoded even when abstaining
        assert len(pieces) == 1
        if abs(doubt - threshold) > 0.1:  # one-at-a-time decoding shifts a quantized doubt a little
            assert pieces[0] == g.text


def test_answer_all_decodes_past_the_threshold(embedded_model, paragraph, paragraph_prompts):
    with span_engine(embedded_model, na_threshold=0.0) as engine:
        contexts = [paragraph[0].context] * len(paragraph_prompts)
        decided = engine.generate_group(paragraph_prompts, contexts)
        forced = engine.generate_group(paragraph_prompts, contexts, answer_all=True)
    assert all(g.text == ABSTAIN and g.answer_logprob is None for g in decided)
    assert all(g.text != ABSTAIN and g.answer_logprob is not None for g in forced)
    assert [g.na_prob for g in forced] == pytest.approx([g.na_prob for g in decided], abs=1e-3)


def test_branches_start_from_different_first_tokens_and_keep_the_best_first(f16_engine, paragraph_prompts):
    single = f16_engine.generate_group(paragraph_prompts[:2])
    branched = f16_engine.generate_group(paragraph_prompts[:2], branches=3)
    assert len(branched) == 6
    assert [branched[0].text, branched[3].text] == [g.text for g in single]
    for first in (0, 3):
        assert len({g.text for g in branched[first : first + 3]}) == 3
