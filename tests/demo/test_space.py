"""The Hugging Face Space: built with edgeqa's llama.cpp flags, and honest when the build is broken."""

import importlib.util
import re
from pathlib import Path

import pytest

pytest.importorskip("gradio", reason="the demo extra is not installed (pip install -e '.[demo]')")

REPO = Path(__file__).parents[2]
SPACE = REPO / "apps" / "space"


def _amx_flags(text: str) -> set[str]:
    return set(re.findall(r"-mno-amx-[a-z0-9]+", text))


def test_the_space_builds_llama_cpp_with_the_install_scripts_flags():
    dockerfile = (SPACE / "Dockerfile").read_text()
    install = (REPO / "scripts" / "install.sh").read_text()
    assert (
        _amx_flags(dockerfile) == _amx_flags(install) == {"-mno-amx-tile", "-mno-amx-int8", "-mno-amx-bf16"}
    )
    assert "--no-binary llama-cpp-python" in dockerfile
    assert "sdk: docker" in (SPACE / "README.md").read_text()


@pytest.fixture(scope="module")
def space_module():
    """apps/space/app.py as the Space runs it: the real smoke check, then the demo."""
    spec = importlib.util.spec_from_file_location("space_app", SPACE / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_working_build_starts_the_demo_on_the_reader(space_module):
    config = space_module.demo.config
    assert "smollm2-135m-squad" in str(config)  # the model picker opens on the shipped reader


def test_a_broken_build_says_so_in_the_page(space_module):
    def crashed(model):  # an AMX host's crash cannot be produced on this CPU
        return False, "llama.cpp crashed (signal 11) on a quantized model"

    page = space_module.build_space(crashed)
    text = str(page.config)
    assert "does not work on this CPU" in text and "signal 11" in text
