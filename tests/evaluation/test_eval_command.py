"""End-to-end tests of `edgeqa eval` through the real CLI."""

import json
import shutil

import pytest

from edgeqa.data.squad import load_squad
from edgeqa.squad_metrics import GoldQuestion, evaluate, no_answer_auc
from tests.helpers import one_line_error, run_cli

pytestmark = pytest.mark.slow  # every test here runs the CLI in a process or loads a model

FAST = ("--max-answer-tokens", "12")  # short answers keep these end-to-end runs quick


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from tests.conftest import ASSETS

    out = tmp_path_factory.mktemp("eval") / "run"
    result = run_cli(
        "eval", *FAST, "--data", str(ASSETS / "squad_v2_tiny.json"), "--out", str(out), "--quiet"
    )
    assert result.returncode == 0, result.stderr
    return out, result


def test_eval_writes_official_outputs_that_rescore_identically(finished_run, squad_tiny):
    out, result = finished_run
    predictions = json.loads((out / "predictions.json").read_text())
    na_probs = json.loads((out / "na_prob.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    examples = load_squad(squad_tiny)
    assert set(predictions) == {e.qid for e in examples}
    golds = [GoldQuestion(e.qid, e.answers) for e in examples]
    assert evaluate(golds, predictions, na_probs) == metrics["official"]
    assert metrics["na_prob_auc"] == pytest.approx(no_answer_auc(golds, na_probs))
    assert metrics["always_abstain"]["f1"] == pytest.approx(
        100 * sum(e.is_impossible for e in examples) / len(examples)
    )
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert len(log) == len(examples)
    assert all(r["prompt_tokens"] > 0 and r["latency_s"] >= 0 for r in log)
    assert all(0 <= r["score"] <= 1 for r in log)
    contexts = {e.qid: e.context for e in examples}
    placed = [r for r in log if r["prediction"] and r["start"] is not None]
    assert placed  # span decoding: every answer is a span, placed by its offsets
    for r in placed:
        assert contexts[r["id"]][r["start"] : r["start"] + len(r["prediction"])] == r["prediction"]
    assert all(column in result.stdout for column in ("always abstain", "HasAns F1", "NA AUC"))


def test_interrupted_run_resumes_without_redoing_and_ends_equal(finished_run, squad_tiny, tmp_path):
    out, _ = finished_run
    resumed = tmp_path / "resumed"
    shutil.copytree(out, resumed)
    for name in ("predictions.json", "na_prob.json", "metrics.json"):
        (resumed / name).unlink()
    lines = (resumed / "log.jsonl").read_text().splitlines(keepends=True)
    (resumed / "log.jsonl").write_text("".join(lines[:10]) + lines[10][:25])  # killed mid-line
    result = run_cli("eval", *FAST, "--data", str(squad_tiny), "--out", str(resumed), "--quiet")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((resumed / "metrics.json").read_text())
    assert metrics["this_session"]["questions"] == len(lines)  # one chunk, cut: answered again whole
    original = json.loads((out / "metrics.json").read_text())
    assert metrics["official"] == original["official"]


def test_a_run_cut_inside_a_chunk_resumes_to_exactly_the_uninterrupted_run(tmp_path):
    """150 questions are three chunks (Reader.chunks). A kill while the second chunk's answers
    were being appended leaves part of it logged: the resumed run answers that chunk again
    whole, as the same batch, and its metrics and no-answer probabilities equal the
    uninterrupted run's exactly (answering the rest in another batch moved them)."""
    from edgeqa.data.squad import BUNDLED_SAMPLE, load_squad, select_examples
    from edgeqa.reader.reader import Reader

    args = (*FAST, "--data", str(BUNDLED_SAMPLE), "--limit", "150", "--quiet")
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert run_cli("eval", *args, "--out", str(whole)).returncode == 0
    examples = select_examples(load_squad(BUNDLED_SAMPLE), limit=150)
    chunks = Reader.chunks([(e.question, e.context) for e in examples])
    assert len(chunks) >= 3
    shutil.copytree(whole, cut)
    for name in ("predictions.json", "na_prob.json", "metrics.json"):
        (cut / name).unlink()
    lines = (cut / "log.jsonl").read_text().splitlines(keepends=True)
    kept = len(chunks[0]) + len(chunks[1]) // 2  # half of the second chunk reached the disk
    (cut / "log.jsonl").write_text("".join(lines[:kept]) + lines[kept][:40])
    result = run_cli("eval", *args, "--out", str(cut))
    assert result.returncode == 0, result.stderr
    resumed = json.loads((cut / "metrics.json").read_text())
    assert resumed["this_session"]["questions"] == 150 - len(chunks[0])
    original = json.loads((whole / "metrics.json").read_text())
    assert resumed["official"] == original["official"]
    assert json.loads((cut / "na_prob.json").read_text()) == json.loads((whole / "na_prob.json").read_text())


def test_different_arguments_into_the_same_folder_are_refused(finished_run, squad_tiny):
    out, _ = finished_run
    result = run_cli("eval", *FAST, "--data", str(squad_tiny), "--limit", "5", "--out", str(out))
    one_line_error(result, str(out), "holds a different run", "questions")


def test_two_models_give_one_comparison_table(tmp_path, squad_tiny, embedded_model):
    copy = tmp_path / "copy-of-smollm2.gguf"
    shutil.copy(embedded_model, copy)
    out = tmp_path / "compare"
    result = run_cli(
        "eval",
        *FAST,
        "--model",
        str(embedded_model),
        "--model",
        str(copy),
        "--data",
        str(squad_tiny),
        "--limit",
        "8",
        "--out",
        str(out),
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    table = (out / "comparison.md").read_text()
    assert embedded_model.stem in table and "copy-of-smollm2" in table
    first = json.loads((out / embedded_model.stem / "predictions.json").read_text())
    second = json.loads((out / "copy-of-smollm2" / "predictions.json").read_text())
    assert first == second


def test_long_contexts_are_read_in_windows_unless_told_to_skip_or_stop(tmp_path, squad_tiny):
    args = [
        "eval",
        *FAST,
        "--data",
        str(squad_tiny),
        "--limit",
        "3",
        "--max-seq-len",
        "160",
        "--doc-stride",
        "16",
    ]
    result = run_cli(*args, "--too-long", "error", "--out", str(tmp_path))
    one_line_error(result, "longer than one window", "--too-long window")
    assert not (tmp_path / "metrics.json").exists()
    result = run_cli(*args, "--too-long", "skip", "--out", str(tmp_path), "--quiet")  # same folder
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "metrics.json").read_text())["skipped_too_long"] == 3
    windowed = tmp_path / "windowed"
    result = run_cli(*args, "--out", str(windowed), "--quiet")
    assert result.returncode == 0, result.stderr
    log = [json.loads(line) for line in (windowed / "log.jsonl").read_text().splitlines()]
    assert all(len(r["window_na_probs"]) > 1 for r in log)


def test_a_prompt_longer_than_n_ctx_is_one_line(tmp_path, squad_tiny):
    result = run_cli(
        "eval", *FAST, "--data", str(squad_tiny), "--limit", "3", "--n-ctx", "128", "--out", str(tmp_path)
    )
    one_line_error(result, "does not fit --n-ctx 128")
    assert not (tmp_path / "metrics.json").exists()


def test_article_contexts_ask_every_question_of_the_whole_article(tmp_path, squad_tiny):
    out = tmp_path / "articles"
    result = run_cli(
        "eval",
        *FAST,
        "--data",
        str(squad_tiny),
        "--context",
        "article",
        "--limit",
        "4",
        "--out",
        str(out),
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert len(log) == 4 and any(len(r["window_na_probs"]) > 1 for r in log)


@pytest.mark.parametrize(("option", "named"), [("--threads", "--threads"), ("--batch", "--batch")])
def test_zero_engine_options_are_named_as_typed_before_anything_loads(tmp_path, option, named):
    missing = tmp_path / "missing.json"  # checked after the options: the option error comes first
    result = run_cli("eval", option, "0", "--data", str(missing), "--out", str(tmp_path / "o"))
    one_line_error(result, named, "at least 1")
    assert "--n-" not in result.stderr and not (tmp_path / "o").exists()


def test_out_naming_a_file_is_one_line(tmp_path, squad_tiny):
    existing = tmp_path / "results.txt"
    existing.write_text("keep me")
    result = run_cli("eval", *FAST, "--data", str(squad_tiny), "--limit", "1", "--out", str(existing))
    one_line_error(result, str(existing), "is a file, not a folder")
    assert existing.read_text() == "keep me"


def test_a_folder_another_run_holds_is_refused(tmp_path, squad_tiny):
    import subprocess
    import sys

    hold = f"import pathlib, edgeqa.fileio as f; f.lock_run_dir(pathlib.Path({str(tmp_path)!r})); "
    holder = subprocess.Popen(
        [sys.executable, "-c", hold + "print('ok', flush=True); import time; time.sleep(120)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ok"
        result = run_cli("eval", *FAST, "--data", str(squad_tiny), "--limit", "1", "--out", str(tmp_path))
        one_line_error(result, f"pid {holder.pid}", "another edgeqa run")
        assert not (tmp_path / "log.jsonl").exists()
    finally:
        holder.kill()
        holder.wait()


def test_bad_models_get_one_line_errors(tmp_path, squad_tiny, embedded_model):
    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_text("hello")
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(embedded_model.read_bytes()[:2_000_000])
    cases = [
        (tmp_path / "missing.gguf", "model file not found"),
        (not_gguf, "not a GGUF file"),
        (truncated, "truncated"),
    ]
    for model, problem in cases:
        result = run_cli(
            "eval", "--model", str(model), "--data", str(squad_tiny), "--out", str(tmp_path / "out")
        )
        one_line_error(result, str(model), problem)
    assert not (tmp_path / "out").exists()


def test_bad_data_and_options(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"data": 3}')
    one_line_error(run_cli("eval", *FAST, "--data", str(bad), "--out", str(tmp_path / "o")), str(bad))
    result = run_cli("eval", *FAST, "--frobnicate")
    assert result.returncode == 2 and "unrecognized arguments: --frobnicate" in result.stderr
    one_line_error(run_cli("eval", *FAST, "--limit", "0"), "--limit")
