import pytest

from edgeqa.errors import EdgeQAError
from edgeqa.export.quantize import quant_types, quantize_gguf
from edgeqa.models.gguf_info import read_gguf_info


def test_standard_quant_types_are_known():
    assert {"q8_0", "q6_k", "q5_k_m", "q5_k_s", "q4_k_m", "q4_k_s", "q4_0", "q3_k_m", "q2_k", "f16"} <= set(
        quant_types()
    )


def test_quantize_writes_a_valid_gguf_of_the_requested_type(embedded_model, tmp_path):
    target = quantize_gguf(embedded_model, tmp_path / "m-Q8_0.gguf", "q8_0")
    info = read_gguf_info(target)
    assert info.file_type == "Q8_0" and info.chat_template
    assert not list(tmp_path.glob(".*partial"))


def test_unknown_quant_lists_the_valid_ones(embedded_model, tmp_path):
    with pytest.raises(EdgeQAError, match=r"valid: .*q4_k_m"):
        quantize_gguf(embedded_model, tmp_path / "x.gguf", "q4_z")
    assert not list(tmp_path.iterdir())
