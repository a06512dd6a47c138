import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgeqa.errors import EdgeQAError
from edgeqa.fileio import atomic_write_json, ensure_dir, lock_run_dir, read_yaml


def test_a_full_disk_leaves_no_temporary_file_and_names_the_path(tmp_path, monkeypatch):
    target = tmp_path / "export" / "model.manifest.json"
    real_write = Path.write_text

    def disk_full(self, text, *args, **kwargs):  # a full disk cannot be made safely here
        real_write(self, text[:10], *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", disk_full)
    with pytest.raises(EdgeQAError) as error:
        atomic_write_json(target, {"files": []})
    message = str(error.value)
    assert str(target) in message and "No space left" in message and "MiB free" in message
    assert list(target.parent.iterdir()) == []  # no .model.manifest.json.tmp, no manifest


def test_yaml_errors_give_line_and_column(tmp_path):
    preset = tmp_path / "bad.yaml"
    preset.write_text("base: embedded\nlora_r: [16\nmax_steps: 3\n")
    with pytest.raises(EdgeQAError, match=r"bad\.yaml:3:\d+: invalid YAML \(expected ',' or ']'"):
        read_yaml(preset, "config")


def test_a_file_where_a_folder_is_needed_is_one_line(tmp_path):
    existing = tmp_path / "results.txt"
    existing.write_text("x")
    with pytest.raises(EdgeQAError, match=r"--out .*results\.txt: is a file, not a folder"):
        ensure_dir(existing)


@pytest.mark.slow
def test_a_second_process_is_refused_with_the_holders_pid_until_it_is_killed(tmp_path):
    folder = tmp_path / "run"
    lock = f"import pathlib, edgeqa.fileio as f; f.lock_run_dir(pathlib.Path({str(folder)!r}))"
    hold = f"{lock}; print('locked', flush=True); import time; time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", hold], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        probe = [sys.executable, "-c", lock]
        refused = subprocess.run(probe, capture_output=True, text=True)
        assert refused.returncode != 0 and f"(pid {holder.pid})" in refused.stderr
        holder.kill()  # kill -9: the kernel drops the lock with the process
        holder.wait()
        deadline = time.monotonic() + 10
        while subprocess.run(probe, capture_output=True).returncode != 0:
            assert time.monotonic() < deadline, "the lock outlived its holder"
    finally:
        holder.kill()
        holder.wait()


def test_the_same_process_may_lock_its_folder_again(tmp_path):
    lock_run_dir(tmp_path / "again")
    lock_run_dir(tmp_path / "again")
    assert (tmp_path / "again" / ".lock").read_text().strip() == str(os.getpid())
