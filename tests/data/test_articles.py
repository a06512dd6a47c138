"""Document-level SQuAD: every question asked against its whole article."""

from edgeqa.data.squad import as_articles, load_squad


def test_each_question_gets_its_article_and_its_answer_offsets_move_with_it(squad_tiny):
    examples = load_squad(squad_tiny)
    articles = as_articles(examples)
    assert [e.qid for e in articles] == [e.qid for e in examples]
    for example, moved in zip(examples, articles, strict=True):
        assert example.context in moved.context
        assert all(e.title != example.title or e.context in moved.context for e in examples)
        for start, answer in zip(moved.answer_starts, moved.answers, strict=True):
            assert moved.context[start : start + len(answer)] == answer
    titles = {e.title for e in examples}
    assert len({e.context for e in articles}) == len(titles)
