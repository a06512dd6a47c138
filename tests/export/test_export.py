"""Export end to end on a tiny random Llama: finetune -> merge -> convert -> quantize -> verify."""

import json

import pytest

from edgeqa.export.imatrix import read_imatrix
from edgeqa.models.gguf_info import read_gguf_info
from tests.helpers import run_cli, run_in_process, tiny_config


@pytest.fixture(scope="module")
def tiny_run(tiny_llama_dir, tmp_path_factory):
    from edgeqa.finetune.run import run_finetune

    # trained with the non-default prompt layout, which the export must carry into every GGUF
    config = tiny_config(
        tiny_llama_dir, tmp_path_factory.mktemp("runs"), "tiny", prompt_layout="question-first"
    )
    return run_finetune(config, show_progress=False)


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    """One export with every option (two quants, Ollama, a LoRA GGUF), shared by the tests below:
    each export of even the tiny model costs half a minute (merge, convert, verify)."""
    out = tmp_path_factory.mktemp("exported") / "export"
    result = run_cli(
        "export", str(tiny_run), "--quant", "q8_0,q4_0", "--out", str(out), "--ollama", "--lora-gguf"
    )
    assert result.returncode == 0, result.stderr
    return out, json.loads((out / "tiny.manifest.json").read_text())


def test_export_run_folder_to_f16_and_q8_0(exported, tiny_run):
    out, manifest = exported
    names = {f["file"] for f in manifest["files"]}
    assert names == {"tiny-F16.gguf", "tiny-Q8_0.gguf", "tiny-Q4_0.gguf"}
    for entry in manifest["files"]:
        assert (out / entry["file"]).stat().st_size == entry["size_bytes"]
        assert len(entry["sha256"]) == 64 and entry["chat_template"]
        assert entry["perplexity"] > 1
        assert read_gguf_info(out / entry["file"]).prompt_layout == "question-first"
    assert manifest["source"]["prompt_layout"] == "question-first"
    check = manifest["verification"]["hf_vs_f16"]
    assert check["top1_agreement"] >= 0.75 and check["max_logit_diff"] < 0.5
    assert manifest["source"]["adapter"].endswith("adapter")
    modelfile = (out / "tiny.Modelfile").read_text()
    assert modelfile.startswith("FROM ./tiny-Q4_0.gguf")
    assert 'PARAMETER stop "<|im_end|>"' in modelfile and "<|im_start|>assistant\n" in modelfile
    imatrix = manifest["imatrix"]  # the default: a matrix from the run's own training questions
    assert imatrix["source"] == "auto" and imatrix["dataset"] == "training questions of tiny"
    assert read_imatrix(out / imatrix["file"]).tokens == imatrix["tokens"] > 0
    for entry in manifest["files"]:
        if entry["quant"] != "f16":
            kl = entry["kl_divergence"]
            assert kl["mean"] >= 0 and kl["p99"] >= kl["median"] and 0 < kl["top1_agreement"] <= 1
            assert entry["quantized_with"]["imatrix"] == "auto:8192"
    assert manifest["verification"]["kl_tokens"] > 0
    assert not [p for p in out.iterdir() if p.name.startswith(".")]

    again = run_cli("export", str(tiny_run), "--quant", "q8_0,q4_0", "--out", str(out), "--no-verify")
    assert again.returncode == 0, again.stderr
    assert "tiny-F16.gguf is up to date" in again.stdout and "quantizing" not in again.stdout


