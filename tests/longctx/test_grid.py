import pytest

from edgeqa.errors import EdgeQAError
from edgeqa.longctx.grid import PRESET, build_setting, load_grid


def _build(entry):
    return build_setting(entry, trained_ctx=8192, freq_base=100_000.0, rope_dims=64)


def test_methods_become_llama_cpp_load_options():
    assert _build({"method": "none"}).rope.scaling == "none"
    linear = _build({"method": "linear", "factor": 4})
    assert linear.rope.scaling == "linear" and linear.rope.freq_scale == 0.25 and linear.name == "linear x4"
    yarn = _build({"method": "yarn", "factor": 2})
    assert yarn.rope.scaling == "yarn" and yarn.rope.freq_scale == 0.5 and yarn.rope.yarn_orig_ctx == 8192
    ntk = _build({"method": "ntk", "factor": 2})
    assert ntk.rope.scaling == "none" and ntk.rope.freq_base == pytest.approx(100_000 * 2 ** (64 / 62))


def test_an_entry_can_be_limited_to_some_lengths():
    limited = _build({"method": "yarn", "factor": 4, "contexts": [32768]})
    assert limited.runs_at(32768) and not limited.runs_at(8192)
    assert _build({"method": "none"}).runs_at(8192)


def test_raw_options_override_a_method():
    custom = _build(
        {"name": "yarn-sharp", "method": "yarn", "factor": 2, "yarn_beta_fast": 64, "yarn_attn_factor": 1.1}
    )
    assert (
        custom.name == "yarn-sharp"
        and custom.rope.yarn_beta_fast == 64
        and custom.rope.yarn_attn_factor == 1.1
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"method": "llama3"}, "cannot be set when llama.cpp loads a GGUF"),
        ({"method": "dynamic-ntk"}, "llama.cpp fixes it at load"),
        ({"method": "rope-magic"}, "unknown method"),
        ({"method": "linear", "factor": 0.5}, "at least 1"),
        ({"method": "linear", "scale": 2}, "unknown option 'scale'"),
    ],
)
def test_bad_entries_are_explained(entry, message):
    with pytest.raises(EdgeQAError, match=message):
        _build(entry)


def test_grid_file_or_preset(tmp_path):
    assert load_grid(None) == PRESET
    grid = tmp_path / "grid.yaml"
    grid.write_text("settings:\n  - {method: yarn, factor: 2}\n")
    assert load_grid(grid) == [{"method": "yarn", "factor": 2}]
    grid.write_text("- method: yarn\n")
    with pytest.raises(EdgeQAError, match="expected `settings:`"):
        load_grid(grid)
