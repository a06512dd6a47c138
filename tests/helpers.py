"""Run the real CLI in a child process, as a user would."""

import contextlib
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgeqa", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or REPO,
    )


# A fine-tuning run small enough for tests: the tiny Llama, the bundled sample, a few steps.
TINY_RUN = {
    "data": "bundled",
    "backend": "hf",
    "max_steps": 2,
    "batch_size": 2,
    "grad_accum": 1,
    "max_length": 384,
    "eval_every": 1,
    "save_every": 0,
    "val_examples": 4,
    "warmup_steps": 1,
    "learning_rate": 1e-2,
    "lora_r": 4,
    "lora_alpha": 8,
    "split": (0.5, 0.5, 0.0),
}


def tiny_config(base_dir: Path, out_dir: Path, name: str, **overrides):
    from edgeqa.finetune.config import FinetuneConfig

    return FinetuneConfig(
        **{**TINY_RUN, "base": str(base_dir), "out_dir": str(out_dir), "run_name": name, **overrides}
    )


def tiny_cli_args(base_dir: Path, out_dir: Path, name: str, **overrides) -> list[str]:
    """The same run as `edgeqa finetune` flags."""
    args = ["--base", str(base_dir), "--out-dir", str(out_dir), "--run-name", name, "--quiet"]
    for key, value in {**TINY_RUN, **overrides}.items():
        flag = "--" + key.replace("_", "-")
        args += [flag, *map(str, value)] if isinstance(value, tuple) else [flag, str(value)]
    return args


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def edgeqa_server(*args: str, ready_within: float = 120) -> Iterator[str]:
    """`edgeqa serve *args` on a free local port until `/health` says ready; yields its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "edgeqa", "serve", *args, "--port", str(port)]
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=log, text=True)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + ready_within
            while True:
                try:
                    with urllib.request.urlopen(base + "/health", timeout=2):
                        break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        tail = log.read()[-2000:]
                        raise AssertionError(f"edgeqa serve did not become ready: {tail}") from None
                    time.sleep(0.2)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=30)


@contextlib.contextmanager
def llama_server(model: Path) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on a free local port; yields its API base."""
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--n_ctx", "2048", "--n_threads", "2"]
    # The server logs every request to stderr: a file, not a pipe nobody drains (a full pipe
    # blocks the server mid-request).
    with tempfile.TemporaryFile(mode="w+") as log:
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, text=True)
        url = f"http://127.0.0.1:{port}/v1"
        try:
            _wait_until_serving(url, server, log)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=30)


def _wait_until_serving(url: str, server: subprocess.Popen, log: IO[str]) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(url + "/models", timeout=2).close()
            return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"llama_cpp.server did not start: {log.read()[-2000:]}") from None
            time.sleep(0.5)


def run_in_process(capsys, *args: str) -> tuple[int, str]:
    """(exit code, stderr) of `edgeqa ARGS` run by edgeqa.cli.main in this process: the same
    code path as the console script, without the seconds a child spends importing torch."""
    from edgeqa.cli import main

    capsys.readouterr()
    code = main(list(args))
    return code, capsys.readouterr().err


def one_line_error(result, *fragments) -> str:
    """Assert a CLI run failed with one line (no traceback) holding every fragment."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    message = result.stderr.strip().splitlines()[-1]
    for fragment in fragments:
        assert fragment in message, message
    return message
