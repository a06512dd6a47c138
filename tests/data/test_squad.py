import dataclasses
import json

import pytest

from edgeqa.data.squad import BUNDLED_SAMPLE, load_squad, select_examples
from edgeqa.errors import EdgeQAError


def test_official_json_keeps_document_order_and_unanswerables(squad_tiny):
    examples = load_squad(squad_tiny)
    assert len(examples) == 31
    assert examples[0].title == "Normans"
    assert any(e.is_impossible for e in examples) and any(not e.is_impossible for e in examples)
    answerable = next(e for e in examples if not e.is_impossible)
    start = answerable.answer_starts[0]
    assert answerable.context[start : start + len(answerable.answers[0])] == answerable.answers[0]


def test_jsonl_with_the_hub_columns_loads_the_same_questions(squad_tiny, tmp_path):
    examples = load_squad(squad_tiny)
    path = tmp_path / "q.jsonl"
    with path.open("w") as handle:
        for e in examples:
            row = {
                "id": e.qid,
                "title": e.title,
                "context": e.context,
                "question": e.question,
                "answers": {"text": list(e.answers), "answer_start": list(e.answer_starts)},
            }
            handle.write(json.dumps(row) + "\n")
    assert load_squad(path) == [dataclasses.replace(e, plausible_span=None) for e in examples]


def test_unanswerable_questions_carry_their_plausible_answer_span(squad_tiny):
    unanswerable = [e for e in load_squad(squad_tiny) if e.is_impossible]
    marked = [e for e in unanswerable if e.plausible_span is not None]
    assert marked, "the tiny asset keeps SQuAD 2.0's plausible_answers"
    document = json.loads(squad_tiny.read_text())
    plausible = {
        q["id"]: q["plausible_answers"][0]["text"]
        for article in document["data"]
        for paragraph in article["paragraphs"]
        for q in paragraph["qas"]
        if q.get("plausible_answers")
    }
    for e in marked:
        begin, end = e.plausible_span
        assert e.context[begin:end] == plausible[e.qid]


def test_bundled_sample_is_a_v2_set():
    examples = load_squad(BUNDLED_SAMPLE)
    assert {e.title for e in examples} == {"Normans", "1973_oil_crisis"}
    assert len(examples) == 463


def test_selection_by_article_limit_and_seed(squad_tiny):
    examples = load_squad(squad_tiny)
    force = select_examples(examples, articles=["Force"])
    assert force and all(e.title == "Force" for e in force)
    assert select_examples(examples, limit=5) == examples[:5]
    sample = select_examples(examples, limit=10, seed=3)
    assert sample == select_examples(examples, limit=10, seed=3)
    assert sample != examples[:10]
    positions = [examples.index(e) for e in sample]
    assert positions == sorted(positions)  # document order kept for prefix sharing


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "invalid JSON"),
        ('{"version": "v2.0"}', "not SQuAD JSON"),
        ('{"data": [{"title": "x"}]}', "not a SQuAD article"),
        (
            '{"data": [{"title": "x", "paragraphs": [{"context": "c", "qas": [{"id": "1"}]}]}]}',
            "malformed question record",
        ),
        ('{"data": []}', "contains no questions"),
    ],
)
def test_malformed_json_names_the_file_and_problem(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(EdgeQAError, match=message) as caught:
        load_squad(path)
    assert str(path) in str(caught.value)


def test_malformed_jsonl_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "1", "context": "c", "question": "q", "answers": []}\n{oops\n')
    with pytest.raises(EdgeQAError, match=r"bad.jsonl:2: invalid JSON"):
        load_squad(path)


def test_missing_file_and_unknown_article(tmp_path, squad_tiny):
    with pytest.raises(EdgeQAError, match="no such data file"):
        load_squad(tmp_path / "missing.json")
    with pytest.raises(EdgeQAError, match="no article titled"):
        select_examples(load_squad(squad_tiny), articles=["Atlantis"])


def test_duplicate_ids_are_refused(tmp_path):
    path = tmp_path / "dup.jsonl"
    row = '{"id": "1", "context": "c", "question": "q", "answers": []}\n'
    path.write_text(row * 2)
    with pytest.raises(EdgeQAError, match="appears more than once"):
        load_squad(path)
