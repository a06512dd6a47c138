"""`edgeqa serve` as a user runs it: the real server on the embedded model, over HTTP."""

import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers import REPO

KEY = "test-key"
CONTEXT = "The tower was designed by Gustave Eiffel and built in Paris from 1887 to 1889."


def call(
    base: str, path: str, body: dict | bytes | None = None, key: str | None = KEY
) -> tuple[int, dict, dict]:
    """(status, JSON body or {"text": ...}, headers) of one request."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method="POST" if data is not None else "GET")
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            status, raw, headers = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        status, raw, headers = error.code, error.read(), dict(error.headers)
    try:
        return status, json.loads(raw), headers
    except ValueError:
        return status, {"text": raw.decode()}, headers


@pytest.fixture(scope="module")
def server(embedded_model):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "edgeqa", "serve", "--model", "embedded", "--port", str(port)]
    command += ["--api-key", KEY, "--threads", "2", "--queue-size", "6", "--max-batch", "8"]
    command += ["--max-context-chars", "5000"]
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=log, text=True)
        statuses = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            try:
                statuses.append(call(base, "/health", key=None)[0])
                if statuses[-1] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        if not statuses or statuses[-1] != 200:
            log.seek(0)
            process.kill()
            pytest.fail(f"edgeqa serve did not become ready: {log.read()[-2000:]}")
        yield base, statuses
        process.terminate()
        process.wait(timeout=30)


def test_health_needs_no_key_and_says_ready(server):
    base, statuses = server
    status, body, _ = call(base, "/health", key=None)
    assert status == 200 and body == {"status": "ok", "models": ["embedded"]}
    assert set(statuses) <= {503, 200}  # 503 while the model loaded, if the poll came early


def test_an_answer_carries_offsets_score_model_and_timings(server):
    base, _ = server
    status, body, _ = call(base, "/v1/answer", {"question": "Who designed the tower?", "context": CONTEXT})
    assert status == 200, body
    assert body["model"] == "embedded" and body["answers"] is None
    assert body["abstained"] or CONTEXT[body["start"] : body["end"]] == body["text"]
    assert 0 <= body["score"] <= 1 and 0 <= body["no_answer_prob"] <= 1
    assert body["timings"]["prompt_tokens"] > 20 and body["timings"]["total_s"] > 0
    status, body, _ = call(
        base, "/v1/answer", {"question": "Who designed the tower?", "context": CONTEXT, "top_k": 3}
    )
    assert status == 200 and 1 <= len(body["answers"]) <= 3
    assert all(CONTEXT[a["start"] : a["end"]] == a["text"] for a in body["answers"] if not a["abstained"])


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"context": CONTEXT}, 422, "question"),
        (b"{not json", 422, "json"),
        ({"question": "Who?", "context": CONTEXT, "top_k": 0}, 422, "top_k"),
        ({"question": "Who?", "context": "x" * 5001}, 413, "context: 5001 characters"),
        ({"question": "Who?", "context": CONTEXT, "model": "/etc/passwd"}, 404, "this server has: embedded"),
    ],
    ids=["missing-question", "bad-json", "top-k-0", "long-context", "a-path-as-model"],
)
def test_bad_requests_get_a_status_and_a_message_naming_what_is_wrong(server, body, status, fragment):
    base, _ = server
    got, reply, _ = call(base, "/v1/answer", body)
    assert got == status
    assert fragment in json.dumps(reply).lower() or fragment in json.dumps(reply)


def test_every_route_but_health_needs_the_key(server):
    base, _ = server
    for key in (None, "wrong"):
        status, body, headers = call(base, "/v1/answer", {"question": "Who?", "context": CONTEXT}, key=key)
        assert status == 401 and "Bearer" in body["detail"] and headers.get("www-authenticate") == "Bearer"
        assert call(base, "/metrics", key=key)[0] == 401


def test_concurrent_requests_are_all_answered_in_shared_batches_or_refused_with_retry_after(server):
    base, _ = server
    questions = [f"Question {i}: who designed the tower?" for i in range(12)]
    with ThreadPoolExecutor(12) as pool:
        results = list(
            pool.map(lambda q: call(base, "/v1/answer", {"question": q, "context": CONTEXT}), questions)
        )
    statuses = [status for status, _, _ in results]
    assert set(statuses) <= {200, 503} and statuses.count(200) >= 6  # the queue holds 6 while 8 decode
    for status, body, headers in results:
        if status == 503:
            assert headers.get("retry-after") and "retry later" in body["detail"]
    metrics = call(base, "/metrics")[1]["text"]
    batches = int(
        next(line.split()[-1] for line in metrics.splitlines() if line.startswith("edgeqa_batches_total"))
    )
    answered = int(
        next(
            line.split()[-1]
            for line in metrics.splitlines()
            if line.startswith('edgeqa_requests_total{status="200"}')
        )
    )
    assert batches < answered  # some requests shared a batch
    assert f'edgeqa_requests_total{{status="503"}} {statuses.count(503)}' in metrics or 503 not in statuses


def test_a_bad_request_among_good_ones_fails_alone(server):
    """A whitespace context sent at the same moment as five good requests: 422 for it, an
    answer for each of the others."""
    base, _ = server
    bodies = [
        {"question": q, "context": CONTEXT}
        for q in ("Who designed it?", "Where?", "When?", "What?", "Who built it?")
    ]
    bodies.insert(2, {"question": "Who designed it?", "context": " \n\t "})
    with ThreadPoolExecutor(len(bodies)) as pool:
        results = list(pool.map(lambda body: call(base, "/v1/answer", body), bodies))
    statuses = [status for status, _, _ in results]
    assert statuses == [200, 200, 422, 200, 200, 200], results
    assert "holds no text" in json.dumps(results[2][1])
    for status, body, _ in results:
        if status == 200:
            assert body["abstained"] or CONTEXT[body["start"] : body["end"]] == body["text"]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"question": "Who?", "context": "Eiffel.", "top_k": NaN}', "top_k"),
        (b'{"question": Infinity, "context": "Eiffel."}', "question"),
        (b'{"question": "Who?", "context": "Eiffel.", "extra": -Infinity}', "extra"),
        (b'{"question": "Who\\ud800?", "context": "Eiffel."}', "question"),
        (b'{"question": "Who?", "context": "Eiffel.", "\\udfff": 1}', "body"),
        (b'{"question": "Who?", "context": "Eiffel.", "top_k": "3"}', "top_k"),
        (b'{"question": "Who?", "context": "Eiffel.", "top_k": true}', "top_k"),
    ],
    ids=["nan", "infinity", "minus-infinity", "lone-surrogate", "surrogate-key", "top-k-str", "top-k-bool"],
)
def test_what_json_allows_but_the_api_does_not_is_a_422_that_names_the_field(server, raw, field):
    base, _ = server
    status, body, _ = call(base, "/v1/answer", raw)
    assert status == 422, body
    assert field in json.dumps([error["loc"] for error in body["detail"]])


def test_a_body_that_is_not_utf8_is_a_400_saying_so(server):
    base, _ = server
    status, body, _ = call(base, "/v1/answer", b'{"question": "Wh\xff?", "context": "Eiffel."}')
    assert status == 400 and body["detail"] == "request body: not UTF-8 (byte 0xff at offset 16)"


def test_a_client_still_sending_a_huge_body_hears_the_413(server):
    """A 10 MB body sent whole by a plain client: the server reads and drops it, then answers
    413 (a reset connection would tell the client nothing)."""
    base, _ = server
    status, body, _ = call(base, "/v1/answer", b"x" * 10_000_000)
    assert status == 413 and "request body over" in body["detail"]


def test_every_refusal_is_counted_by_status_in_metrics(server):
    base, _ = server
    call(base, "/v1/answer", {"question": "Who?", "context": CONTEXT}, key="wrong")
    call(base, "/no-such-route")
    call(base, "/v1/answer", b'{"question": "Wh\xff?", "context": "x"}')
    metrics = call(base, "/metrics")[1]["text"]
    for status in ("400", "401", "404", "422"):
        assert f'edgeqa_requests_total{{status="{status}"}}' in metrics


def test_the_schema_pages_are_open_and_show_no_data(server):
    base, _ = server
    status, schema, _ = call(base, "/openapi.json", key=None)
    assert status == 200 and "/v1/answer" in schema["paths"]


def test_a_body_over_the_limit_is_refused_from_its_declared_length(server):
    """413 once the headers say so: a client that sends nothing more waits a second for it."""
    import http.client
    from urllib.parse import urlsplit

    base, _ = server
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.putrequest("POST", "/v1/answer")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(2_000_000))
    connection.putheader("Authorization", f"Bearer {KEY}")
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 413 and b"request body over" in response.read()
    connection.close()


def test_a_streamed_body_over_the_limit_is_refused_while_it_is_read():
    """A body sent without its length (chunked) is counted as it arrives, and what follows the
    limit is read and dropped before the 413 goes out."""
    import asyncio

    from edgeqa.serve.middleware import BodyGuard

    reached_app = []

    async def app(scope, receive, send):
        reached_app.append(True)

    chunks = [{"type": "http.request", "body": b"x" * 600, "more_body": True} for _ in range(3)]
    chunks.append({"type": "http.request", "body": b"x", "more_body": False})
    sent = []

    async def receive():
        return chunks.pop(0)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/answer", "headers": []}
    asyncio.run(BodyGuard(app, max_bytes=1000)(scope, receive, send))
    assert sent[0]["status"] == 413 and b"request body over 1000 bytes" in sent[1]["body"]
    assert not reached_app and not chunks  # all of it read


def test_the_byte_cap_admits_any_text_within_the_character_limits():
    """150,000 CJK characters sent with JSON's ASCII escapes are 900,000 bytes: under the cap
    made for the default 200,000-character limit (4 bytes a character was not enough)."""
    from edgeqa.serve.app import Limits

    body = json.dumps({"question": "何?", "context": "東" * 150_000}).encode()
    assert len(body) > 4 * 150_000 + 65_536
    assert len(body) <= Limits().max_body_bytes == Limits.for_texts(200_000, 1_000).max_body_bytes
    emoji = json.dumps({"question": "?", "context": "😀" * 200_000}).encode()  # 12 bytes each
    assert len(emoji) <= Limits().max_body_bytes


def test_a_server_exposed_without_a_key_says_so():
    from edgeqa.serve.command import exposure_warning

    assert "without an API key" in exposure_warning("0.0.0.0", None)
    assert exposure_warning("0.0.0.0", "k") is None and exposure_warning("127.0.0.1", None) is None


@pytest.mark.slow
def test_a_bad_host_is_named_before_anything_claims_to_be_up():
    from tests.helpers import one_line_error, run_cli

    result = run_cli("serve", "--model", "embedded", "--host", "no-such-host.invalid", "--port", "8999")
    assert result.returncode != 0 and "edgeqa serve:" not in result.stdout
    assert "--host no-such-host.invalid" in one_line_error(result)
