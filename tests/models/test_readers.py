"""The reader shipped inside edgeqa: a LoRA GGUF that llama.cpp applies to the embedded model."""

import json

import numpy as np
import pytest

from edgeqa.errors import EdgeQAError
from edgeqa.models.gguf_info import read_gguf_info
from edgeqa.models.registry import READERS_DIR, discover_models, embedded_model_path, resolve_model
from tests.helpers import run_cli

pytestmark = pytest.mark.slow  # every test here runs the CLI in a process or loads a model

NAME = "smollm2-135m-squad"


def test_the_name_resolves_to_a_small_lora_for_the_embedded_model():
    path = resolve_model(NAME)
    info = read_gguf_info(path)
    assert info.is_adapter and info.adapter_base == "embedded"
    assert path.stat().st_size <= 25 * 2**20
    assert discover_models()[0] == path  # the demo opens on it


def test_its_provenance_names_the_data_and_the_recipe():
    provenance = json.loads((READERS_DIR / f"{NAME}.provenance.json").read_text())
    sources = provenance["data"]["sources"]
    assert sources and all(len(s["sha256"]) == 64 for s in sources)
    assert provenance["recipe"]["negatives"] and provenance["recipe"]["pack_questions"]
    calibration = json.loads((READERS_DIR / f"{NAME}-LoRA.calibration.json").read_text())
    assert calibration  # the threshold `--na-threshold auto` finds


def test_the_engine_applies_the_lora_to_the_embedded_base():
    from edgeqa.runtime.engine import QAEngine

    with QAEngine(resolve_model(NAME)) as reader, QAEngine(embedded_model_path()) as base:
        assert reader.session.info.path == embedded_model_path() and reader.session.adapter is not None
        prompt = reader.qa_prompt("The Normans lived in Normandy, in France.", "Where did the Normans live?")
        assert np.abs(reader.next_token_logits(prompt) - base.next_token_logits(prompt)).max() > 1.0


def test_eval_by_name_answers_better_than_the_base(tmp_path, squad_tiny):
    scores = {}
    for model in (NAME, "embedded"):
        out = tmp_path / model
        args = ["eval", "--model", model, "--data", str(squad_tiny), "--limit", "12", "--seed", "1"]
        result = run_cli(*args, "--max-answer-tokens", "16", "--out", str(out), "--quiet")
        assert result.returncode == 0, result.stderr
        scores[model] = json.loads((out / "metrics.json").read_text())["official"]["f1"]
    assert scores[NAME] > scores["embedded"] + 10


def test_a_lora_without_a_base_is_one_line(tmp_path):
    from edgeqa.export.gguf_metadata import add_string_metadata
    from edgeqa.models.gguf_info import LORA_BASE_KEY
    from edgeqa.runtime.engine import QAEngine

    bare = tmp_path / "bare.gguf"
    bare.write_bytes(resolve_model(NAME).read_bytes())
    add_string_metadata(bare, {LORA_BASE_KEY: "missing-base.gguf"})
    with pytest.raises(EdgeQAError, match=r"its base .missing-base\.gguf. is neither"):
        QAEngine(bare)
