"""The trainer on a tiny random Llama: real steps, checkpoints, resume, and the CLI outputs."""

import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from tests.helpers import REPO, run_cli, run_in_process, tiny_cli_args, tiny_config


def _config(tiny_llama_dir, tmp_path, name):
    return tiny_config(tiny_llama_dir, tmp_path, name, max_steps=4, grad_accum=2, eval_every=2, save_every=1)


def test_interrupted_training_resumes_to_the_same_adapter(tiny_llama_dir, tmp_path, monkeypatch):
    from edgeqa.finetune import trainer as trainer_module
    from edgeqa.finetune.run import resume_config, run_finetune

    straight = run_finetune(_config(tiny_llama_dir, tmp_path, "straight"), show_progress=False)

    original = trainer_module.Trainer._optimizer_step
    calls = {"n": 0}

    def interrupt_on_third_step(self):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(trainer_module.Trainer, "_optimizer_step", interrupt_on_third_step)
    with pytest.raises(KeyboardInterrupt, match=r"resume with: edgeqa finetune --resume .*resumed"):
        run_finetune(_config(tiny_llama_dir, tmp_path, "resumed"), show_progress=False)
    monkeypatch.setattr(trainer_module.Trainer, "_optimizer_step", original)
    resumed_dir = tmp_path / "resumed"
    state = json.loads((resumed_dir / "config.json").read_text())
    assert state["max_steps"] == 4
    run_finetune(resume_config(resumed_dir), resume_dir=resumed_dir, show_progress=False)

    a = load_file(straight / "checkpoint" / "adapter_model.safetensors")
    b = load_file(resumed_dir / "checkpoint" / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert (a[key] - b[key]).abs().max() < 1e-6, key


def test_resume_finds_a_checkpoint_stopped_in_the_middle_of_its_swap(tiny_llama_dir, tmp_path, capsys):
    """A save moves checkpoint/ aside before it moves the new one in; a run stopped between the
    two renames still resumes, from the previous checkpoint."""
    from edgeqa.finetune.run import resume_config, run_finetune

    run_dir = run_finetune(_config(tiny_llama_dir, tmp_path, "swap"), show_progress=False)
    (run_dir / "checkpoint").rename(run_dir / ".checkpoint.old")
    capsys.readouterr()
    run_finetune(resume_config(run_dir), resume_dir=run_dir, show_progress=False)
    assert "resuming at step 4" in capsys.readouterr().out
    assert (run_dir / "checkpoint" / "trainer_state.pt").is_file()


def test_epochs_set_the_steps_from_the_training_examples(tiny_llama_dir, tmp_path, capsys):
    """--epochs is resolved once the data is encoded, stored in config.json for --resume and
    reported back as the passes actually made."""
    from edgeqa.finetune.run import run_finetune

    run_dir = run_finetune(tiny_config(tiny_llama_dir, tmp_path, "epochs", epochs=0.02), show_progress=False)
    run = json.loads((run_dir / "run.json").read_text())
    examples = run["data"]["train_questions"]
    steps = math.ceil(0.02 * examples / 2)  # batch 2 x accumulation 1
    assert json.loads((run_dir / "config.json").read_text())["max_steps"] == steps
    assert run["metrics"]["steps"] == steps
    assert f"; 0.02 epochs = {steps} steps" in capsys.readouterr().out
    assert run["metrics"]["epochs"] == round(steps * 2 / examples, 3) >= 0.02


def test_sigterm_saves_a_checkpoint_and_says_how_to_resume(tiny_llama_dir, tmp_path):
    """`kill` on a background run (where SIGINT is ignored) stops it like Ctrl-C does."""
    args = tiny_cli_args(tiny_llama_dir, tmp_path, "killed", max_steps=100_000, eval_every=0, save_every=1)
    process = subprocess.Popen(
        [sys.executable, "-m", "edgeqa", "finetune", *args],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    checkpoint = tmp_path / "killed" / "checkpoint" / "trainer_state.pt"
    deadline = time.monotonic() + 300
    while not checkpoint.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert f"resume with: edgeqa finetune --resume {tmp_path / 'killed'}" in stderr
    assert "Traceback" not in stderr
    saved = torch.load(checkpoint, weights_only=False)["state"]
    assert 1 <= saved["step"] < 100_000


def test_finetune_cli_writes_the_run_folder(tiny_llama_dir, tmp_path):
    args = tiny_cli_args(tiny_llama_dir, tmp_path, "cli", backend="auto", context_window=40)
    result = run_cli("finetune", *args)
    assert result.returncode == 0, result.stderr
    assert "backend hf (no NVIDIA GPU visible)" in result.stdout
    assert "training paragraphs cropped to 40 words" in result.stdout
    for noise in ("Loading weights", "kernels-community", "is_gradient_checkpointing"):  # --quiet
        assert noise not in result.stderr, result.stderr
    run_dir = tmp_path / "cli"
    for name in (
        "adapter/adapter_model.safetensors",
        "adapter/adapter_config.json",
        "run.json",
        "loss_curves.json",
        "loss.png",
        "config.json",
        "checkpoint/trainer_state.pt",
    ):
        assert (run_dir / name).is_file(), name
    run = json.loads((run_dir / "run.json").read_text())
    assert run["base"]["kind"] == "hf_dir" and len(run["base"]["sha256"]) == 64
    assert run["metrics"]["steps"] == 2 and run["metrics"]["tokens_per_second"] > 0
    assert set(run["data"]["train_articles"]).isdisjoint(run["data"]["val_articles"])
    curves = json.loads((run_dir / "loss_curves.json").read_text())
    assert len(curves["train"]) == 2 and len(curves["val"]) == 2


def test_finetune_bad_input_gets_one_line_errors(tmp_path, tiny_llama_dir, capsys):
    cases = [
        (["--base", str(tmp_path / "nothing.gguf")], "base model file not found"),
        (["--base", str(tmp_path)], "no config.json"),
        (["--base", str(tiny_llama_dir), "--backend", "unsloth"], "needs an NVIDIA GPU"),
        (["--base", str(tiny_llama_dir), "--target-modules", "wq"], "no module named 'wq'"),
        (
            [
                "--base",
                str(tiny_llama_dir),
                "--batch-size",
                "512",
                "--max-length",
                "8192",
                "--base",
                "embedded",
            ],
            "needs about",
        ),
    ]
    for args, message in cases:
        code, stderr = run_in_process(capsys, "finetune", "--out-dir", str(tmp_path / "runs"), *args)
        assert code == 1, (args, stderr)
        assert "Traceback" not in stderr
        assert message in stderr.strip().splitlines()[-1], stderr


def test_data_parallel_with_two_cpu_processes(tiny_llama_dir, tmp_path):
    """The hf backend unchanged under torchrun: 2 processes, gloo, gradients summed."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            "29533",
            "-m",
            "edgeqa",
            "finetune",
            *tiny_cli_args(tiny_llama_dir, tmp_path, "ddp", eval_every=2),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    run = json.loads((tmp_path / "ddp" / "run.json").read_text())
    assert run["metrics"]["steps"] == 2
    assert (tmp_path / "ddp" / "adapter" / "adapter_model.safetensors").is_file()
    assert "finetune" in result.stdout and result.stdout.count("backend hf") == 2  # one line per rank


def test_resume_may_change_the_length_and_nothing_that_makes_another_run(tmp_path):
    from edgeqa.errors import EdgeQAError
    from edgeqa.finetune.config import FinetuneConfig, config_to_dict
    from edgeqa.finetune.run import resume_config

    (tmp_path / "config.json").write_text(json.dumps(config_to_dict(FinetuneConfig(epochs=1.0))))
    config = resume_config(tmp_path, {"max_steps": 175})
    assert (config.max_steps, config.epochs) == (175, 0.0)
    assert json.loads((tmp_path / "config.json").read_text())["max_steps"] == 175  # recorded
    with pytest.raises(EdgeQAError, match=r"--learning-rate cannot change on --resume \(only --max-steps"):
        resume_config(tmp_path, {"learning_rate": 1e-3})
