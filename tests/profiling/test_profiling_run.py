"""Real profiling runs on the embedded model (a few questions), each in its own child process."""

import json

import pytest

from edgeqa.data.squad import BUNDLED_SAMPLE
from edgeqa.profiling.run import run_configuration, run_profile
from edgeqa.profiling.spec import ProfileSpec

QUICK = {"data": str(BUNDLED_SAMPLE), "questions": 2, "warmup": 0, "repeats": 2, "max_answer_tokens": 8}


@pytest.fixture(scope="module")
def quick_spec(embedded_model):
    return ProfileSpec("llama.cpp", str(embedded_model), threads=1, n_ctx=2048, **QUICK)


def test_a_configuration_measures_latency_rates_and_memory(quick_spec):
    record = run_configuration(quick_spec, timeout_s=300)
    assert record["status"] == "ok", record.get("error")
    assert record["answers"] == 4 and len(record["latencies_s"]) == 4
    assert (
        0
        < record["ttft_p50_s"]
        <= record["latency_p50_s"]
        <= record["latency_p95_s"]
        <= record["latency_p99_s"]
    )
    assert record["prompt_tokens_per_s"] > 0
    assert record["mean_prompt_tokens"] > 50  # the real SQuAD prompt, not a toy string
    assert 0 < record["steady_rss_mib"] <= record["peak_rss_mib"]
    assert record["model_size_mib"] > 50
    assert len(record["latency_p50_per_repeat_s"]) == 2


def test_peak_rss_is_the_childs_own_not_the_parents(quick_spec):
    """Linux carries a parent's RSS at fork into the child's ru_maxrss; the report must not."""
    ballast = bytearray(1024 * 2**20)
    for offset in range(0, len(ballast), 4096):  # touch every page: 1 GiB resident in the parent
        ballast[offset] = 1
    record = run_configuration(quick_spec, timeout_s=300)
    assert record["status"] == "ok"
    assert 50 < record["peak_rss_mib"] < 900
    del ballast


def test_a_failing_configuration_is_recorded_not_raised(tmp_path, embedded_model):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    record = run_configuration(ProfileSpec("llama.cpp", str(broken), threads=1, **QUICK), timeout_s=120)
    assert record["status"] == "failed"
    assert "broken.gguf" in record["error"]


def test_a_configuration_past_its_time_limit_is_stopped(quick_spec):
    record = run_configuration(quick_spec, timeout_s=0.5)
    assert record["status"] == "timeout"


def test_finished_configurations_are_kept_on_a_rerun(tmp_path, quick_spec):
    seen = []
    first = run_profile([quick_spec], tmp_path, 300, on_done=lambda r, cached: seen.append(cached))
    second = run_profile([quick_spec], tmp_path, 300, on_done=lambda r, cached: seen.append(cached))
    assert seen == [False, True]
    assert second == json.loads(json.dumps(first))


def test_the_transformers_baseline_runs_as_a_configuration(tiny_llama_dir):
    spec = ProfileSpec(
        "transformers", str(tiny_llama_dir), threads=1, dtype="fp32", **{**QUICK, "repeats": 1}
    )
    record = run_configuration(spec, timeout_s=300)
    assert record["status"] == "ok", record.get("error")
    assert record["label"].startswith("transformers-fp32")
    assert record["answers"] == 2 and record["peak_rss_mib"] > 100


def test_a_profiled_gguf_gets_no_float32_twin_in_the_user_cache(tiny_llama_dir, tmp_path, monkeypatch):
    """The twin is for training bases: profiling a GGUF through transformers reads it in place."""
    from edgeqa.export.convert import convert_to_gguf

    monkeypatch.setenv("EDGEQA_CACHE_DIR", str(tmp_path / "cache"))
    gguf = convert_to_gguf(tiny_llama_dir, tmp_path / "tiny-F16.gguf", "f16")
    spec = ProfileSpec("transformers", str(gguf), threads=1, dtype="fp32", **{**QUICK, "repeats": 1})
    record = run_configuration(spec, timeout_s=300)
    assert record["status"] == "ok", record.get("error")
    assert not (tmp_path / "cache" / "bases").exists()
