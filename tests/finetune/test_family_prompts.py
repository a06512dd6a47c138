"""No train/eval drift on the Llama families: the tokens finetune trains on are the tokens llama.cpp
is given after the GGUF round trip (Llama 3's date in the system header, Llama 2's [INST], TinyLlama's
template without BOS), and the reply ends on the family's own end-of-turn token."""

import shutil

import pytest

from edgeqa.data.squad import load_squad
from edgeqa.finetune.examples import IGNORE_INDEX, encode_example
from edgeqa.prompts import TEMPLATE_DATE, TEMPLATE_DATE_KEY

END_OF_TURN = {"llama3": "<|eot_id|>", "llama2": "</s>", "tinyllama": "</s>"}


def _training_prompt(tokenizer, example) -> list[int]:
    encoded = encode_example(tokenizer, example)
    first_target = next(i for i, label in enumerate(encoded.labels) if label != IGNORE_INDEX)
    return encoded.input_ids[:first_target]


def _runtime_prompt(gguf, example) -> list[int]:
    from edgeqa.runtime.engine import QAEngine
    from edgeqa.runtime.engine_config import EngineConfig

    with QAEngine(gguf, EngineConfig(n_ctx=1024, parallel=1)) as engine:
        return engine.qa_prompt(example.context, example.question)


@pytest.mark.parametrize("family", sorted(END_OF_TURN))
def test_the_training_prompt_is_the_llama_cpp_prompt(standin, standin_gguf, squad_tiny, family):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(standin(family))
    examples = load_squad(squad_tiny)
    for example in (examples[0], next(e for e in examples if not e.answers)):
        trained = _training_prompt(tokenizer, example)
        assert trained == _runtime_prompt(standin_gguf(family), example)
        assert trained[0] == tokenizer.bos_token_id and trained.count(tokenizer.bos_token_id) == 1
        targets = [t for t in encode_example(tokenizer, example).labels if t != IGNORE_INDEX]
        assert tokenizer.convert_ids_to_tokens(targets[-1]) == END_OF_TURN[family]
    if family == "llama3":
        assert f"Today Date: {TEMPLATE_DATE}" in tokenizer.decode(trained)


def test_a_model_asked_with_another_date_than_it_learnt_is_caught(
    standin, standin_gguf, squad_tiny, tmp_path
):
    """The drift the fixed date prevents, shown failing: a GGUF whose record says another date
    gets another prompt than training rendered."""
    from transformers import AutoTokenizer

    from edgeqa.export.gguf_metadata import add_string_metadata

    example = load_squad(squad_tiny)[0]
    other_day = shutil.copy(standin_gguf("llama3"), tmp_path / "other-day.gguf")
    add_string_metadata(other_day, {TEMPLATE_DATE_KEY: "8 Dec 2026"})
    trained = _training_prompt(AutoTokenizer.from_pretrained(standin("llama3")), example)
    assert _runtime_prompt(other_day, example) != trained
