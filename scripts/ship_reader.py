"""Ship a finetune run as a reader inside edgeqa: its adapter as a GGUF LoRA for the embedded
model, with its provenance beside it (the data's sha256s, the recipe, the training metrics).

usage: python scripts/ship_reader.py RUN_DIR [--name smollm2-135m-squad]
Then calibrate it on real unanswerables, which stores the threshold beside it, and cut the
machine's paths from that file too:
    edgeqa calibrate --model smollm2-135m-squad --data <squad-v2-dev.json>
    python scripts/ship_reader.py RUN_DIR --scrub-calibration
or take the threshold from a finished `edgeqa eval --model smollm2-135m-squad --na-threshold 1`
of the new reader (the merged Q8_0 the name loads: the same weights, three times as fast as
calibrating the LoRA itself):
    python scripts/ship_reader.py RUN_DIR --calibration-from <eval folder>
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from edgeqa.export.lora_gguf import write_lora_gguf
from edgeqa.fileio import atomic_write_json, sha256_file
from edgeqa.models.gguf_info import read_gguf_info
from edgeqa.models.registry import READERS, READERS_DIR, embedded_model_path
from edgeqa.provenance import RunRecord
from edgeqa.reader.calibration import calibration_path, write_calibration
from edgeqa.run_folder import RunFolder


def without_machine_paths(value: Any) -> Any:
    """`value` with every absolute path cut to its file name: the shipped files name data sets
    by file name and sha256, never a folder of the machine that trained them."""
    if isinstance(value, dict):
        return {key: without_machine_paths(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_machine_paths(item) for item in value]
    if isinstance(value, str) and value.startswith("/"):
        return Path(value).name
    return value


def store_calibration(target: Path, eval_dir: Path) -> None:
    """The threshold of a forced-answer eval of the merged reader, stored for the LoRA file."""
    metrics = json.loads((eval_dir / "metrics.json").read_text(encoding="utf-8"))
    if metrics.get("na_threshold") != 1.0:
        raise SystemExit(f"{eval_dir}: not an `edgeqa eval --na-threshold 1` folder")
    entry = write_calibration(
        target,
        metrics["span_constrained"],
        metrics["na_score"],
        {**metrics, "model_sha256": sha256_file(target)},
    )
    print(
        f"{calibration_path(target).name}: threshold {entry['na_threshold']:.4f} "
        f"from {entry['questions']} questions"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished finetune run folder on the embedded base")
    parser.add_argument("--name", default="smollm2-135m-squad", choices=sorted(READERS))
    parser.add_argument(
        "--scrub-calibration", action="store_true", help="only cut machine paths from its calibration file"
    )
    parser.add_argument(
        "--calibration-from",
        type=Path,
        help="only store the best-F1 threshold of this forced-answer eval folder",
    )
    args = parser.parse_args()
    target = READERS_DIR / READERS[args.name]
    if args.calibration_from:
        store_calibration(target, args.calibration_from)
    if args.scrub_calibration or args.calibration_from:
        path = calibration_path(target)
        atomic_write_json(path, without_machine_paths(json.loads(path.read_text(encoding="utf-8"))))
        return
    run = RunRecord.load(args.run)
    base = embedded_model_path()
    if run.base["sha256"] != sha256_file(base):
        raise SystemExit(f"{args.run}: not trained on the embedded model ({run.base['ref']})")
    info = read_gguf_info(base)
    shape = SimpleNamespace(
        model_type="llama",
        num_attention_heads=int(info.hparam("attention.head_count")),
        num_key_value_heads=int(info.hparam("attention.head_count_kv")),
    )
    write_lora_gguf(
        RunFolder(args.run).adapter,
        shape,
        target,
        base="embedded",
        prompt_layout=run.config["prompt_layout"],
        dtype=np.float16,
    )
    provenance = {
        "name": args.name,
        "file": target.name,
        "sha256": sha256_file(target),
        "base": {"name": "embedded", "file": base.name, "sha256": run.base["sha256"]},
        "recipe": without_machine_paths(run.config),
        "data": without_machine_paths(run.data),
        "training": run.metrics,
        "versions": run.versions,
    }
    atomic_write_json(target.with_name(f"{args.name}.provenance.json"), provenance)
    print(f"{target} ({target.stat().st_size / 2**20:.1f} MiB) and its provenance written")


if __name__ == "__main__":
    main()
