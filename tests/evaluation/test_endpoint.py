"""`edgeqa eval --endpoint` against a real llama.cpp server on 127.0.0.1: the endpoint is one
more row of the same table, scored the same way, and a finished run needs no endpoint."""

import json

import pytest

from edgeqa.errors import EdgeQAError
from edgeqa.evaluation.endpoint import EndpointClient, EndpointConfig
from edgeqa.prompts import qa_messages
from tests.helpers import run_cli


def test_endpoint_is_a_row_of_the_comparison(embedded_vs_endpoint):
    out, _, _ = embedded_vs_endpoint
    table = (out / "comparison.md").read_text()
    assert "smollm2 (endpoint)" in table and "SmolLM2" in table
    endpoint = json.loads((out / "endpoint-smollm2" / "metrics.json").read_text())
    local = json.loads(
        (next(p for p in out.iterdir() if p.name.startswith("SmolLM2")) / "metrics.json").read_text()
    )
    assert (
        endpoint["quant"] == "endpoint" and endpoint["official"]["total"] == local["official"]["total"] == 6
    )
    assert endpoint["latency_s"]["p95"] > 0
    records = [json.loads(line) for line in (out / "endpoint-smollm2" / "log.jsonl").read_text().splitlines()]
    assert all(r["attempts"] == 1 and r["generated_tokens"] > 0 for r in records)


def test_same_prompt_gives_the_same_answers_as_the_local_engine(embedded_vs_endpoint):
    """Same GGUF, same chat template, greedy: the server and our engine agree on most answers
    (not all: the server decodes one sequence, our engine a batch, and Q4_1 activations differ)."""
    out, _, _ = embedded_vs_endpoint
    endpoint = json.loads((out / "endpoint-smollm2" / "predictions.json").read_text())
    local = json.loads(
        (next(p for p in out.iterdir() if p.name.startswith("SmolLM2")) / "predictions.json").read_text()
    )
    assert sum(endpoint[q] == local[q] for q in endpoint) >= len(endpoint) // 2


def test_finished_endpoint_run_rescores_without_the_endpoint(embedded_vs_endpoint):
    _, args, _ = embedded_vs_endpoint
    dead = [a if a != args[args.index("--endpoint") + 1] else "http://127.0.0.1:9/v1" for a in args]
    result = run_cli(*dead)
    assert result.returncode == 0, result.stderr  # every answer was logged: nothing to ask


def test_unreachable_endpoint_is_a_one_line_error():
    client = EndpointClient(EndpointConfig("http://127.0.0.1:9/v1", "m", retries=1, backoff_s=0.01))
    with pytest.raises(EdgeQAError, match="cannot reach the endpoint"):
        client.chat(qa_messages("c", "q?"), max_tokens=4)


def test_endpoint_http_errors_are_reported(endpoint_url):
    client = EndpointClient(EndpointConfig(endpoint_url.removesuffix("/v1") + "/nope", "m", retries=0))
    with pytest.raises(EdgeQAError, match="HTTP 404"):
        client.chat(qa_messages("c", "q?"), max_tokens=4)


def test_bad_endpoint_options_are_refused():
    with pytest.raises(EdgeQAError, match="--endpoint must be an http"):
        EndpointConfig("127.0.0.1:8000", "m")
    with pytest.raises(EdgeQAError, match="--endpoint-model"):
        EndpointConfig("http://127.0.0.1:8000/v1", "")
