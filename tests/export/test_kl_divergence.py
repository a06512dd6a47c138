"""KL divergence of a quantized file from its reference, on the real embedded model."""

import numpy as np
import pytest

from edgeqa.errors import EdgeQAError
from edgeqa.export.kl_divergence import compare, scored_tokens


@pytest.fixture(scope="module")
def text_tokens(embedded_f16):
    from edgeqa.data.squad import BUNDLED_SAMPLE, load_squad
    from edgeqa.runtime.engine import QAEngine

    text = "\n\n".join(dict.fromkeys(e.context for e in load_squad(BUNDLED_SAMPLE)))
    with QAEngine(embedded_f16) as engine:
        return engine.session.tokenize(text, special=False)[: 2 * 128]


def test_a_model_against_itself_has_no_divergence_and_fewer_bits_drift_more(
    embedded_f16, tmp_path, text_tokens
):
    from edgeqa.export.quantize import quantize_gguf

    q8 = quantize_gguf(embedded_f16, tmp_path / "m-Q8_0.gguf", "q8_0")
    q4 = quantize_gguf(embedded_f16, tmp_path / "m-Q4_0.gguf", "q4_0")
    ref_ppl, drifts = compare(embedded_f16, [embedded_f16, q8, q4], text_tokens, window=128)
    same, eight, four = drifts[embedded_f16], drifts[q8], drifts[q4]
    assert same.tokens == scored_tokens(len(text_tokens), 128) == 2 * 63
    assert same.mean < 1e-6 and same.top1_agreement == 1.0 and same.perplexity_ratio == pytest.approx(1.0)
    assert 0 < eight.mean < four.mean  # 8 bits stay closer to F16 than 4
    assert four.p99 >= four.median and 0.5 < four.top1_agreement < 1.0
    assert 1 < ref_ppl < 100 and same.perplexity == pytest.approx(ref_ppl) and np.isfinite(four.perplexity)
    assert set(four.kl_dict()) == {"mean", "median", "p99", "top1_agreement", "tokens"}


def test_too_little_text_is_refused(embedded_f16):
    with pytest.raises(EdgeQAError, match="need at least 128 tokens"):
        compare(embedded_f16, [embedded_f16], [1, 2, 3], window=128)
