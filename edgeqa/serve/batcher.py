"""Many users, one model: requests that wait together are answered together.

A worker thread owns the Reader (llama.cpp is not thread-safe). Whenever it is free it takes
every request waiting (up to `max_batch`) and reads them in one `Reader.answer_many`: questions
on the same context share its KV cells, questions on different contexts share the decoding
steps of one llama.cpp batch. A request that arrives while a batch runs joins the next one, so
the wait of a newcomer is bounded by one batch, not by everyone queued before it.

Admission is bounded twice: by count (`queue_size`) and by time (`max_wait`: a request that
would not start within it, judged from the recent seconds per request, is refused at once, so
that it can go elsewhere instead of timing out here). Refusals raise `QueueFull` with a
Retry-After estimate; what was accepted is never dropped, except by its client going away
before its batch starts. A request is checked before it joins a batch, and one that still
fails inside a batch fails alone: the batch is read again one request at a time.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

from edgeqa.reader.answer import Answer
from edgeqa.reader.inputs import check_pair, check_top_k

DEFAULT_MAX_WAIT_S = 30.0
LINGER_S = 0.05  # how long a batch waits to fill up to the previous batch's size
COST_SMOOTHING = 0.3  # weight of the newest batch in the seconds-per-request estimate


class QueueFull(Exception):
    """The request cannot be taken now; `retry_after` says in how many seconds to try again."""

    def __init__(self, message: str, retry_after: int = 2):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class Job:
    question: str
    context: str
    top_k: int
    doc_stride: int | None = None  # the reader's own window overlap when None
    future: Future = field(default_factory=Future)
    queued_at: float = field(default_factory=time.perf_counter)


@dataclass
class BatchRecord:
    """What one batch did: for /metrics and for the load benchmark's account of time."""

    size: int
    seconds: float
    answers: list[Answer]


