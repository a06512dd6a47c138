import pytest
import torch


@pytest.fixture(scope="module")
def peft_model(tiny_llama_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32)
    return get_peft_model(model, LoraConfig(r=4, lora_alpha=4, target_modules=["q_proj", "v_proj"]))


def test_answer_only_loss_equals_the_full_logits_loss(peft_model):
    from edgeqa.finetune.examples import IGNORE_INDEX, TrainingExample
    from edgeqa.finetune.loss import answer_loss_sum, collate

    batch = [
        TrainingExample([5, 6, 7, 8, 9], [IGNORE_INDEX] * 3 + [8, 9]),
        TrainingExample([5, 6, 10], [IGNORE_INDEX, IGNORE_INDEX, 10]),
    ]
    ids, mask, labels, _ = collated = collate(batch, pad_id=0)
    loss_sum, count = answer_loss_sum(peft_model, collated)
    reference = peft_model(input_ids=ids, attention_mask=mask, labels=labels).loss
    assert count == 3
    assert float(loss_sum / count) == pytest.approx(float(reference), rel=1e-5)


def test_decision_weight_scales_each_examples_first_target_token(peft_model):
    from edgeqa.finetune.examples import IGNORE_INDEX, TrainingExample
    from edgeqa.finetune.loss import answer_loss_sum, collate, weighted_target_tokens

    batch = [
        TrainingExample([5, 6, 7, 8, 9], [IGNORE_INDEX] * 3 + [8, 9]),
        TrainingExample([5, 6, 10], [IGNORE_INDEX, IGNORE_INDEX, 10]),
    ]
    ids, mask, labels, _ = collated = collate(batch, pad_id=0)
    with torch.no_grad():
        logits = peft_model(input_ids=ids, attention_mask=mask).logits
    token_loss = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), reduction="none"
    ).reshape(2, -1)
    first_of_first, second_of_first, first_of_second = token_loss[0, 2], token_loss[0, 3], token_loss[1, 1]
    with torch.no_grad():
        loss_sum, weight_sum = answer_loss_sum(peft_model, collated, decision_weight=4.0)
    expected = 4 * first_of_first + second_of_first + 4 * first_of_second
    assert float(loss_sum) == pytest.approx(float(expected), rel=1e-5)
    assert weight_sum == 9.0 == sum(weighted_target_tokens(e, 4.0) for e in batch)
