"""The batcher in front of a real reader: batches, bounded admission, isolation, clients that go."""

import threading
import time

import pytest

from edgeqa.errors import EdgeQAError
from edgeqa.reader.policy import AnswerPolicy
from edgeqa.reader.reader import Reader
from edgeqa.runtime.engine_config import EngineConfig
from edgeqa.serve.batcher import Batcher, QueueFull
from edgeqa.serve.metrics import ServeMetrics

CONTEXT = "The tower was designed by Gustave Eiffel and built in Paris from 1887 to 1889."
QUESTIONS = ["Who designed the tower?", "Where was it built?", "When was it built?", "What was designed?"]


class GatedReader:
    """A real Reader whose answer_many says when it is entered and waits for a gate (and, with
    `delay`, takes that many more seconds per question), so a test can act meanwhile."""

    def __init__(self, reader: Reader, delay: float = 0.0):
        self.reader, self.delay, self.calls = reader, delay, []
        self.gate, self.entered = threading.Event(), threading.Event()
        self.gate.set()

    def answer_many(self, pairs, top_k=1, doc_stride=None):
        self.entered.set()
        self.gate.wait(60)
        self.calls.append(len(pairs))
        time.sleep(self.delay * len(pairs))
        return self.reader.answer_many(pairs, top_k=top_k, doc_stride=doc_stride)


@pytest.fixture(scope="module")
def reader(embedded_model):
    config = EngineConfig(n_threads=2, parallel=8, max_answer_tokens=12, n_ctx=1024)
    with Reader.from_settings(embedded_model, AnswerPolicy(na_threshold="model"), config) as loaded:
        yield loaded


def held(reader: Reader, **options) -> tuple[GatedReader, Batcher]:
    """A batcher whose worker is inside its first batch, held at the gate."""
    gated = GatedReader(reader)
    gated.gate.clear()
    batcher = Batcher(gated, **options)
    first = batcher.submit(QUESTIONS[0], CONTEXT)
    assert gated.entered.wait(30)
    return gated, batcher, first


def test_waiting_requests_are_answered_in_one_batch_and_a_full_queue_refuses(reader):
    gated, batcher, first = held(reader, queue_size=3, max_batch=8)
    waiting = [batcher.submit(f"Question {i}: where was it built?", CONTEXT) for i in range(3)]
    with pytest.raises(QueueFull, match="--queue-size 3"):
        batcher.submit("One too many?", CONTEXT)
    gated.gate.set()
    answers = [f.result(60) for f in [first, *waiting]]
    batcher.close()
    assert gated.calls == [1, 3]  # the three that waited together were read together
    assert all(a.abstained or CONTEXT[a.start : a.end] == a.text for a in answers)


def test_a_client_that_goes_away_frees_its_place(reader):
    gated, batcher, _ = held(reader, queue_size=2, max_batch=8)
    gone = batcher.submit("Where?", CONTEXT)
    kept = batcher.submit("When was it built?", CONTEXT)
    assert gone.cancel()  # its client disconnected before its batch started
    gated.gate.set()
    assert kept.result(60).text == reader.answer("When was it built?", CONTEXT).text
    batcher.close()
    assert gated.calls == [1, 1]  # the cancelled request was never read


@pytest.mark.parametrize(
    ("question", "context", "message"),
    [
        ("Who?", " \n ", "context: holds no text"),
        ("Who\ud800?", CONTEXT, "question: not valid Unicode text"),
        ("Who?", None, "context: expected a string"),
    ],
)
def test_a_bad_request_is_refused_before_it_joins_a_batch(reader, question, context, message):
    gated, batcher, first = held(reader, queue_size=4, max_batch=8)
    with pytest.raises(EdgeQAError, match=message):
        batcher.submit(question, context)
    assert batcher.depth == 0
    with pytest.raises(EdgeQAError, match="top_k must be at least 1"):
        batcher.submit("Who?", CONTEXT, top_k=0)
    gated.gate.set()
    first.result(60)
    batcher.close()