class Batcher:
    """The queue and worker in front of one Reader."""

    def __init__(
        self,
        reader,
        queue_size: int = 64,
        max_batch: int = 32,
        on_batch=None,
        max_wait: float = DEFAULT_MAX_WAIT_S,
    ):
        self.reader = reader
        self.queue_size = queue_size
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.on_batch = on_batch
        self._waiting: collections.deque[Job] = collections.deque()
        self._condition = threading.Condition()
        self._closed = False
        self._seconds_per_request: float | None = None  # None until a batch has run
        self._running: tuple[float, int] | None = None  # the batch being read: (started, size)
        self._last_size = 1  # the previous batch's size: how many clients are keeping it busy
        self._worker = threading.Thread(target=self._work, name="edgeqa-batcher", daemon=True)
        self._worker.start()

    @property
    def depth(self) -> int:
        """Requests waiting for a batch (not those being answered)."""
        return len(self._waiting)

    def submit(self, question: str, context: str, top_k: int = 1, doc_stride: int | None = None) -> Future:
        """A future for the answer (a list when top_k > 1). EdgeQAError for a bad request;
        QueueFull when the queue is full or the request could not start within max_wait."""
        question, context = check_pair(question, context)
        job = Job(question, context, check_top_k(top_k), doc_stride)
        with self._condition:
            if self._closed:
                raise QueueFull("the server is shutting down", retry_after=5)
            if len(self._waiting) >= self.queue_size:
                raise QueueFull(
                    f"{len(self._waiting)} requests are waiting (--queue-size {self.queue_size})",
                    _retry_after(self._estimated_wait()),
                )
            wait = self._estimated_wait()
            if wait > self.max_wait:
                raise QueueFull(
                    f"a new request would wait about {wait:.0f} s to start (--max-wait {self.max_wait:g})",
                    _retry_after(wait - self.max_wait),
                )
            self._waiting.append(job)
            self._condition.notify()
        return job.future

    @property
    def seconds_per_request(self) -> float | None:
        """Recent seconds per request (smoothed over batches); None before the first batch."""
        return self._seconds_per_request

    def estimated_wait(self) -> float:
        """Seconds until a request submitted now would start, from the recent batches."""
        with self._condition:
            return self._estimated_wait()

    def _estimated_wait(self) -> float:
        """The running batch's remaining time plus the full batches queued ahead (a request
        joins the first batch that has room). A batch running longer than its estimate raises
        the seconds per request to what it has taken so far, so a slow batch (long contexts, a
        busy CPU) makes admission stricter while it runs. Called with the condition held."""
        cost = self._seconds_per_request
        if cost is None:
            return 0.0
        remaining = 0.0
        if self._running is not None:
            started, size = self._running
            elapsed = time.perf_counter() - started
            cost = max(cost, elapsed / size)
            remaining = max(size * cost - elapsed, cost)  # overdue: at least one more request's worth
        full_batches_ahead = len(self._waiting) // self.max_batch
        return remaining + full_batches_ahead * self.max_batch * cost

    def close(self) -> None:
        """Answer what was accepted, then stop the worker."""
        with self._condition:
            self._closed = True
            self._condition.notify()
        self._worker.join()

    def _take(self) -> list[Job] | None:
        """The next batch: every waiting job still wanted, up to max_batch; None once closed."""
        with self._condition:
            while not self._waiting and not self._closed:
                self._condition.wait()
            if not self._waiting:
                return None
            self._linger()
            batch = []
            while self._waiting and len(batch) < self.max_batch:
                job = self._waiting.popleft()
                if job.future.set_running_or_notify_cancel():  # False: its client went away
                    batch.append(job)
            self._running = (time.perf_counter(), len(batch))
            return batch

    def _linger(self) -> None:
        """Give the clients of the previous batch a moment to send their next requests: when
        it held more than one, wait up to LINGER_S for as many (held with the condition).
        Without this, N clients sending back to back split into a batch of one or two (those
        already waiting when a batch ends) and one of the rest, every time."""
        target = min(self.max_batch, self._last_size)
        deadline = time.perf_counter() + LINGER_S
        while len(self._waiting) < target and not self._closed:
            left = deadline - time.perf_counter()
            if left <= 0:
                return
            self._condition.wait(left)

    def _work(self) -> None:
        while (batch := self._take()) is not None:
            if batch:
                self._answer(batch)

    def _answer(self, batch: list[Job]) -> None:
        started = time.perf_counter()
        answers: list[Answer] = []
        for key in dict.fromkeys((job.top_k, job.doc_stride) for job in batch):
            jobs = [job for job in batch if (job.top_k, job.doc_stride) == key]
            for job, outcome in zip(jobs, self._read(jobs, *key), strict=True):
                if isinstance(outcome, BaseException):
                    job.future.set_exception(outcome)
                    continue
                job.future.set_result(outcome)
                answers.append(outcome[0] if isinstance(outcome, list) else outcome)  # one per request
        seconds = time.perf_counter() - started
        with self._condition:
            per_request = seconds / len(batch)
            previous = self._seconds_per_request
            self._seconds_per_request = (
                per_request
                if previous is None
                else COST_SMOOTHING * per_request + (1 - COST_SMOOTHING) * previous
            )
            self._running = None
            self._last_size = len(batch)
        if self.on_batch is not None:
            self.on_batch(BatchRecord(len(batch), seconds, answers))

    def _read(self, jobs: list[Job], top_k: int, doc_stride: int | None) -> list:
        """Each job's answer, or the exception its own request raised: when the batch fails,
        its requests are read again one by one, so one bad request fails alone."""
        options = {"top_k": top_k, "doc_stride": doc_stride}
        try:
            return self.reader.answer_many([(job.question, job.context) for job in jobs], **options)
        except Exception as exc:
            if len(jobs) == 1:
                return [exc]
        outcomes: list = []
        for job in jobs:
            try:
                outcomes.append(self.reader.answer_many([(job.question, job.context)], **options)[0])
            except Exception as exc:
                outcomes.append(exc)
        return outcomes


def _retry_after(seconds: float) -> int:
    """A Retry-After header's whole seconds: at least 1, at most a minute."""
    return max(1, min(60, math.ceil(seconds)))
