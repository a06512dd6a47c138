"""The recipe levers: answerable rebalancing, context cropping and NEFTune noise."""

import random

import torch

from edgeqa.data.squad import QAExample
from edgeqa.finetune.recipe import add_neftune_noise, crop_context, crop_contexts, rebalance_answerable


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


PARAGRAPH = " ".join(f"w{i}" for i in range(100))  # 100 distinct words


def with_answer(text: str, start: int | None = None) -> QAExample:
    starts = () if start is None else (start,)
    return QAExample("a", "t", PARAGRAPH, "?", (text, "other gold"), starts)


def test_crop_keeps_the_answer_at_its_new_offset_in_a_window_of_that_many_words():
    example = with_answer("w50 w51", PARAGRAPH.index("w50 "))
    places = set()
    for seed in range(20):
        cropped = crop_context(example, 10, random.Random(seed))
        assert len(cropped.context.split()) == 10 and cropped.context in PARAGRAPH
        start = cropped.answer_starts[0]
        assert cropped.context[start : start + len("w50 w51")] == "w50 w51"
        assert cropped.answers == ("w50 w51",)  # the other gold answers may lie outside
        places.add(cropped.context.split().index("w50"))
    assert len(places) > 3  # the answer lands anywhere in the window, not always mid-way


def test_crop_finds_the_answer_by_text_without_an_offset_and_is_seeded():
    example = with_answer("w99")
    first = crop_contexts([example], 8, seed=1)[0]
    assert first.context.endswith("w99") and len(first.context.split()) == 8
    assert first == crop_contexts([example], 8, seed=1)[0]


def test_unanswerable_questions_keep_their_plausible_answer_or_the_whole_paragraph():
    start = PARAGRAPH.index("w70 ")
    hard = QAExample("u", "t", PARAGRAPH, "?", (), (), (start, start + 3))
    cropped = crop_context(hard, 12, random.Random(0))
    begin, end = cropped.plausible_span
    assert cropped.context[begin:end] == "w70" and len(cropped.context.split()) == 12
    unmarked = QAExample("v", "t", PARAGRAPH, "?", ())
    assert crop_context(unmarked, 12, random.Random(0)) is unmarked


def test_crop_leaves_short_paragraphs_long_answers_and_a_zero_window_alone():
    example = with_answer("w10 w11 w12 w13", PARAGRAPH.index("w10 "))
    rng = random.Random(0)
    assert crop_context(example, 100, rng) is example
    assert crop_context(example, 3, rng) is example
    assert crop_contexts([example], 0, seed=0) == [example]
    assert crop_context(with_answer("not in it"), 5, rng).context == PARAGRAPH


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
