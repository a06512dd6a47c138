from pathlib import Path

import pytest

ASSETS = Path(__file__).parent / "assets"


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
