"""Every stage on each Llama family's stand-in, through the real CLI: finetune -> export (F16,
Q4_K_M, LoRA GGUF, Ollama Modelfile) -> eval, Reader, serve, profile; pipeline; longctx on the
Llama 3 stand-in's own `llama3` RoPE scaling. Llama 2 shares TinyLlama's vocabulary; its template
is covered by tests/finetune/test_family_prompts.py."""

import json

import pytest

from edgeqa.models.gguf_header import read_gguf_header
from edgeqa.prompts import TEMPLATE_DATE, TEMPLATE_DATE_KEY
from tests.conftest import ASSETS
from tests.helpers import edgeqa_server, run_cli, tiny_cli_args

FAMILIES = ("llama3", "tinyllama")
STOPS = {"llama3": ["<|end_of_text|>", "<|eom_id|>", "<|eot_id|>"], "tinyllama": ["</s>"]}


@pytest.fixture(scope="module", params=FAMILIES)
def exported(request, standin, tmp_path_factory):
    """(family, run folder, export folder): the stand-in fine-tuned by `edgeqa finetune` (LoRA,
    two steps) and exported by `edgeqa export --quant q4_k_m --ollama --lora-gguf`."""
    family = request.param
    runs = tmp_path_factory.mktemp(f"{family}-runs")
    trained = run_cli("finetune", *tiny_cli_args(standin(family), runs, family))
    assert trained.returncode == 0, trained.stderr
    out = tmp_path_factory.mktemp(f"{family}-export") / "export"
    export = run_cli(
        "export", str(runs / family), "--quant", "q4_k_m", "--out", str(out), "--ollama", "--lora-gguf"
    )
    assert export.returncode == 0, export.stderr
    return family, runs / family, out


def test_the_export_carries_the_familys_template_tokens_and_date(exported):
    family, _, out = exported
    manifest = json.loads((out / f"{family}.manifest.json").read_text())
    assert {f["quant"] for f in manifest["files"]} == {"f16", "q4_k_m"}
    assert manifest["verification"]["hf_vs_f16"]["top1_agreement"] >= 0.75
    for entry in manifest["files"]:
        metadata = read_gguf_header(out / entry["file"]).metadata
        assert metadata["tokenizer.chat_template"] and metadata["tokenizer.ggml.add_bos_token"] is True
        assert metadata.get(TEMPLATE_DATE_KEY) == (TEMPLATE_DATE if family == "llama3" else None)
    modelfile = (out / f"{family}.Modelfile").read_text()
    assert modelfile.startswith(f"FROM ./{family}-Q4_K_M.gguf\n")
    stops = [line.split('"')[1] for line in modelfile.splitlines() if line.startswith("PARAMETER stop")]
    assert stops == STOPS[family]
    if family == "llama3":  # Ollama asks with the date the model was trained with, not today's
        assert f"Today Date: {TEMPLATE_DATE}\n" in modelfile and "<|begin_of_text|>" not in modelfile


@pytest.mark.parametrize("which", ["Q4_K_M", "LoRA"])
def test_eval_scores_the_q4_k_m_and_the_lora_gguf(exported, which, tmp_path):
    family, _, out = exported
    model = out / (f"{family}-Q4_K_M.gguf" if which == "Q4_K_M" else f"{family}-LoRA-F32.gguf")
    assert model.is_file(), sorted(p.name for p in out.iterdir())
    args = ["eval", "--model", str(model), "--data", str(ASSETS / "squad_v2_tiny.json"), "--limit", "4"]
    result = run_cli(*args, "--max-answer-tokens", "4", "--out", str(tmp_path / "eval"), "--quiet")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["official"]["total"] == 4 and 0 <= metrics["official"]["f1"] <= 100


def test_the_reader_gives_spans_of_the_context(exported):
    """The span constraint and the abstention on this family's vocabulary (128K for Llama 3)."""
    from edgeqa import Reader

    family, _, out = exported
    context = "The Normans gave their name to Normandy, a region in France, in the 10th century."
    with Reader(model=str(out / f"{family}-F16.gguf"), threads=1) as reader:
        answers = reader.answer("Where is Normandy?", context, top_k=3)
    assert answers and all(0 <= a.score <= 1 for a in answers)
    for answer in answers:
        if answer.text:
            assert context[answer.start : answer.end] == answer.text
        else:  # the abstention comes last, with its best guesses
            assert answer is answers[-1]


