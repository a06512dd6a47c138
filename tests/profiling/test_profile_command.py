"""`edgeqa doctor` and `edgeqa profile` through the real CLI."""

import json

import pytest

from tests.helpers import one_line_error, run_cli

pytestmark = pytest.mark.slow  # every test here runs the CLI in a process or loads a model


def test_doctor_runs_a_real_quantized_inference():
    result = run_cli("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[ok  ] llama.cpp inference: quantized inference works" in result.stdout
    assert "llama.cpp features:" in result.stdout


def test_profile_writes_tables_and_plots(tmp_path):
    out = tmp_path / "profile"
    args = (
        "--questions",
        "2",
        "--repeats",
        "1",
        "--warmup",
        "0",
        "--threads",
        "1",
        "--max-answer-tokens",
        "6",
    )
    result = run_cli("profile", *args, "--out", str(out))
    assert result.returncode == 0, result.stderr
    for name in ("profile.json", "profile.csv", "profile.md", "latency.png", "throughput_rss.png"):
        assert (out / name).stat().st_size > 0
    report = json.loads((out / "profile.json").read_text())
    (record,) = report["configurations"]
    assert record["status"] == "ok" and record["spec"]["threads"] == 1
    assert report["system"]["llama_cpp_features"]
    assert "| SmolLM2-135M-Instruct.Q4_1 t1 | ok |" in (out / "profile.md").read_text()
    rerun = run_cli("profile", *args, "--out", str(out))
    assert "kept from an earlier run" in rerun.stdout


def test_profile_rejects_bad_options(tmp_path):
    one_line_error(run_cli("profile", "--threads", "two"), "--threads")
    one_line_error(run_cli("profile", "--questions", "0"), "--questions")
    one_line_error(
        run_cli("profile", "--transformers", "embedded", "--transformers-dtype", "fp8"),
        "--transformers-dtype",
    )
    one_line_error(run_cli("profile", "--model", str(tmp_path / "none.gguf")), "none.gguf")
