"""Where each token of a text starts, the grid long documents are windowed on: exact for a
byte-level BPE (SmolLM2, Llama 3) and for SentencePiece, whose dummy space before the text
(Llama 2, TinyLlama) belongs to no character."""

import pytest

TEXT = "Normandy is a region in France.\n\nIts name comes from the Normans, who settled there in 911."


@pytest.mark.parametrize("family", ["embedded", "llama3", "tinyllama"])
def test_every_token_starts_where_its_text_is(family, embedded_model, standin_gguf):
    from edgeqa.runtime.engine import QAEngine
    from edgeqa.runtime.engine_config import EngineConfig

    model = embedded_model if family == "embedded" else standin_gguf(family)
    with QAEngine(model, EngineConfig(n_ctx=256, parallel=1)) as engine:
        tokens = engine.session.tokenize(TEXT, special=False)
        starts = engine.token_starts(TEXT)
        pieces = [engine.session.detokenize_bytes(t).decode("utf-8") for t in tokens]
    assert len(starts) == len(tokens) and starts[0] == 0 and starts == sorted(starts)
    for start, piece in zip(starts[1:], pieces[1:], strict=True):
        assert TEXT[start:].startswith(piece)
