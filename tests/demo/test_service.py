"""The demo's answering, without Gradio, on the embedded model."""

import itertools
import threading
from pathlib import Path

import pytest

from edgeqa.data.squad import load_squad
from edgeqa.demo.service import (
    MAX_CONTEXT_CHARS,
    NO_ANSWER_MESSAGE,
    QAService,
    check_inputs,
    model_choices,
    shown_answer,
)
from edgeqa.errors import EdgeQAError


@pytest.fixture(scope="module")
def service(embedded_model):
    loaded = QAService({"embedded": embedded_model})
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


def test_answer_streams_then_reports_its_cost(service, normandy):
    replies = list(service.answer(normandy.context, normandy.question))
    partial, final = replies[:-1], replies[-1]
    assert len(partial) >= 2 and not any(r.done for r in partial)
    assert all(b.answer.startswith(a.answer) for a, b in itertools.pairwise(partial))
    assert final.done and "France" in final.answer
    assert 0 < final.ttft_s <= final.total_s
    assert final.rss_mib > 50
    assert "time to first token" in final.stats_line()


def test_an_abstention_is_said_in_plain_words():
    assert shown_answer(" unanswerable.") == (NO_ANSWER_MESSAGE, True)
    assert shown_answer("France") == ("France", False)


def test_bad_input_gets_a_clear_message():
    with pytest.raises(EdgeQAError, match="Paste a context"):
        check_inputs("  ", "Who?")
    with pytest.raises(EdgeQAError, match="Ask a question"):
        check_inputs("Some text.", "")
    with pytest.raises(EdgeQAError, match=f"limit is {MAX_CONTEXT_CHARS}"):
        check_inputs("x" * (MAX_CONTEXT_CHARS + 1), "Who?")


def test_only_listed_models_can_be_chosen(service, normandy):
    with pytest.raises(EdgeQAError, match="Unknown model"):
        next(service.answer(normandy.context, normandy.question, "/etc/passwd"))


def test_model_names_stay_unique():
    choices = model_choices([Path("a/m.gguf"), Path("b/m.gguf"), Path("b/n.gguf")])
    assert list(choices) == ["m", "b/m", "n"]
    exported = model_choices(
        [Path("export/run-Q4_K_M.gguf")], {Path("export/run-Q4_K_M.gguf").resolve(): "run"}
    )
    assert list(exported) == ["run-Q4_K_M (from run)"]


def test_concurrent_requests_share_one_loaded_model(service, normandy):
    results: list[str] = []

    def ask() -> None:
        results.append(list(service.answer(normandy.context, normandy.question))[-1].answer)

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert len(results) == 3 and len(set(results)) == 1
    assert len(service._readers) == 1
