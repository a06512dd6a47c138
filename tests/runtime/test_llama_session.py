"""The session under the engine: decode, clear and copy on the real embedded model (F16, so
results do not shift with the batch shape)."""

import numpy as np
import pytest

from edgeqa.errors import EdgeQAError
from edgeqa.runtime.engine_config import EngineConfig
from edgeqa.runtime.llama_session import PREFIX_SEQ, LlamaSession


@pytest.fixture(scope="module")
def session(embedded_f16):
    with LlamaSession(embedded_f16, EngineConfig(n_ctx=256, parallel=2)) as opened:
        yield opened


def test_decode_returns_logits_only_where_asked_and_a_copied_sequence_continues_alike(session):
    tokens = session.tokenize("The Normans gave their name to Normandy, a region in", special=False)
    session.clear()
    rows = session.decode_chunked(
        [(t, i, PREFIX_SEQ, i == len(tokens) - 1) for i, t in enumerate(tokens[:-1])]
    )
    assert rows == []  # no position asked for logits
    session.copy(PREFIX_SEQ, 1)
    (on_prefix,) = session.decode([(tokens[-1], len(tokens) - 1, PREFIX_SEQ, True)])
    (on_copy,) = session.decode([(tokens[-1], len(tokens) - 1, 1, True)])
    assert on_prefix.shape == (session.n_vocab,)
    assert np.allclose(on_prefix, on_copy, atol=1e-3)
    session.remove(1)
    session.clear()
    (fresh,) = session.decode([(tokens[0], 0, PREFIX_SEQ, True)])
    assert not np.allclose(fresh, on_prefix, atol=1e-3)  # the cache really was emptied


@pytest.mark.slow
def test_a_model_file_llama_cpp_cannot_load_is_one_line(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(EdgeQAError, match=r"broken\.gguf"):
        LlamaSession(broken, EngineConfig(n_ctx=64, parallel=1))
