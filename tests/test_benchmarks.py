"""Every benchmark script starts and explains itself (`--help`): they run for minutes to hours,
so a broken import or argument parser must show up here, not an hour into a measurement."""

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
