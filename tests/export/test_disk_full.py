"""A disk that fills during the export: the one line names the cause, the free space and the need."""

import pytest

from edgeqa.errors import EdgeQAError
from edgeqa.export.convert import convert_to_gguf
from edgeqa.fileio import disk_full_reason

FAILING_CONVERTER = """
import sys
print("Writing:   0%|          | 0.00/269M", file=sys.stderr)
raise OSError(28, "No space left on device")
"""


def test_the_reason_names_free_space_and_need_when_space_is_the_cause(tmp_path):
    target = tmp_path / "model-F16.gguf"
    assert disk_full_reason(target, 1024, "some other failure") is None
    reason = disk_full_reason(target, 1024, "OSError: [Errno 28] No space left on device")
    assert reason.startswith("the disk is full:") and f"MiB free in {tmp_path}" in reason
    assert "model-F16.gguf needs about 0 MiB" in reason
    assert "the disk is full" in disk_full_reason(target, 10**18)  # less free than needed


@pytest.mark.slow
def test_a_converter_that_runs_out_of_space_is_reported_as_a_full_disk(tmp_path, monkeypatch):
    """The fault is injected where the converter writes: a converter that fails as a full disk does."""
    converter = tmp_path / "converter"
    converter.mkdir()
    (converter / "convert_hf_to_gguf.py").write_text(f"def main():\n    exec({FAILING_CONVERTER!r})\n")
    monkeypatch.setenv("EDGEQA_CONVERTER_DIR", str(converter))
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"\0" * 4096)
    target = tmp_path / "out" / "m-F16.gguf"
    target.parent.mkdir()
    with pytest.raises(EdgeQAError) as error:
        convert_to_gguf(folder, target)
    message = str(error.value)
    assert message.startswith(f"{target}: llama.cpp's converter could not write it: the disk is full")
    assert "needs about 0 MiB" in message and "Writing" not in message
    assert not list(target.parent.iterdir())  # no partial file left
