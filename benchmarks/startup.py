"""Start-up cost: how long edgeqa takes before it answers, and what reading GGUF headers costs.

Measures, side by side in one run: reading the embedded GGUF's header with gguf-py's
`GGUFReader` (what edgeqa did) and with edgeqa's own header reader; the wall time of
`edgeqa eval --limit 1` on the embedded model; `edgeqa models list` over a folder of 10 GGUFs;
and building the demo's model picker over the same folder. Each timing is the median of
--repeats runs.

usage: python benchmarks/startup.py [--repeats 3]
writes: benchmarks/results/startup.json and .md
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _report import write_results

BUNDLED = Path(__file__).parents[1] / "edgeqa" / "data" / "samples" / "squad_v2_sample.json"


def median_seconds(action: Callable[[], object], repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return round(statistics.median(timings), 3)


def cli(*args: str) -> Callable[[], None]:
    def run() -> None:
        result = subprocess.run([sys.executable, "-m", "edgeqa", *args], capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"edgeqa {' '.join(args)} failed: {result.stderr.strip()}")

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import gguf

    from edgeqa.demo.app import default_service
    from edgeqa.models.gguf_header import read_gguf_header
    from edgeqa.models.registry import embedded_model_path

    model = embedded_model_path()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "ggufs"
        folder.mkdir()
        for i in range(10):  # ten GGUFs, as hard links (or copies across file systems)
            try:
                os.link(model, folder / f"model-{i}.gguf")
            except OSError:
                (folder / f"model-{i}.gguf").write_bytes(model.read_bytes())
        fresh = iter(range(1_000))  # each eval answers into a new folder, not a finished one
        result = {
            "model": model.name,
            "repeats": args.repeats,
            "header_gguf_py_s": median_seconds(lambda: gguf.GGUFReader(model), args.repeats),
            "header_edgeqa_s": median_seconds(lambda: read_gguf_header(model), args.repeats),
            "eval_limit_1_wall_s": median_seconds(
                lambda: cli(
                    "eval",
                    "--limit",
                    "1",
                    "--data",
                    str(BUNDLED),
                    "--quiet",
                    "--out",
                    f"{scratch}/{next(fresh)}",
                )(),
                args.repeats,
            ),
            "models_list_10_ggufs_wall_s": median_seconds(
                cli("models", "list", "--dir", str(folder)), args.repeats
            ),
            "demo_model_picker_10_ggufs_s": median_seconds(
                lambda: default_service(sorted(folder.glob("*.gguf"))), args.repeats
            ),
        }
    result["header_speedup"] = round(result["header_gguf_py_s"] / result["header_edgeqa_s"], 1)
    write_results("startup", result)


if __name__ == "__main__":
    main()
