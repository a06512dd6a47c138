import pytest
import torch

from edgeqa.data.squad import load_squad
from edgeqa.finetune.examples import IGNORE_INDEX, TrainingExample
from tests.conftest import ASSETS


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_llama_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=4, target_modules=["q_proj", "v_proj"]))
    return peft_model, AutoTokenizer.from_pretrained(tiny_llama_dir)


@pytest.fixture(scope="module")
def paragraph():
    """The questions of one paragraph plus one of another paragraph: two packs."""
    examples = load_squad(ASSETS / "squad_v2_tiny.json")
    first = [e for e in examples if e.context == examples[0].context]
    other = next(e for e in examples if e.context != examples[0].context)
    return [*first, other]


def test_packs_share_the_prefix_and_keep_every_answer(model_and_tokenizer, paragraph):
    from edgeqa.finetune.examples import encode_example
    from edgeqa.finetune.packing import encode_packed

    _, tokenizer = model_and_tokenizer
    packs, questions, dropped = encode_packed(tokenizer, paragraph, 4096, "context-first")
    singles = [encode_example(tokenizer, e) for e in paragraph]
    assert (questions, dropped, len(packs)) == (len(paragraph), 0, 2)
    packed, alone = packs
    assert packed.questions == len(paragraph) - 1 and alone == singles[-1]
    assert sum(e.target_tokens for e in singles) == packed.target_tokens + alone.target_tokens
    assert packed.answers == len(paragraph) - 1
    shared = packed.segments.count(0)
    assert shared > 100 and packed.input_ids[:shared] == singles[0].input_ids[:shared]
    assert all(label == IGNORE_INDEX for label in packed.labels[:shared])
    assert len(packed.input_ids) < sum(len(e.input_ids) for e in singles[:-1]) - shared
    # each question's tokens sit at the positions they would have alone
    second = [i for i, s in enumerate(packed.segments) if s == 2]
    assert [packed.positions[i] for i in second] == list(range(shared, len(singles[1].input_ids)))
    assert [packed.input_ids[i] for i in second] == singles[1].input_ids[shared:]


def test_a_pack_never_exceeds_max_length(model_and_tokenizer, paragraph):
    from edgeqa.finetune.packing import encode_packed

    _, tokenizer = model_and_tokenizer
    full, _, _ = encode_packed(tokenizer, paragraph, 4096, "context-first")
    limit = len(full[0].input_ids) - 1
    packs, questions, _ = encode_packed(tokenizer, paragraph, limit, "context-first")
    assert len(packs) == 3 and all(len(p.input_ids) <= limit for p in packs)
    assert sum(p.questions for p in packs) == questions == len(paragraph)


def test_packed_loss_equals_the_loss_of_the_questions_alone(model_and_tokenizer, paragraph):
    from edgeqa.finetune.examples import encode_example
    from edgeqa.finetune.loss import answer_loss_sum, collate, weighted_target_tokens
    from edgeqa.finetune.packing import encode_packed

    model, tokenizer = model_and_tokenizer
    packs, _, _ = encode_packed(tokenizer, paragraph, 4096, "context-first")
    singles = [encode_example(tokenizer, e) for e in paragraph]
    with torch.no_grad():
        packed_loss, packed_weight = answer_loss_sum(model, collate(packs, 0), decision_weight=3.0)
        alone_loss, alone_weight = answer_loss_sum(model, collate(singles, 0), decision_weight=3.0)
    assert packed_weight == alone_weight == sum(weighted_target_tokens(p, 3.0) for p in packs)
    assert float(packed_loss) == pytest.approx(float(alone_loss), rel=1e-4)


def _example(prefix: list[int], own: int, answer: int) -> TrainingExample:
    ids = prefix + list(range(1000 + own, 1000 + own + answer + 3))
    return TrainingExample(ids, [IGNORE_INDEX] * (len(ids) - answer) + ids[-answer:])


@pytest.mark.parametrize("limit", range(20, 80, 7))
def test_every_pack_is_as_full_as_the_limit_allows(limit):
    """The running length matches the real pack: each pack fits, and the next question of its
    paragraph would not have fitted."""
    from edgeqa.finetune.packing import pack, pack_by_context

    shared = list(range(12))
    group = [_example(shared[: 12 - (i % 3)], 10 * i, 2 + i % 4) for i in range(9)]
    packs = pack_by_context(group, ["p"] * len(group), limit)
    assert all(len(p.input_ids) <= limit for p in packs)
    assert sum(p.questions for p in packs) == len(group)
    start = 0
    for packed in packs[:-1]:
        start += packed.questions
        assert len(pack(group[start - packed.questions : start + 1]).input_ids) > limit
