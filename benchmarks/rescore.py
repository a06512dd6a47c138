"""Rescore an `edgeqa eval` folder from its files and compare with its metrics.json.

With --official-script PATH (the official SQuAD 2.0 `evaluate-v2.0.py`, which edgeqa does not
ship), the official script is run on the same predictions.json and na_prob.json, and every
number it prints is compared with edgeqa's.

With --na-threshold T, the run must be one that never abstained (`edgeqa eval --na-threshold 1`):
each question whose no-answer probability exceeds T is abstained on, exactly what `edgeqa eval
--na-threshold T` decides (the abstention is decided on that probability, and the answer is the
one decoded with the abstention forbidden), so one run gives every threshold's score.

usage: python benchmarks/rescore.py DATA.json RUN_DIR [--official-script evaluate-v2.0.py]
       python benchmarks/rescore.py DATA.json RUN_DIR --na-threshold 0.42
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from edgeqa.data.squad import load_squad
from edgeqa.squad_metrics import GoldQuestion, evaluate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--official-script", type=Path)
    parser.add_argument("--na-threshold", type=float, help="score as if abstaining above it")
    args = parser.parse_args()

    predictions = json.loads((args.run_dir / "predictions.json").read_text())
    na_probs = json.loads((args.run_dir / "na_prob.json").read_text())
    recorded = json.loads((args.run_dir / "metrics.json").read_text())["official"]
    golds = [GoldQuestion(e.qid, e.answers) for e in load_squad(args.data) if e.qid in predictions]
    rescored = evaluate(golds, predictions, na_probs)
    report = {"rescored_equals_metrics_json": rescored == recorded, "metrics": rescored}
    if args.na_threshold is not None:
        report["na_threshold"] = args.na_threshold
        report["with_threshold"] = evaluate(golds, predictions, na_probs, args.na_threshold)
    if args.official_script:
        output = subprocess.run(
            [
                sys.executable,
                str(args.official_script),
                args.data,
                str(args.run_dir / "predictions.json"),
                "--na-prob-file",
                str(args.run_dir / "na_prob.json"),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        official = json.loads(output)
        differences = {
            k: (official[k], rescored.get(k))
            for k in official
            if abs(official[k] - rescored.get(k, 1e9)) > 1e-9
        }
        report["official_script"] = official
        report["differences_from_official"] = differences
    print(json.dumps(report, indent=2))
    return 0 if report["rescored_equals_metrics_json"] and not report.get("differences_from_official") else 1


if __name__ == "__main__":
    sys.exit(main())
