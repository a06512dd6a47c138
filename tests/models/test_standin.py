"""The Llama-family stand-ins: their shape, and tokenizer parity between transformers and llama.cpp
on llama.cpp's own tokenizer test strings and on SQuAD contexts."""

import json

import pytest

from edgeqa.errors import EdgeQAError
from tests.conftest import ASSETS

FAMILY_VOCAB = {"llama3": "llama-bpe", "llama2": "llama-spm", "tinyllama": "llama-spm"}


def _squad_texts() -> list[str]:
    """Contexts and questions of the tiny SQuAD set, plus text that trips tokenizers up."""
    data = json.loads((ASSETS / "squad_v2_tiny.json").read_text(encoding="utf-8"))["data"]
    texts = [p["context"] for article in data for p in article["paragraphs"]]
    texts += [q["question"] for article in data for p in article["paragraphs"] for q in p["qas"]]
    return [
        *texts,
        "Côte d'Ivoire, São Paulo, Zürich and Kraków",
        "東京は日本の首都です。北京是中国的首都。",
        "In 1,234.5 BC (or -1234), 3/4 of 10,000 \u201cquoted\u201d",
        "\u2018words\u2019 \u2014 and 'single' ones",
        "  two leading spaces,\ttabs\tand\n\nblank lines  ",
    ]


@pytest.fixture(scope="module", params=sorted(FAMILY_VOCAB))
def family(request):
    return request.param


def test_a_standin_has_its_familys_shape_and_special_tokens(standin, family):
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(standin(family))
    tokenizer = AutoTokenizer.from_pretrained(standin(family))
    if family == "llama3":
        assert config.vocab_size == len(tokenizer) == 128256 and config.tie_word_embeddings
        assert config.rope_parameters["rope_type"] == "llama3" and config.num_key_value_heads == 2
        assert tokenizer.bos_token == "<|begin_of_text|>" and tokenizer.eos_token == "<|eot_id|>"
        assert config.eos_token_id == tokenizer.convert_tokens_to_ids(
            ["<|end_of_text|>", "<|eom_id|>", "<|eot_id|>"]
        )
    else:
        assert config.vocab_size == len(tokenizer) == 32000 and not config.tie_word_embeddings
        assert (standin(family) / "tokenizer.model").is_file()  # SentencePiece, as hub repos ship it
        assert tokenizer("Hello")["input_ids"] == [1, 15043]  # BOS added, "▁Hello"
        assert config.num_key_value_heads == (4 if family == "llama2" else 2)


def test_the_hf_tokenizer_gives_the_original_ids_on_llama_cpps_test_strings(
    standin, tokenizer_sources, family
):
    """llama.cpp's .out files hold what the original tokenizers give; the stand-in must too."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(standin(family))
    cases = tokenizer_sources.test_cases(FAMILY_VOCAB[family])
    assert len(cases) > 40
    wrong = [text for text, ids in cases if tokenizer(text, add_special_tokens=False)["input_ids"] != ids]
    assert wrong == []


def test_llama_cpp_tokenizes_as_transformers_after_conversion(standin, standin_gguf, family):
    """The converted GGUF (pre-tokenizer recognised, byte fallback kept) against the HF tokenizer,
    on llama.cpp's test strings and SQuAD text with accents, CJK, numbers, quotes, spaces."""
    from llama_cpp import Llama
    from transformers import AutoTokenizer

    from edgeqa.models.tokenizer_sources import fetch_tokenizer_sources

    tokenizer = AutoTokenizer.from_pretrained(standin(family))
    texts = [text for text, _ in fetch_tokenizer_sources().test_cases(FAMILY_VOCAB[family])] + _squad_texts()
    llama = Llama(str(standin_gguf(family)), vocab_only=True, verbose=False)
    try:
        differ = [
            text
            for text in texts
            if llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)
            != tokenizer(text, add_special_tokens=False)["input_ids"]
        ]
    finally:
        llama.close()
    assert differ == []


def test_the_gguf_carries_the_template_and_special_tokens(standin_gguf, family):
    from edgeqa.models.gguf_header import read_gguf_header

    metadata = read_gguf_header(standin_gguf(family)).metadata
    assert metadata["tokenizer.chat_template"]
    assert metadata["tokenizer.ggml.add_bos_token"] is True
    if family == "llama3":
        assert metadata["tokenizer.ggml.pre"] == "llama-bpe"  # the converter recognised Llama 3
        assert metadata["tokenizer.ggml.bos_token_id"] == 128000
        assert metadata["tokenizer.ggml.eos_token_id"] == 128009  # <|eot_id|>: an Instruct model
    else:
        assert metadata["tokenizer.ggml.model"] == "llama"
        assert (metadata["tokenizer.ggml.bos_token_id"], metadata["tokenizer.ggml.eos_token_id"]) == (1, 2)


def test_a_standin_is_refused_over_a_folder_in_use_or_for_an_unknown_family(tmp_path, tokenizer_sources):
    from edgeqa.models.standin import build_standin

    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "config.json").write_text("{}")
    with pytest.raises(EdgeQAError, match="already exists and is not empty"):
        build_standin("llama3", tmp_path / "taken", sources=tokenizer_sources)
    with pytest.raises(
        EdgeQAError,
        match=r"unknown model family .mistral.; expected one of smollm2, llama3, llama2, tinyllama",
    ):
        build_standin("mistral", tmp_path / "new", sources=tokenizer_sources)
