"""`edgeqa judge` through the real CLI: the embedded model judges a real evaluation's answers,
locally and through a real llama.cpp server, resumably."""

import json

import pytest

from tests.conftest import ASSETS
from tests.helpers import run_cli


@pytest.fixture(scope="module")
def eval_dir(embedded_vs_endpoint):
    """The embedded model's answers to 6 questions (the endpoint tests' local row)."""
    out, _, _ = embedded_vs_endpoint
    return next(p for p in out.iterdir() if p.name.startswith("SmolLM2"))


@pytest.fixture(scope="module")
def judged(eval_dir):
    out = eval_dir.parent.parent / "judged"
    result = run_cli("judge", str(eval_dir), "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    return out, result


def test_every_answer_gets_three_scores_and_a_summary(judged, eval_dir):
    out, result = judged
    records = [
        json.loads(line) for line in (out / eval_dir.name / "judgements.jsonl").read_text().splitlines()
    ]
    predictions = json.loads((eval_dir / "predictions.json").read_text())
    assert {r["id"] for r in records} == set(predictions)  # --data came from eval_config.json
    for record in records:
        assert set(record["scores"]) == {"correctness", "completeness", "faithfulness"}
        assert all(score in range(1, 6) for score in record["scores"].values())
        assert all(1 <= e <= 5 for e in record["expected"].values())
        assert json.loads(record["raw"]) == record["scores"]
    summary = json.loads((out / eval_dir.name / "summary.json").read_text())
    assert summary["questions"] == 6 and summary["unparsed"] == 0
    low, high = summary["overall"]["ci95"]
    assert low <= summary["overall"]["mean"] <= high
    assert "E[correctness]" in (out / "judge.md").read_text() and eval_dir.name in result.stdout


def test_a_second_run_judges_nothing_again(judged, eval_dir):
    out, _ = judged
    log = out / eval_dir.name / "judgements.jsonl"
    before = log.read_text()
    result = run_cli("judge", str(eval_dir), "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    assert log.read_text() == before


def test_an_endpoint_judge_replies_with_the_rubrics_json(eval_dir, endpoint_url):
    out = eval_dir.parent.parent / "endpoint-judged"
    args = ["judge", str(eval_dir), "--out", str(out), "--quiet", "--limit", "3"]
    result = run_cli(*args, "--endpoint", endpoint_url, "--endpoint-model", "smollm2")
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / eval_dir.name / "summary.json").read_text())
    assert summary["questions"] == 3 and summary["unparsed"] == 0
    assert summary["judge"] == "smollm2" and summary["expected_correctness"] is None


def test_bad_judge_input_gets_one_line_errors(eval_dir, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        ([str(empty)], "no predictions.json here"),
        ([str(eval_dir), "--judge-model", "embedded", "--endpoint", "http://127.0.0.1:9/v1"], "not both"),
        ([str(eval_dir), str(eval_dir)], "share the folder name"),
        ([str(eval_dir), "--data", str(ASSETS / "alpaca_tiny.json")], "not SQuAD JSON"),
    ]
    for args, message in cases:
        result = run_cli("judge", *args, "--out", str(tmp_path / "out"))
        assert result.returncode == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert message in result.stderr.strip().splitlines()[-1], result.stderr
