"""llama-quantize's per-tensor type choices, through llama_model_quantize."""

import gguf
import pytest

from edgeqa.errors import EdgeQAError
from edgeqa.export.quantize import TypeOverrides, quantize_gguf


def test_overrides_choose_the_types_of_matching_tensors(embedded_f16, tmp_path):
    overrides = TypeOverrides.parse(
        ["attn_v=q8_0", r"blk\.0\.ffn_down=f16"], output_type=None, embedding_type="q4_0"
    )
    target = quantize_gguf(embedded_f16, tmp_path / "m-Q4_0.gguf", "q4_0", overrides=overrides)
    types = {t.name: t.tensor_type.name for t in gguf.GGUFReader(str(target)).tensors}
    assert types["blk.3.attn_v.weight"] == "Q8_0" and types["blk.3.attn_q.weight"] == "Q4_0"
    assert types["blk.0.ffn_down.weight"] == "F16" and types["blk.1.ffn_down.weight"] == "Q4_0"
    assert types["token_embd.weight"] == "Q4_0"
    assert overrides.to_dict()["tensor_types"] == ["attn_v=q8_0", r"blk\.0\.ffn_down=f16"]


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        ({"tensor_types": ["attn_v"]}, "expected PATTERN=TYPE"),
        ({"tensor_types": ["attn_v=q9_9"]}, "--tensor-type: unknown tensor type 'q9_9'"),
        ({"tensor_types": ["attn_(=q8_0"]}, "not a regular expression"),
        ({"output_type": "big"}, "--output-type: unknown tensor type 'big'"),
        ({"embedding_type": "q4_z"}, "--embedding-type: unknown tensor type 'q4_z'"),
    ],
)
def test_bad_overrides_get_one_line(args, complaint):
    with pytest.raises(EdgeQAError, match=complaint.replace("(", r"\(")):
        TypeOverrides.parse(**args)
