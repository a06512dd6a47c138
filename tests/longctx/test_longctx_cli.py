"""`edgeqa longctx` through the real CLI, on the embedded model at short contexts."""

import json

import pytest

from tests.helpers import run_cli, run_in_process

pytestmark = pytest.mark.slow  # every test here runs the CLI in a process or loads a model


def test_longctx_grid_runs_reports_and_resumes(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text("settings:\n  - {method: none}\n  - {method: linear, factor: 4}\n")
    args = (
        "longctx",
        "--ctx",
        "192",
        "--grid",
        str(grid),
        "--depths",
        "0.5",
        "--trials",
        "1",
        "--threads",
        "1",
    )
    result = run_cli(*args, "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out" / "longctx.json").read_text())
    by_setting = {r["setting"]: r for r in report["configurations"]}
    assert report["trained_ctx"] == 8192
    assert by_setting["none"]["status"] == "ok" and by_setting["none"]["peak_rss_mib"] > 50
    # squeezing every position 4x hurts a model used well inside its trained window
    assert by_setting["linear x4"]["perplexity"] > by_setting["none"]["perplexity"]
    assert by_setting["none"]["passkey"] == [{"depth": 0.5, "hits": 1, "trials": 1}]
    for name in ("longctx.csv", "longctx.md", "heatmap.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    assert "| 1 | none |" in (tmp_path / "out" / "longctx.md").read_text()
    rerun = run_cli(*args, "--out", str(tmp_path / "out"))
    assert rerun.stdout.count("(kept)") == 2


def test_longctx_bad_input_gets_one_line_errors(tmp_path, capsys):
    for args, fragment in (
        (("--ctx", "100000"), "pass --text with a longer text"),
        (("--ctx", "abc"), "--ctx"),
        (("--ctx", "256", "--depths", "2"), "--depths"),
        (("--ctx", "256", "--grid", str(tmp_path / "none.yaml")), "grid file not found"),
    ):
        code, stderr = run_in_process(capsys, "longctx", *args, "--out", str(tmp_path / "o"))
        assert code == 1 and "Traceback" not in stderr
        assert fragment in stderr.strip().splitlines()[-1]
