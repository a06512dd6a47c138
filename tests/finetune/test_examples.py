import pytest

from edgeqa.data.squad import load_squad
from edgeqa.finetune.examples import IGNORE_INDEX, encode_example, encode_examples
from edgeqa.prompts import ABSTAIN


@pytest.fixture(scope="module")
def tokenizer(embedded_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(embedded_model.parent), gguf_file=embedded_model.name)


def test_loss_only_on_the_answer_and_the_end_of_turn(tokenizer, squad_tiny):
    example = next(e for e in load_squad(squad_tiny) if e.answers)
    encoded = encode_example(tokenizer, example)
    targets = [t for t in encoded.labels if t != IGNORE_INDEX]
    assert tokenizer.convert_ids_to_tokens(targets[-1]) == "<|im_end|>"  # what the template ends a turn with
    assert tokenizer.decode(targets[:-1]) == example.answers[0]
    first = encoded.labels.index(targets[0])
    assert all(label == IGNORE_INDEX for label in encoded.labels[:first])
    assert encoded.input_ids[first:] == targets


def test_unanswerable_questions_train_the_abstention(tokenizer, squad_tiny):
    example = next(e for e in load_squad(squad_tiny) if not e.answers)
    encoded = encode_example(tokenizer, example)
    targets = [t for t in encoded.labels if t != IGNORE_INDEX]
    assert tokenizer.decode(targets[:-1]) == ABSTAIN


@pytest.mark.parametrize("layout", ["context-first", "question-first"])
def test_training_prompt_equals_the_llama_cpp_prompt(
    tokenizer, squad_tiny, embedded_model, question_first_gguf, layout
):
    """No train/eval drift: the tokens trained on are the tokens llama.cpp is given at eval, in
    the layout the GGUF says the model was trained with."""
    from edgeqa.runtime.engine import QAEngine
    from edgeqa.runtime.engine_config import EngineConfig

    example = load_squad(squad_tiny)[0]
    encoded = encode_example(tokenizer, example, layout)
    prompt_length = encoded.labels.index(next(t for t in encoded.labels if t != IGNORE_INDEX))
    model = question_first_gguf if layout == "question-first" else embedded_model
    with QAEngine(model, EngineConfig(n_ctx=1024, parallel=1)) as engine:
        runtime_prompt = engine.qa_prompt(example.context, example.question)
    assert encoded.input_ids[:prompt_length] == runtime_prompt


def test_examples_longer_than_max_length_are_left_out_and_counted(tokenizer, squad_tiny):
    examples = load_squad(squad_tiny)
    kept, dropped = encode_examples(tokenizer, examples, max_length=200)
    assert dropped > 0 and len(kept) + dropped == len(examples)
    assert all(len(e.input_ids) <= 200 for e in kept)


def test_conversations_train_on_every_assistant_turn_only(tokenizer):
    from edgeqa.data.instructions import load_conversations, read_records
    from edgeqa.finetune.examples import encode_conversation
    from tests.conftest import ASSETS

    source = str(ASSETS / "sharegpt_tiny.jsonl")
    conversation = load_conversations(read_records(source), source, "sharegpt")[1]
    encoded = encode_conversation(tokenizer, conversation)
    eos = tokenizer.eos_token_id
    runs, current = [], []  # the target tokens, as contiguous runs
    for label in encoded.labels:
        if label != IGNORE_INDEX:
            current.append(label)
        elif current:
            runs, current = [*runs, current], []
    runs += [current] if current else []
    assert [tokenizer.decode(run[:-1]) for run in runs] == ["Tokyo.", "Rome."]
    assert all(run[-1] == eos for run in runs)
    rendered = tokenizer.apply_chat_template(list(conversation.messages), tokenize=False)
    assert tokenizer.decode(encoded.input_ids) == rendered  # the model sees exactly its template


def test_finetune_runs_on_instruction_data(tiny_llama_dir, tmp_path):
    """A real training run on Alpaca records through the CLI; run.json records the format."""
    import json

    from tests.conftest import ASSETS
    from tests.helpers import run_cli, tiny_cli_args

    args = tiny_cli_args(tiny_llama_dir, tmp_path, "alpaca", data=str(ASSETS / "alpaca_tiny.json"))
    result = run_cli("finetune", *args)
    assert result.returncode == 0, result.stderr
    assert "alpaca conversations" in result.stdout
    run = json.loads((tmp_path / "alpaca" / "run.json").read_text())
    assert run["data"]["format"] == "alpaca" and run["data"]["train_conversations"] == 6
    assert run["metrics"]["steps"] == 2
    assert (tmp_path / "alpaca" / "adapter" / "adapter_config.json").is_file()


def test_the_end_of_turn_comes_from_the_chat_template_not_the_eos_setting(embedded_model):
    """transformers 5.17 reads SmolLM2's EOS from the GGUF as <|im_start|>; a model trained to
    end its answers with that never stops under llama.cpp (seen on a GPU run). The template's
    own end of turn is what the targets must end with, whatever EOS says."""
    from transformers import AutoTokenizer

    from edgeqa.models.chat_tokens import end_of_turn_id

    misread = AutoTokenizer.from_pretrained(str(embedded_model.parent), gguf_file=embedded_model.name)
    misread.eos_token = "<|im_start|>"
    assert misread.convert_ids_to_tokens(end_of_turn_id(misread)) == "<|im_end|>"
