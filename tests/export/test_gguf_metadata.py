import numpy as np
import pytest

from edgeqa.errors import EdgeQAError
from edgeqa.export.gguf_metadata import add_string_metadata
from edgeqa.models.gguf_info import read_gguf_info
from edgeqa.prompts import PROMPT_LAYOUT_KEY


def test_the_added_key_is_read_back_and_nothing_else_changes(embedded_model, question_first_gguf):
    from gguf import GGUFReader

    original, marked = GGUFReader(embedded_model), GGUFReader(question_first_gguf)
    assert set(marked.fields) - set(original.fields) == {PROMPT_LAYOUT_KEY}
    for key, field in original.fields.items():
        if not key.startswith("GGUF."):
            assert marked.fields[key].contents() == field.contents(), key
    assert [t.name for t in marked.tensors] == [t.name for t in original.tensors]
    assert all(np.array_equal(a.data, b.data) for a, b in zip(original.tensors, marked.tensors, strict=True))
    assert read_gguf_info(question_first_gguf).prompt_layout == "question-first"
    assert read_gguf_info(embedded_model).prompt_layout == "context-first"
    assert not list(question_first_gguf.parent.glob(".*partial"))


def test_the_quantizer_keeps_the_key(question_first_gguf, tmp_path):
    from edgeqa.export.quantize import quantize_gguf

    quantized = quantize_gguf(question_first_gguf, tmp_path / "qf-Q8_0.gguf", "q8_0")
    assert read_gguf_info(quantized).prompt_layout == "question-first"


def test_an_unknown_layout_in_a_gguf_is_a_one_line_error(question_first_gguf, tmp_path):
    import shutil

    copy = shutil.copy(question_first_gguf, tmp_path / "odd.gguf")
    add_string_metadata(copy, {PROMPT_LAYOUT_KEY: "answer-first"})
    with pytest.raises(EdgeQAError, match=r"odd\.gguf: edgeqa\.prompt_layout is 'answer-first'"):
        read_gguf_info(copy)
