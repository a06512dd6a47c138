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


def test_fallback_warnings_go_to_the_log_and_one_line_is_printed(embedded_model, tmp_path, capfd):
    target = quantize_gguf(embedded_model, tmp_path / "m-Q4_K_M.gguf", "q4_k_m")
    out, err = capfd.readouterr()
    log = (tmp_path / "m-Q4_K_M.quantize.log").read_text()
    assert target.is_file() and "falling back" not in err and err.count("\n") <= 1
    assert log.count("falling back to") == 180  # SmolLM2's 576-wide rows: k-quants need 256
    summary = [line for line in out.splitlines() if "fell back" in line]
    assert summary == [
        "edgeqa export: 180 of 272 tensors fell back from q4_k_m (166 to q5_0, 14 to q8_0): rows 576 "
        f"wide are not a multiple of 256 (details: {tmp_path / 'm-Q4_K_M.quantize.log'})"
    ]
