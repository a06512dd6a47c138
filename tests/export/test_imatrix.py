"""Importance matrices: names, the two llama.cpp file formats, and their effect on the quantizer."""

import struct

import numpy as np
import pytest

from edgeqa.errors import EdgeQAError
from edgeqa.export.imatrix import (
    ImportanceMatrix,
    check_matches,
    compute_imatrix,
    gguf_tensor_name,
    read_imatrix,
    write_imatrix_gguf,
)
from edgeqa.export.quantize import quantize_gguf
from edgeqa.fileio import sha256_file


def test_llama_modules_are_named_after_their_gguf_tensors():
    assert gguf_tensor_name("model.layers.3.mlp.up_proj") == "blk.3.ffn_up.weight"
    assert (
        gguf_tensor_name("base_model.model.model.layers.12.self_attn.o_proj") == "blk.12.attn_output.weight"
    )
    assert gguf_tensor_name("model.layers.0.self_attn.k_proj") == "blk.0.attn_k.weight"
    assert gguf_tensor_name("lm_head") is None
    assert gguf_tensor_name("model.layers.0.self_attn.q_proj.lora_A") is None


def _matrix() -> ImportanceMatrix:
    return ImportanceMatrix(
        sums={
            "blk.0.attn_q.weight": np.array([4.0, 8.0, 12.0]),
            "blk.0.ffn_down.weight": np.array([2.0, 6.0]),
        },
        counts={"blk.0.attn_q.weight": 4.0, "blk.0.ffn_down.weight": 2.0},
        chunks=2,
        chunk_size=3,
        datasets=("sample",),
    )


def test_gguf_format_round_trips(tmp_path):
    import gguf

    path = write_imatrix_gguf(_matrix(), tmp_path / "m.imatrix.gguf")
    back = read_imatrix(path)
    assert back.means()["blk.0.attn_q.weight"].tolist() == [1.0, 2.0, 3.0]
    assert back.means()["blk.0.ffn_down.weight"].tolist() == [1.0, 3.0]
    assert (back.chunks, back.chunk_size, back.datasets, back.tokens) == (2, 3, ("sample",), 4)
    reader = gguf.GGUFReader(str(path))  # the layout llama.cpp's loader expects
    assert "general.architecture" not in reader.fields
    shapes = {t.name: [int(x) for x in t.shape] for t in reader.tensors}
    assert shapes["blk.0.attn_q.weight.in_sum2"] == [3, 1] and shapes["blk.0.attn_q.weight.counts"] == [1, 1]
    assert not list(tmp_path.glob(".*partial"))


def test_legacy_dat_format_is_read(tmp_path):
    """llama-imatrix's old stream: values are the mean squares times the call count."""
    body = struct.pack("<i", 1)
    name = b"blk.0.attn_q.weight"
    body += struct.pack("<i", len(name)) + name + struct.pack("<ii", 10, 3)
    body += np.array([10.0, 20.0, 30.0], dtype="<f4").tobytes()
    body += struct.pack("<ii", 5, 4) + b"wiki"
    path = tmp_path / "old.dat"
    path.write_bytes(body)
    matrix = read_imatrix(path)
    assert matrix.means()["blk.0.attn_q.weight"].tolist() == [1.0, 2.0, 3.0]
    assert matrix.chunks == 5 and matrix.datasets == ("wiki",)


def test_bad_and_foreign_files_get_one_line(tmp_path):
    junk = tmp_path / "junk.dat"
    junk.write_bytes(b"\x00\x00")
    with pytest.raises(EdgeQAError, match=r"--imatrix .*junk\.dat: not an imatrix"):
        read_imatrix(junk)
    with pytest.raises(EdgeQAError, match="no such file"):
        read_imatrix(tmp_path / "missing.gguf")
    with pytest.raises(EdgeQAError, match=r"blk\.0\.ffn_down\.weight is not a tensor of this model"):
        check_matches(_matrix(), {"blk.0.attn_q.weight": 3}, "x")
    with pytest.raises(EdgeQAError, match="has 3 values, the tensor is 576 wide"):
        check_matches(_matrix(), {"blk.0.attn_q.weight": 576, "blk.0.ffn_down.weight": 2}, "x")


def test_computed_sums_are_the_squared_inputs_of_each_projection(tiny_llama_dir):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir), dtype=torch.float32)
    captured = {}
    handle = model.model.layers[1].mlp.down_proj.register_forward_pre_hook(
        lambda _m, inputs: captured.setdefault("x", inputs[0].detach().clone())
    )
    matrix = compute_imatrix(model, [[1, 2, 3, 4, 5]], "test", show_progress=False)
    handle.remove()
    assert len(matrix.sums) == 2 * 7 and matrix.tokens == 5 and matrix.chunks == 1
    expected = (captured["x"][0] ** 2).sum(dim=0).double().numpy()
    assert np.allclose(matrix.sums["blk.1.ffn_down.weight"], expected, rtol=1e-5)
    assert len(matrix.sums["blk.1.ffn_down.weight"]) == model.config.intermediate_size


def test_the_quantizer_uses_the_matrix(embedded_f16, tmp_path):
    """Weighting columns changes the rounding: the file differs from one made without."""
    import gguf

    widths = {
        t.name: int(t.shape[0]) for t in gguf.GGUFReader(str(embedded_f16)).tensors if len(t.shape) == 2
    }
    rng = np.random.default_rng(0)
    means = {name: rng.uniform(0.01, 10, width).astype(np.float32) for name, width in widths.items()}
    means = {name: values for name, values in means.items() if name.startswith("blk.")}
    plain = quantize_gguf(embedded_f16, tmp_path / "plain-Q4_0.gguf", "q4_0")
    weighted = quantize_gguf(embedded_f16, tmp_path / "weighted-Q4_0.gguf", "q4_0", imatrix=means)
    assert sha256_file(plain) != sha256_file(weighted)
