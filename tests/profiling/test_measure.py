"""The transformers baseline's timed greedy loop, on the tiny random Llama."""

import torch

from edgeqa.data.squad import BUNDLED_SAMPLE, load_squad
from edgeqa.profiling.measure import measure, transformers_answerer


def test_transformers_baseline_times_a_capped_greedy_answer(tiny_llama_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    examples = load_squad(BUNDLED_SAMPLE)[:2]
    result = measure(
        transformers_answerer(model, tokenizer, max_answer_tokens=5), examples, warmup=1, repeats=1
    )
    (one_pass,) = result["passes"]
    assert len(one_pass) == 2
    for answer in one_pass:
        assert answer["generated_tokens"] <= 5
        assert answer["decoded_tokens"] <= max(0, answer["generated_tokens"] - 0)
        assert 0 < answer["ttft_s"] <= answer["latency_s"]
        assert answer["prompt_tokens"] > 50
    assert result["measure_started"] <= result["measure_ended"]
