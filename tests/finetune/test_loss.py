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
    ids, mask, labels = collate(batch, pad_id=0)
    loss_sum, count = answer_loss_sum(peft_model, ids, mask, labels)
    reference = peft_model(input_ids=ids, attention_mask=mask, labels=labels).loss
    assert count == 3
    assert float(loss_sum / count) == pytest.approx(float(reference), rel=1e-5)
