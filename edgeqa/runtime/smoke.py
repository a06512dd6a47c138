"""A real quantized inference in a child process: does this llama.cpp build work on this CPU?

A native build on CPUs with AMX segfaults in `ggml_backend_amx_mul_mat` on quantized models
(llama.cpp issue 20824); a crash must not take the caller down, so the check runs in a child.
`python -m edgeqa.runtime.smoke` exits 0 when a build works; the install script relies on it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REBUILD_HINT = "rebuild it with: bash scripts/install.sh (builds llama-cpp-python without AMX)"


def _infer(model_path: Path) -> str:
    """Greedy-decode a few tokens after a prompt long enough to run quantized matrix products."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(model_path), n_ctx=256, n_threads=2, verbose=False)
    try:
        prompt = "The Normans were the people who in the 10th and 11th centuries gave their name to"
        out = llm.create_completion(prompt, max_tokens=8, temperature=0.0)
        return out["choices"][0]["text"]
    finally:
        llm.close()


def run_smoke_check(model_path: Path, timeout_s: float = 120.0) -> tuple[bool, str]:
    """(ok, message): whether a child process could load the model and generate text."""
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                f"from edgeqa.runtime.smoke import _infer; print(repr(_infer({str(model_path)!r})))",
            ],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            cwd=str(Path(__file__).resolve().parents[2]),
        )
    except subprocess.TimeoutExpired:
        return False, f"quantized inference did not finish in {timeout_s:.0f} s"
    if result.returncode < 0:
        return False, f"llama.cpp crashed (signal {-result.returncode}) on a quantized model; {REBUILD_HINT}"
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return False, f"quantized inference failed: {last}"
    text = result.stdout.strip()
    if text in ("''", ""):
        return False, "quantized inference produced no text"
    return True, f"quantized inference works: generated {text}"


def main(argv: list[str] | None = None) -> int:
    from edgeqa.errors import EdgeQAError
    from edgeqa.models.registry import embedded_model_path

    quiet = "--quiet" in (argv if argv is not None else sys.argv[1:])
    try:
        ok, message = run_smoke_check(embedded_model_path())
    except EdgeQAError as exc:
        ok, message = False, str(exc)
    if not quiet or not ok:
        print(f"llama.cpp smoke check: {message}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
