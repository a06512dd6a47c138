"""The demo's answering, without Gradio, on the shipped reader."""

import threading
from pathlib import Path

import pytest

from edgeqa.data.squad import load_squad
from edgeqa.demo.service import (
    MARK_STYLE,
    MAX_CONTEXT_CHARS,
    QAService,
    check_inputs,
    marked_document,
    model_choices,
    read_document,
)
from edgeqa.errors import EdgeQAError
from tests.conftest import ASSETS


@pytest.fixture(scope="module")
def service(shipped_reader):
    loaded = QAService({"smollm2-135m-squad": shipped_reader})
    yield loaded
    loaded.close()


@pytest.fixture(scope="module")
def normandy():
    from tests.conftest import ASSETS

    return next(
        e
        for e in load_squad(ASSETS / "squad_v2_tiny.json")
        if e.question == "In what country is Normandy located?"
    )


def test_an_answer_comes_with_its_score_alternatives_and_the_marked_document(service, normandy):
    reply = service.answer(normandy.context, normandy.question)
    assert "France" in reply.answer and not reply.abstained
    assert 0 < reply.score <= 1 and reply.total_s > 0 and reply.rss_mib > 50
    assert f'<mark id="answer-mark" style="{MARK_STYLE}">{reply.answer}</mark>' in reply.document_html
    assert "score" in reply.stats_line() and "RSS" in reply.stats_line()
    assert all(a.text != reply.answer for a in reply.alternatives)


def test_a_whole_document_is_read_in_windows(service, normandy):
    from edgeqa.data.squad import as_articles

    document = next(
        e.context for e in as_articles(load_squad(ASSETS / "squad_v2_tiny.json")) if e.title == normandy.title
    )
    reply = service.answer(document, normandy.question)
    assert reply.answer == "France" and "answer-mark" in reply.document_html
    assert len(reply.document_html) > len(document)  # the whole document is shown


def test_an_unsure_reply_shows_its_best_guess_marked_as_a_guess(service):
    from edgeqa.demo.service import GUESS_STYLE

    context = "The Eiffel Tower is in Paris. It was designed by the company of Gustave Eiffel."
    reply = service.answer(context, "What is the population of Berlin?")
    assert reply.abstained and reply.answer.startswith("Not sure; best guess: ")
    guess = reply.answer.removeprefix("Not sure; best guess: ")
    assert guess in context and f'style="{GUESS_STYLE}">{guess}</mark>' in reply.document_html
    assert all(a.text != guess for a in reply.alternatives)


def test_the_marked_document_escapes_the_text():
    from edgeqa.reader.answer import Answer

    answer = Answer("<b>", 4, 7, 0.9, 0.1, False)
    assert "&lt;b&gt;</mark>" in marked_document("Tag <b> here & there", answer)
    assert "mark" not in marked_document("x < y", Answer.abstention(0.9))


def test_uploaded_documents_must_be_small_utf8_text(tmp_path):
    good = tmp_path / "notes.md"
    good.write_text("# Notes\n\nThe tower is in Paris.", encoding="utf-8")
    assert read_document(good).startswith("# Notes")
    for name, content, message in [
        ("a.pdf", b"%PDF", "upload a .txt or .md file"),
        ("b.txt", b"\xff\xfe\x00bad", "not UTF-8 text"),
        ("c.txt", b"x" * (MAX_CONTEXT_CHARS + 1), "the limit is"),
    ]:
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(EdgeQAError, match=message):
            read_document(path)


def test_bad_input_gets_a_clear_message():
    with pytest.raises(EdgeQAError, match="Paste a context"):
        check_inputs("  ", "Who?")
    with pytest.raises(EdgeQAError, match="Ask a question"):
        check_inputs("Some text.", "")
    with pytest.raises(EdgeQAError, match=f"limit is {MAX_CONTEXT_CHARS}"):
        check_inputs("x" * (MAX_CONTEXT_CHARS + 1), "Who?")
    with pytest.raises(EdgeQAError, match="context: not valid Unicode text"):
        check_inputs("Paris \ud800", "Who?")
    with pytest.raises(EdgeQAError, match="question: expected a string, not int"):
        check_inputs("Paris", 3)


def test_one_users_bad_text_fails_only_that_user(service, normandy):
    """A context with a lone surrogate, sent at the same moment as three good questions: it
    gets its message, the three their answers."""
    from concurrent.futures import ThreadPoolExecutor

    def ask(context: str):
        try:
            return service.answer(context, normandy.question).answer
        except EdgeQAError as exc:
            return exc

    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(
                ask, [normandy.context, normandy.context + " \ud800", normandy.context, normandy.context]
            )
        )
    assert isinstance(results[1], EdgeQAError) and "lone surrogate" in str(results[1])
    assert [results[i] for i in (0, 2, 3)] == ["France"] * 3


def test_only_listed_models_can_be_chosen(service, normandy):
    with pytest.raises(EdgeQAError, match="Unknown model"):
        service.answer(normandy.context, normandy.question, "/etc/passwd")


def test_model_names_stay_unique():
    choices = model_choices([Path("a/m.gguf"), Path("b/m.gguf"), Path("b/n.gguf")])
    assert list(choices) == ["m", "b/m", "n"]
    exported = model_choices(
        [Path("export/run-Q4_K_M.gguf")], {Path("export/run-Q4_K_M.gguf").resolve(): "run"}
    )
    assert list(exported) == ["run-Q4_K_M (from run)"]


def test_concurrent_requests_share_one_loaded_model_and_its_batches(service, normandy):
    results: list[str] = []

    def ask() -> None:
        results.append(service.answer(normandy.context, normandy.question).answer)

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert len(results) == 3 and len(set(results)) == 1
    assert list(service._batchers) == ["smollm2-135m-squad"]