def test_a_request_that_fails_inside_a_batch_fails_alone(reader):
    """A question too long for the KV cache passes the text rules but fails in the reader: the
    batch is read again one by one, and every other request gets its own right answer."""
    gated, batcher, first = held(reader, queue_size=8, max_batch=8)
    too_long = "Who built it? " + "and then what happened " * 300
    good = [batcher.submit(q, CONTEXT) for q in QUESTIONS]
    bad = batcher.submit(too_long, CONTEXT)
    gated.gate.set()
    first.result(60)
    with pytest.raises(EdgeQAError, match="does not fit --n-ctx"):
        bad.result(60)
    answers = [f.result(60) for f in good]
    batcher.close()
    assert gated.calls[:2] == [1, 5]  # the five were read together first
    assert [a.text for a in answers] == [reader.answer(q, CONTEXT).text for q in QUESTIONS]


def test_a_request_that_could_not_start_within_max_wait_is_refused_at_once(reader):
    """With c seconds a question (learnt from a batch) and a bound of 2c, the requests that join
    the next batch are accepted; one behind a full batch would wait about 3c: refused at once."""
    gated = GatedReader(reader, delay=0.3)
    batcher = Batcher(gated, queue_size=50, max_batch=2)
    assert batcher.seconds_per_request is None and batcher.estimated_wait() == 0.0
    batcher.submit(QUESTIONS[0], CONTEXT).result(60)
    cost = batcher.seconds_per_request
    assert cost >= 0.3
    batcher.max_wait = 2 * cost
    gated.gate.clear()
    gated.entered.clear()
    running = batcher.submit(QUESTIONS[1], CONTEXT)
    assert gated.entered.wait(30)
    accepted = [batcher.submit(q, CONTEXT) for q in QUESTIONS[2:4]]  # the next batch: within 2c
    assert 2 * cost < batcher.estimated_wait() <= 3 * cost
    began = time.perf_counter()
    with pytest.raises(QueueFull, match=r"would wait about \d+ s to start \(--max-wait") as refused:
        batcher.submit("One batch too late?", CONTEXT)
    assert time.perf_counter() - began < 0.1 and refused.value.retry_after >= 1
    gated.gate.set()
    answers = [f.result(60) for f in [running, *accepted]]  # the accepted ones are answered as alone
    assert [a.text for a in answers] == [reader.answer(q, CONTEXT).text for q in QUESTIONS[1:4]]
    batcher.close()


def test_metrics_count_every_status_and_render_prometheus_text():
    metrics = ServeMetrics()
    for status in (200, 200, 503, 401, 422, 500):
        metrics.response_sent(status)
    metrics.answered(0.3)
    metrics.answered(3.0)
    metrics.batch_done(2, 150, 8)
    from edgeqa.runtime.prompt_cache import CacheStats

    cache = CacheStats(hits=5, ram_hits=2, misses=3, restored_tokens=480, ram_bytes=6_000_000)
    text = metrics.render(queue_depth=4, ready=True, cache=cache)
    assert 'edgeqa_prompt_cache_hits_total{tier="kv"} 5\n' in text
    assert 'edgeqa_prompt_cache_hits_total{tier="ram"} 2\n' in text
    assert "edgeqa_prompt_cache_misses_total 3\n" in text
    assert "edgeqa_prompt_cache_restored_tokens_total 480\n" in text
    assert "edgeqa_prompt_cache_ram_bytes 6000000\n" in text
    for status, count in (("200", 2), ("401", 1), ("422", 1), ("500", 1), ("503", 1)):
        assert f'edgeqa_requests_total{{status="{status}"}} {count}\n' in text
    assert "edgeqa_queue_depth 4\n" in text and "edgeqa_prompt_tokens_total 150\n" in text
    assert 'edgeqa_request_seconds_bucket{le="0.25"} 0\n' in text
    assert 'edgeqa_request_seconds_bucket{le="0.5"} 1\n' in text
    assert 'edgeqa_request_seconds_bucket{le="+Inf"} 2\n' in text
    assert "edgeqa_request_seconds_count 2\n" in text and "edgeqa_request_seconds_sum 3.300000\n" in text
