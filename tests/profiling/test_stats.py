import pytest

from edgeqa.profiling.stats import pass_rates, summarize


def _answer(latency: float, prompt: int = 100, prefill: float = 0.5, decoded: int = 9, decode: float = 0.3):
    return {
        "latency_s": latency,
        "ttft_s": prefill + 0.01,
        "prompt_tokens": prompt,
        "prefill_s": prefill,
        "generated_tokens": decoded + 1,
        "decoded_tokens": decoded,
        "decode_s": decode,
        "answer": "x",
    }


def test_rates_are_token_weighted_not_averaged():
    rates = pass_rates([_answer(1, prompt=100, prefill=1.0), _answer(1, prompt=300, prefill=1.0)])
    assert rates["prompt_tokens_per_s"] == 200.0
    assert rates["generation_tokens_per_s"] == pytest.approx(18 / 0.6, rel=1e-3)


def test_no_decoded_tokens_gives_no_rate():
    assert pass_rates([_answer(1, decoded=0, decode=0.0)])["generation_tokens_per_s"] is None


def test_percentiles_pool_repeats_and_report_their_spread():
    first = [_answer(v) for v in (1.0, 2.0, 3.0)]
    second = [_answer(v) for v in (2.0, 3.0, 4.0)]
    summary = summarize([first, second])
    assert summary["answers"] == 6
    assert summary["latency_p50_s"] == 2.5
    assert summary["latency_mean_s"] == 2.5
    assert 3.9 < summary["latency_p99_s"] <= 4.0
    assert summary["latency_p50_per_repeat_s"] == [2.0, 3.0]
    assert summary["latency_p50_spread"] == 0.5  # (3 - 2) / 2
