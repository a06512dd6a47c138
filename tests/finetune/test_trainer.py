import itertools

import pytest

from edgeqa.finetune.config import FinetuneConfig
from edgeqa.finetune.trainer import lr_factor, micro_batch


def test_schedule_warms_up_then_decays_to_zero():
    config = FinetuneConfig(max_steps=100, warmup_steps=10, lr_schedule="cosine")
    factors = [lr_factor(step, config) for step in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert factors[10] == pytest.approx(1.0) and factors[-1] < 0.01
    assert all(a >= b for a, b in itertools.pairwise(factors[10:]))
    assert lr_factor(50, FinetuneConfig(lr_schedule="constant", warmup_steps=0)) == 1.0


def test_micro_batches_cover_each_epoch_once_and_are_reproducible():
    items = list(range(10))
    first_epoch = [x for i in range(5) for x in micro_batch(items, i, 2, seed=3)]
    assert sorted(first_epoch) == items
    assert micro_batch(items, 7, 2, seed=3) == micro_batch(items, 7, 2, seed=3)
    assert [micro_batch(items, i, 2, seed=3) for i in range(5)] != [
        micro_batch(items, i, 2, seed=3) for i in range(5, 10)
    ]
