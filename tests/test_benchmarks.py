"""Every benchmark script starts and explains itself (`--help`): they run for minutes to hours,
so a broken import or argument parser must show up here, not an hour into a measurement."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.rglob("*.py") if not p.name.startswith("_"))  # _*: helpers


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(BENCHMARKS)))
def test_the_script_explains_itself(script):
    result = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:") and "--" in result.stdout


def test_the_readme_lists_every_script():
    readme = (BENCHMARKS / "README.md").read_text(encoding="utf-8")
    names = [str(p.relative_to(BENCHMARKS)) for p in SCRIPTS]
    missing = [name for name in names if f"`{name}`" not in readme]
    assert missing == [], "describe these scripts in benchmarks/README.md"


def test_every_result_file_is_linked_from_results_md():
    index = (BENCHMARKS / "RESULTS.md").read_text(encoding="utf-8")
    files = sorted(p.name for p in (BENCHMARKS / "results").iterdir())
    assert files, "benchmarks/results/ holds the measurements"
    unlinked = [name for name in files if f"](results/{name})" not in index]
    assert unlinked == [], "link these from RESULTS.md's raw result files, or remove them"


@pytest.mark.slow
def test_the_imatrix_sweep_runs_end_to_end_on_a_tiny_run(tiny_llama_dir, tmp_path, squad_tiny):
    """The whole sweep (three exports, the evals, the table and plot) on the tiny model: a crash
    after the exports (as `--na-threshold`'s default once did) shows here, not an hour in."""
    from edgeqa.finetune.run import run_finetune
    from tests.helpers import tiny_config

    run = run_finetune(tiny_config(tiny_llama_dir, tmp_path / "runs", "tiny"), show_progress=False)
    args = ["--run", str(run), "--data", str(squad_tiny), "--limit", "4", "--quants", "q8_0,q4_0"]
    args += ["--f1-quants", "f16,q4_0", "--threads", "1", "--work", str(tmp_path / "work")]
    script = BENCHMARKS / "imatrix_sweep.py"
    result = subprocess.run(
        [sys.executable, str(script), *args, "--results-dir", str(tmp_path / "results")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    written = json.loads((tmp_path / "results" / "imatrix_sweep.json").read_text())
    assert written["na_threshold"] == "auto" and written["questions"] == 4
    assert [(r["quant"], r["imatrix"]) for r in written["rows"]][:1] == [("f16", "-")]
    assert {r["quant"] for r in written["rows"]} == {"f16", "q8_0", "q4_0"}
    assert (tmp_path / "results" / "imatrix_sweep.png").stat().st_size > 0
