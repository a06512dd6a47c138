"""The running demo: through gradio_client, and in a real headless Chromium."""

import shutil
import socket

import pytest

pytest.importorskip("gradio", reason="the demo extra is not installed (pip install -e '.[demo]')")

from edgeqa.demo.app import build_app, example_rows
from edgeqa.demo.service import MAX_CONTEXT_CHARS, QAService


def _normandy_context() -> str:
    from edgeqa.data.squad import load_squad
    from tests.conftest import ASSETS

    examples = load_squad(ASSETS / "squad_v2_tiny.json")
    return next(e.context for e in examples if e.question == "In what country is Normandy located?")


CONTEXT = _normandy_context()  # a real SQuAD paragraph: the base model answers it reliably
QUESTION = "In what country is Normandy located?"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


MODEL = "smollm2-135m-squad"


@pytest.fixture(scope="module")
def running_app(shipped_reader):
    service = QAService({MODEL: shipped_reader})
    app = build_app(service)
    port = _free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    app.close()
    service.close()


def test_examples_include_an_unanswerable_question():
    rows = example_rows()
    assert len(rows) == 4 and all(context and question for context, question in rows)


def test_the_api_answers_and_reports_latency(running_app):
    from gradio_client import Client

    client = Client(running_app, verbose=False)
    answer, stats, alternatives, document = client.predict(CONTEXT, QUESTION, MODEL, api_name="/answer")
    assert answer == "France" and "Next best" in alternatives
    assert "score" in stats and "RSS" in stats
    assert '">France</mark>' in document


def test_too_long_input_is_refused_with_a_message_and_no_traceback(running_app, capfd):
    from gradio_client import Client

    client = Client(running_app, verbose=False)
    with pytest.raises(Exception, match="limit is"):
        client.predict("x" * (MAX_CONTEXT_CHARS + 10), QUESTION, MODEL, api_name="/answer")
    assert "Traceback" not in capfd.readouterr().err  # the operator's console stays readable


def test_an_unknown_model_or_a_pdf_is_refused_with_a_message_and_no_traceback(running_app, capfd, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(running_app, verbose=False)
    with pytest.raises(Exception, match="Unknown model '/etc/passwd'; choose one of: smollm2-135m-squad"):
        client.predict(CONTEXT, QUESTION, "/etc/passwd", api_name="/answer")
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    with pytest.raises(Exception, match=r"paper.pdf: upload a .txt or .md file, not .pdf"):
        client.predict(handle_file(str(pdf)), api_name="/upload")
    assert "Traceback" not in capfd.readouterr().err


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on this machine (.ci/run installs Debian's chromium)"
)
def test_a_browser_user_uploads_a_document_and_sees_the_answer_marked_in_it(running_app, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    from edgeqa.data.squad import as_articles, load_squad
    from tests.conftest import ASSETS

    article = next(
        e.context for e in as_articles(load_squad(ASSETS / "squad_v2_tiny.json")) if "Normandy" in e.context
    )
    document = tmp_path / "normans.md"
    document.write_text(article, encoding="utf-8")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(running_app)
            page.locator("#upload input[type=file]").set_input_files(str(document))
            page.wait_for_function(
                "() => document.querySelector('#context textarea')?.value.length > 1000", timeout=60_000
            )
            page.locator("#question textarea, #question input").first.fill(QUESTION)
            page.locator("#ask").click()
            page.wait_for_selector("#document mark#answer-mark", timeout=180_000)
            marked = page.locator("#document mark#answer-mark").inner_text()
            answer = page.locator("#answer textarea, #answer input").first.input_value()
            shown = page.locator("#document").inner_text()
        finally:
            browser.close()
    assert marked == answer == "France"
    assert len(shown) > 1000  # the whole document is shown around the answer


def test_the_demos_options_are_checked_before_anything_loads(capsys):
    from tests.helpers import run_in_process

    for option in ("--threads", "--concurrency", "--queue-size"):
        code, err = run_in_process(capsys, "demo", option, "0")
        assert code == 1 and err.strip() == f"edgeqa: error: {option} must be at least 1, not 0"