def test_exported_model_runs_in_eval(exported, tmp_path, squad_tiny):
    out, _ = exported
    result = run_cli(
        "eval",
        "--model",
        str(out / "tiny-Q8_0.gguf"),
        "--data",
        str(squad_tiny),
        "--limit",
        "4",
        "--max-answer-tokens",
        "4",
        "--out",
        str(tmp_path / "eval"),
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["official"]["total"] == 4


def test_export_bad_input(tmp_path, tiny_run, tiny_llama_dir, capsys):
    cases = [
        (["export", str(tmp_path)], "no run.json"),
        (["export", str(tiny_run), "--quant", "q4_z"], "unknown type 'q4_z'"),
        (["export", "--base", str(tiny_llama_dir), "--adapter", str(tmp_path)], "not a PEFT adapter folder"),
        (["export"], "needs a run folder"),
        (["export", str(tiny_run), "--quant", "iq2_xs", "--imatrix", "none"], "needs an importance matrix"),
        (["export", str(tiny_run), "--imatrix", str(tmp_path / "no.imatrix")], "no such file"),
        (["export", str(tiny_run), "--tensor-type", "attn_v"], "expected PATTERN=TYPE"),
        (
            ["export", "--base", "embedded", "--adapter", str(tiny_run / "adapter")],
            "adapter does not fit base",
        ),
    ]
    for args, message in cases:
        code, stderr = run_in_process(capsys, *args, "--out", str(tmp_path / "o"))
        assert code == 1, (args, stderr)
        assert message in stderr.strip().splitlines()[-1], stderr


def test_an_out_file_and_a_foreign_imatrix_are_refused_before_any_model_loads(tmp_path, tiny_run, capsys):
    existing = tmp_path / "results.txt"
    existing.write_text("keep me")
    code, stderr = run_in_process(capsys, "export", str(tiny_run), "--out", str(existing))
    assert code == 1 and "is a file, not a folder" in stderr and "Traceback" not in stderr
    assert existing.read_text() == "keep me"
    foreign = tmp_path / "notes.dat"
    foreign.write_bytes(b"\x01\x00\x00\x00not an importance matrix")
    code, captured = run_capturing(
        capsys, "export", str(tiny_run), "--imatrix", str(foreign), "--out", str(tmp_path / "o")
    )
    assert code == 1 and "not an imatrix" in captured.err
    assert "merging" not in captured.out  # refused before the merge


def test_lora_gguf_applied_at_load_time_matches_the_merge(exported):
    out, manifest = exported
    assert (out / manifest["lora_gguf"]["adapter"]["file"]).is_file()
    check = manifest["verification"]["lora_gguf_vs_merged"]
    assert check["top1_agreement"] == 1.0
    assert check["max_logit_diff"] < 0.1 * check["base_without_lora_max_logit_diff"]


def test_the_lora_gguf_is_a_model_of_its_own_in_the_engine(exported):
    """`--model <adapter>.gguf` loads its base (named in the adapter) with the LoRA applied."""
    import numpy as np

    from edgeqa.runtime.engine import QAEngine

    out, manifest = exported
    adapter = out / manifest["lora_gguf"]["adapter"]["file"]
    base = out / manifest["lora_gguf"]["base"]["file"]
    merged = out / next(f["file"] for f in manifest["files"] if f["quant"] == "f16")
    with QAEngine(adapter) as with_lora, QAEngine(merged) as reference, QAEngine(base) as bare:
        assert with_lora.session.info.path == base and with_lora.session.adapter.path == adapter
        assert with_lora.session.info.prompt_layout == "question-first"  # the layout it was trained with
        prompt = with_lora.qa_prompt("Normandy is a region in France.", "Where is Normandy?")
        lora, merge, plain = (e.next_token_logits(prompt) for e in (with_lora, reference, bare))
    assert np.abs(lora - merge).max() < 0.1 * np.abs(plain - merge).max()


def run_capturing(capsys, *args: str):
    """(exit code, captured out and err) of `edgeqa ARGS` in this process."""
    from edgeqa.cli import main

    capsys.readouterr()
    code = main(list(args))
    return code, capsys.readouterr()


def test_a_disk_too_small_is_found_before_the_merge(tmp_path, tiny_run, capsys, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(2**30, 2**30 - 4096, 4096))
    code, captured = run_capturing(capsys, "export", str(tiny_run), "--out", str(tmp_path / "o"))
    assert code == 1 and "0.0 GiB free, the export needs about" in captured.err
    assert "merging" not in captured.out  # found before the merge


def test_every_export_of_a_source_is_scored_on_the_same_held_out_text(exported, tiny_run, tmp_path, capsys):
    _, with_matrix = exported
    code, stderr = run_in_process(
        capsys, "export", str(tiny_run), "--quant", "q8_0", "--imatrix", "none", "--out", str(tmp_path)
    )
    assert code == 0, stderr
    without = json.loads((tmp_path / "tiny.manifest.json").read_text())
    assert without["imatrix"] == "none" and with_matrix["imatrix"]["source"] == "auto"
    for key in ("kl_tokens", "kl_text_sha256"):
        assert without["verification"][key] == with_matrix["verification"][key]
    # the same run converts to the same bytes (general.finetune once came from a random folder name)
    f16 = [next(f["sha256"] for f in m["files"] if f["quant"] == "f16") for m in (without, with_matrix)]
    assert f16[0] == f16[1]


def test_a_rerun_after_a_failed_quantization_keeps_the_finished_f16_and_matrix(
    tiny_run, tmp_path, capsys, monkeypatch
):
    import edgeqa.export.quantize as quantize
    from edgeqa.errors import EdgeQAError

    def full_disk(*args, **kwargs):
        raise EdgeQAError("llama.cpp could not quantize to q8_0: the disk is full")

    with monkeypatch.context() as patch:
        patch.setattr(quantize, "quantize_gguf", full_disk)
        code, first = run_capturing(
            capsys, "export", str(tiny_run), "--quant", "q8_0", "--no-verify", "--out", str(tmp_path)
        )
    assert code == 1 and "the disk is full" in first.err
    assert "converting to" in first.out and not (tmp_path / "tiny.manifest.json").exists()
    f16 = (tmp_path / "tiny-F16.gguf").read_bytes()
    code, second = run_capturing(
        capsys, "export", str(tiny_run), "--quant", "q8_0", "--no-verify", "--out", str(tmp_path)
    )
    assert code == 0, second.err
    assert "tiny-F16.gguf kept from the interrupted export (sha256 verified)" in second.out
    assert "importance matrix kept from the interrupted export" in second.out
    assert "converting to" not in second.out and (tmp_path / "tiny-F16.gguf").read_bytes() == f16
    (tmp_path / "tiny-F16.gguf").write_bytes(f16[:-1] + bytes([f16[-1] ^ 0xFF]))  # changed: not trusted
    (tmp_path / "tiny.manifest.json").unlink()
    code, third = run_capturing(
        capsys, "export", str(tiny_run), "--quant", "q8_0", "--no-verify", "--out", str(tmp_path)
    )
    assert code == 0 and "converting to" in third.out
