"""The batcher in front of a real reader: batches, a bounded queue, clients that go away."""

import threading

import pytest

from edgeqa.reader.policy import AnswerPolicy
from edgeqa.reader.reader import Reader
from edgeqa.runtime.engine_config import EngineConfig
from edgeqa.serve.batcher import Batcher, QueueFull
from edgeqa.serve.metrics import ServeMetrics

CONTEXT = "The tower was designed by Gustave Eiffel and built in Paris from 1887 to 1889."


class GatedReader:
    """A real Reader whose answer_many waits for a gate, so a test can fill the queue meanwhile."""

    def __init__(self, reader: Reader):
        self.reader, self.gate, self.calls = reader, threading.Event(), []

    def answer_many(self, pairs, top_k=1):
        self.gate.wait(60)
        self.calls.append(len(pairs))
        return self.reader.answer_many(pairs, top_k=top_k)


@pytest.fixture(scope="module")
def reader(embedded_model):
    config = EngineConfig(n_threads=2, parallel=8, max_answer_tokens=12)
    with Reader.from_settings(embedded_model, AnswerPolicy(na_threshold="model"), config) as loaded:
        yield loaded


def test_waiting_requests_are_answered_in_one_batch_and_a_full_queue_refuses(reader):
    gated = GatedReader(reader)
    batcher = Batcher(gated, queue_size=3, max_batch=8)
    first = batcher.submit("Who designed it?", CONTEXT)  # taken by the worker, held at the gate
    while batcher.depth:
        pass
    waiting = [batcher.submit(f"Question {i}: where was it built?", CONTEXT) for i in range(3)]
    with pytest.raises(QueueFull, match="--queue-size 3"):
        batcher.submit("One too many?", CONTEXT)
    gated.gate.set()
    answers = [f.result(60) for f in [first, *waiting]]
    batcher.close()
    assert gated.calls == [1, 3]  # the three that waited together were read together
    assert all(a.abstained or CONTEXT[a.start : a.end] == a.text for a in answers)


def test_a_client_that_goes_away_frees_its_place(reader):
    gated = GatedReader(reader)
    batcher = Batcher(gated, queue_size=2, max_batch=8)
    batcher.submit("Who designed it?", CONTEXT)
    while batcher.depth:
        pass
    gone = batcher.submit("Where?", CONTEXT)
    kept = batcher.submit("When?", CONTEXT)
    assert gone.cancel()  # its client disconnected before its batch started
    gated.gate.set()
    assert kept.result(60) is not None
    batcher.close()
    assert gated.calls == [1, 1]  # the cancelled request was never read


def test_an_error_reaches_every_request_of_its_batch_and_the_worker_goes_on(reader):
    batcher = Batcher(reader, queue_size=4, max_batch=4)
    bad = batcher.submit("Who?", CONTEXT, top_k=0)
    with pytest.raises(Exception, match="top_k"):
        bad.result(60)
    assert batcher.submit("Who designed it?", CONTEXT).result(60) is not None
    batcher.close()


def test_metrics_render_prometheus_text():
    metrics = ServeMetrics()
    metrics.request_done(200, 0.3)
    metrics.request_done(200, 3.0)
    metrics.request_done(503)
    metrics.batch_done(2, 150, 8)
    text = metrics.render(queue_depth=4, ready=True)
    assert 'edgeqa_requests_total{status="200"} 2' in text and 'edgeqa_requests_total{status="503"} 1' in text
    assert "edgeqa_queue_depth 4" in text and "edgeqa_prompt_tokens_total 150" in text
    assert (
        'edgeqa_request_seconds_bucket{le="0.5"} 1' in text
        and 'edgeqa_request_seconds_bucket{le="+Inf"} 2' in text
    )
    assert "edgeqa_request_seconds_count 2" in text
