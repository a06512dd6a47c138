"""The recipe levers: answerable rebalancing and NEFTune noise."""

import torch

from edgeqa.data.squad import QAExample
from edgeqa.finetune.recipe import add_neftune_noise, rebalance_answerable


def questions(answerable: int, unanswerable: int) -> list[QAExample]:
    kinds = [True] * answerable + [False] * unanswerable
    return [
        QAExample(qid=f"q{i}", title="t", context="c", question="?", answers=("a",) if has else ())
        for i, has in enumerate(kinds)
    ]


def share(examples):
    return sum(bool(e.answers) for e in examples) / len(examples)


def test_rebalance_samples_down_the_over_represented_kind():
    data = questions(40, 60)
    assert share(rebalance_answerable(data, 0.8, seed=0)) == 0.8  # 40 answerable + 10 unanswerable
    assert len(rebalance_answerable(data, 0.8, seed=0)) == 50
    assert share(rebalance_answerable(data, 0.2, seed=0)) == 0.2  # 15 answerable + 60 unanswerable
    assert rebalance_answerable(data, 0.0, seed=0) == data


def test_rebalance_is_seeded_and_keeps_the_order():
    data = questions(40, 60)
    first, again = rebalance_answerable(data, 0.7, seed=3), rebalance_answerable(data, 0.7, seed=3)
    assert first == again
    order = [data.index(e) for e in first]
    assert order == sorted(order)
    assert rebalance_answerable(data, 0.7, seed=4) != first


class Embedder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(10, 16)

    def get_input_embeddings(self):
        return self.embed


def test_neftune_adds_bounded_noise_only_while_training():
    model = Embedder()
    tokens = torch.arange(8).unsqueeze(0)
    clean = model.embed(tokens).detach()
    handle = add_neftune_noise(model, alpha=5.0)
    noisy = model.embed(tokens).detach()
    bound = 5.0 / (8 * 16) ** 0.5
    assert 0 < (noisy - clean).abs().max() <= bound
    model.eval()
    assert torch.equal(model.embed(tokens), clean)
    handle.remove()
    assert add_neftune_noise(model, alpha=0.0) is None
