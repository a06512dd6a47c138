"""`edgeqa models list` through the real CLI: every row named as --model takes it."""

import shutil

import numpy as np

from edgeqa.export.imatrix import ImportanceMatrix, write_imatrix_gguf
from tests.helpers import run_cli


def test_every_row_is_named_as_model_takes_it(tmp_path, embedded_model):
    shutil.copy(embedded_model, tmp_path / "copy-Q4_1.gguf")
    matrix = ImportanceMatrix({"blk.0.attn_q.weight": np.ones(4)}, {"blk.0.attn_q.weight": 1.0}, 1, 8)
    write_imatrix_gguf(matrix, tmp_path / "copy.imatrix.gguf")
    result = run_cli("models", "list", "--dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert names[:2] == ["smollm2-135m-squad", "embedded"]
    assert str(tmp_path / "copy-Q4_1.gguf") in names and not any("imatrix" in n for n in names)
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert "Q4_1" in rows["embedded"] and "LoRA on embedded" in rows["smollm2-135m-squad"]
    for i, name in enumerate([*names[:2], str(tmp_path / "copy-Q4_1.gguf")]):  # each loads as printed
        result = run_cli(
            "eval", "--model", name, "--limit", "1", "--out", str(tmp_path / f"eval{i}"), "--quiet"
        )
        assert result.returncode == 0, result.stderr
