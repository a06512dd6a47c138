"""A shipped reader's name loads its merged fast copy, made once in the cache."""

import json

import pytest

from edgeqa.errors import EdgeQAError
from edgeqa.models.gguf_info import read_gguf_info
from edgeqa.models.registry import READERS_DIR, resolve_model
from edgeqa.reader.calibration import calibration_path, stored_threshold
from edgeqa.reader.shipped import MERGED_QUANT, resolve_reader_model


def test_the_name_gives_a_merged_q8_0_with_the_adapters_threshold(shipped_reader, reader_cache):
    assert shipped_reader.is_relative_to(reader_cache)
    info = read_gguf_info(shipped_reader)
    assert not info.is_adapter and MERGED_QUANT.upper() in info.file_type.upper()
    assert info.name == "smollm2-135m-squad"  # what eval reports as the model's name
    adapter_entry = json.loads(calibration_path(resolve_model("smollm2-135m-squad")).read_text())
    carried = json.loads(calibration_path(shipped_reader).read_text())
    assert carried["thresholds"] == adapter_entry["thresholds"]
    assert carried["inherited_from"].endswith("smollm2-135m-squad-LoRA.gguf")
    assert stored_threshold(shipped_reader, True, "abstention").value == pytest.approx(
        adapter_entry["thresholds"]["span/abstention"]["na_threshold"]
    )


def test_a_second_use_reuses_the_cache(shipped_reader, capsys):
    before = shipped_reader.stat().st_mtime_ns
    assert resolve_reader_model("smollm2-135m-squad") == shipped_reader
    assert shipped_reader.stat().st_mtime_ns == before
    assert "first use" not in capsys.readouterr().err
    assert not [p for p in shipped_reader.parent.iterdir() if p.name.startswith(".")]


def test_paths_and_other_names_are_used_as_given(embedded_model):
    lora = READERS_DIR / "smollm2-135m-squad-LoRA.gguf"
    assert resolve_reader_model(lora) == lora  # the LoRA at load, when asked for by path
    assert resolve_reader_model("embedded") == embedded_model


def test_an_unwritable_cache_is_one_line_naming_the_variable(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("EDGEQA_CACHE_DIR", str(blocker))
    with pytest.raises(EdgeQAError, match="EDGEQA_CACHE_DIR"):
        resolve_reader_model("smollm2-135m-squad")


@pytest.mark.slow
def test_a_merge_killed_midway_leaves_nothing_the_next_use_keeps(tmp_path):
    """SIGKILL while the LoRA is being merged leaves its work folder (hundreds of MB): the next
    first use removes it and finishes the merge."""
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "EDGEQA_CACHE_DIR": str(tmp_path)}
    code = "from edgeqa.reader.shipped import merged_reader; merged_reader('smollm2-135m-squad')"
    merging = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.DEVNULL)
    readers = tmp_path / "readers"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(f.stat().st_size for f in readers.glob("*/.merge-*/*")):
        assert merging.poll() is None, "the merge ended before it could be killed"
        time.sleep(0.05)
    merging.send_signal(signal.SIGKILL)
    merging.wait(30)
    (left,) = readers.glob("*/.merge-*")
    assert left.name.startswith(f".merge-{merging.pid}-")
    finished = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert not list(readers.glob("*/.merge-*"))
    assert [p.name for p in readers.glob("*/*.gguf")] == ["smollm2-135m-squad-Q8_0.gguf"]
