"""EdgeQAReader in a real Haystack pipeline: an in-memory store and BM25 retriever feeding it."""

import os

import pytest

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")  # offline, and nothing sent
pytest.importorskip("haystack", reason="the haystack extra is not installed (pip install -e '.[haystack]')")

from haystack import Document, Pipeline
from haystack.components.retrievers.in_memory import InMemoryBM25Retriever
from haystack.document_stores.in_memory import InMemoryDocumentStore

from edgeqa.integrations.haystack import EdgeQAReader

DOCUMENTS = [
    "The Eiffel Tower is a wrought-iron lattice tower in Paris. It was designed by the company of "
    "Gustave Eiffel and built from 1887 to 1889.",
    "The Brandenburg Gate is an 18th-century monument in Berlin, built on the orders of King "
    "Frederick William II of Prussia.",
    "The Colosseum is an elliptical amphitheatre in the centre of the city of Rome, Italy.",
]


@pytest.fixture(scope="module")
def pipeline(shipped_reader):
    store = InMemoryDocumentStore()
    store.write_documents([Document(content=text) for text in DOCUMENTS])
    reader = EdgeQAReader("smollm2-135m-squad", threads=2)
    built = Pipeline()
    built.add_component("retriever", InMemoryBM25Retriever(document_store=store, top_k=2))
    built.add_component("reader", reader)
    built.connect("retriever.documents", "reader.documents")
    yield built
    reader.close()


def test_a_retriever_feeds_the_reader_and_the_answer_points_into_its_document(pipeline):
    query = "Who designed the Eiffel Tower?"
    answers = pipeline.run({"retriever": {"query": query}, "reader": {"query": query, "top_k": 3}})["reader"][
        "answers"
    ]
    best, no_answer = answers[0], answers[-1]
    assert "Eiffel" in best.data and best.document.content == DOCUMENTS[0]
    offset = best.document_offset
    assert best.document.content[offset.start : offset.end] == best.data
    assert [a.score for a in answers[:-1]] == sorted((a.score for a in answers[:-1]), reverse=True)
    assert len(answers) <= 4 and no_answer.data is None and no_answer.document is None
    assert 0 <= no_answer.score < 0.5  # a retrieved document holds the answer


def test_a_question_no_document_answers_gets_a_likely_no_answer(pipeline):
    query = "How many people live in Tokyo?"
    answers = pipeline.run({"retriever": {"query": query}, "reader": {"query": query}})["reader"]["answers"]
    assert answers[-1].data is None and answers[-1].score > 0.5
    assert all(a.meta["best_guess"] for a in answers[:-1])  # spans found, but the reader abstained


def test_no_documents_is_a_certain_no_answer():
    (only,) = EdgeQAReader("embedded").run(query="Who?", documents=[])["answers"]
    assert only.data is None and only.score == 1.0