def test_serve_answers_over_http(exported):
    import urllib.request

    family, _, out = exported
    with edgeqa_server("--model", str(out / f"{family}-Q4_K_M.gguf"), "--threads", "1") as base:
        body = {"question": "Where is Normandy?", "context": "Normandy is a region in France."}
        request = urllib.request.Request(
            base + "/v1/answer", json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            reply = json.loads(response.read())
    assert reply["model"] and "timings" in reply
    assert reply["abstained"] or body["context"][reply["start"] : reply["end"]] == reply["text"]


def test_profile_measures_the_q4_k_m(exported, tmp_path):
    family, _, out = exported
    args = ["--model", str(out / f"{family}-Q4_K_M.gguf"), "--questions", "2", "--repeats", "1"]
    args += ["--warmup", "0", "--threads", "1", "--max-answer-tokens", "4", "--out", str(tmp_path)]
    result = run_cli("profile", *args)
    assert result.returncode == 0, result.stderr
    (record,) = json.loads((tmp_path / "profile.json").read_text())["configurations"]
    assert record["status"] == "ok"


@pytest.mark.parametrize("family", FAMILIES)
def test_qlora_configures_a_4bit_base_of_the_family(standin, family, tmp_path):
    pytest.importorskip("bitsandbytes", reason="bitsandbytes is not installed (the qlora extra)")
    from bitsandbytes.nn import Linear4bit

    from edgeqa.finetune.backends import build_hf
    from edgeqa.models.base_model import resolve_base
    from tests.helpers import tiny_config

    config = tiny_config(standin(family), tmp_path, "qlora", method="qlora", max_steps=1)
    model, _ = build_hf(config, resolve_base(str(standin(family))))
    quantized = [m for m in model.modules() if isinstance(m, Linear4bit)]
    assert len(quantized) == 2 * 7 and all(m.weight.quant_type == "nf4" for m in quantized)
    assert any("lora_A" in n for n, _ in model.named_parameters())


def test_longctx_runs_the_llama3_rope_beyond_the_trained_context(standin_gguf, tmp_path):
    """The stand-in's own `llama3` scaling (setting none), linear and YaRN at twice its context."""
    grid = tmp_path / "grid.yaml"
    grid.write_text(
        "settings:\n  - {method: none}\n  - {method: linear, factor: 2}\n  - {method: yarn, factor: 2}\n"
    )
    args = ["longctx", "--model", str(standin_gguf("llama3")), "--ctx", "4096", "--grid", str(grid)]
    result = run_cli(*args, "--depths", "none", "--threads", "1", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out" / "longctx.json").read_text())
    assert report["trained_ctx"] == 2048
    assert {r["setting"]: r["status"] for r in report["configurations"]} == {
        "none": "ok",
        "linear x2": "ok",
        "yarn x2": "ok",
    }
    assert all(r["perplexity"] > 1 for r in report["configurations"])


def test_the_pipeline_runs_on_a_llama3_base(standin, tmp_path, monkeypatch):
    """The whole story on a Llama 3 base (its stages are those above; TinyLlama's too)."""
    from edgeqa.pipeline.run import run_pipeline
    from edgeqa.pipeline.settings import PipelineSettings
    from tests.helpers import tiny_config

    monkeypatch.chdir(tmp_path)
    config = tiny_config(standin("llama3"), tmp_path / "models", "llama3-pipeline")
    fast = {"eval_limit": 4, "max_answer_tokens": 4, "profile_questions": 2, "transformers_baseline": False}
    settings = PipelineSettings(**fast, report_dir=str(tmp_path / "reports"), references=())
    text = run_pipeline(config, settings, show_progress=False).read_text()
    for row in ("fine-tuned f16", "fine-tuned q4_k_m"):
        assert row in text
    assert "## Latency and memory on this CPU" in text
