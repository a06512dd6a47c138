from pathlib import Path

import pytest

from edgeqa.command_args import field_docs
from edgeqa.errors import EdgeQAError
from edgeqa.finetune.config import FinetuneConfig, load_config

PRESETS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_every_preset_loads(preset):
    assert isinstance(load_config(preset, {}), FinetuneConfig)


def test_presets_exist_for_cpu_and_gpu():
    names = {p.name for p in PRESETS}
    assert {"smollm2-135m-lora-cpu.yaml", "llama-3.2-1b-qlora.yaml", "llama-3.2-3b-qlora.yaml"} <= names


def test_flags_override_the_preset_which_overrides_defaults(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text("lora_r: 8\nlearning_rate: 1.0e-3\n")
    config = load_config(preset, {"lora_r": 32, "learning_rate": None})
    assert config.lora_r == 32 and config.learning_rate == 1e-3 and config.max_steps == 200


def test_unknown_key_is_an_error_naming_it(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text("lora_rank: 8\n")
    with pytest.raises(EdgeQAError, match="unknown option 'lora_rank'"):
        load_config(preset, {})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"backend": "tpu"}, "backend must be one of"),
        ({"split": (0.5, 0.5, 0.5)}, "sum to 1"),
        ({"lora_dropout": 1.5}, "lora_dropout"),
        ({"max_steps": 0}, "must be positive"),
        ({"context_window": -1}, "context_window must be >= 0"),
        ({"epochs": -1}, "epochs must be >= 0"),
        ({"decision_weight": 0}, "decision_weight must be positive"),
        ({"keep_adapter": "last"}, "keep_adapter must be best or final"),
        ({"prompt_layout": "answer-first"}, "prompt_layout must be one of context-first, question-first"),
    ],
)
def test_invalid_values_are_rejected(overrides, message):
    with pytest.raises(EdgeQAError, match=message):
        load_config(None, overrides)


def test_every_field_has_help_text():
    docs = field_docs(FinetuneConfig)
    assert set(docs) == set(FinetuneConfig.__dataclass_fields__)
    assert all(docs.values())


def test_max_steps_given_on_the_command_line_wins_over_a_presets_epochs(tmp_path):
    """`edgeqa pipeline --max-steps 3` on a preset with `epochs: 1` trains 3 steps, not an epoch."""
    preset = tmp_path / "p.yaml"
    preset.write_text("epochs: 1\nmax_steps: 50\n")
    assert load_config(preset, {}).epochs == 1
    flagged = load_config(preset, {"max_steps": 3})
    assert (flagged.epochs, flagged.max_steps) == (0, 3)
    both = load_config(preset, {"max_steps": 3, "epochs": 2})
    assert (both.epochs, both.max_steps) == (2, 3)
