"""Many users, one model: requests that wait together are answered together.

A worker thread owns the Reader (llama.cpp is not thread-safe). Whenever it is free it takes
every request waiting (up to `max_batch`) and reads them in one `Reader.answer_many`: questions
on the same context share its KV cells, questions on different contexts share the decoding
steps of one llama.cpp batch. A request that arrives while a batch runs joins the next one, so
the wait of a newcomer is bounded by one batch, not by everyone queued before it. The queue is
bounded: a full queue refuses at once (the HTTP layer answers 503 with Retry-After), never
dropping or cancelling what it accepted; a client that goes away before its batch starts
frees its place.
"""

from __future__ import annotations

import collections
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

from edgeqa.reader.answer import Answer


class QueueFull(Exception):
    """The batcher holds `queue_size` requests already."""


@dataclass
class Job:
    question: str
    context: str
    top_k: int
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

    def __init__(self, reader, queue_size: int = 64, max_batch: int = 32, on_batch=None):
        self.reader = reader
        self.queue_size = queue_size
        self.max_batch = max_batch
        self.on_batch = on_batch
        self._waiting: collections.deque[Job] = collections.deque()
        self._condition = threading.Condition()
        self._closed = False
        self._worker = threading.Thread(target=self._work, name="edgeqa-batcher", daemon=True)
        self._worker.start()

    @property
    def depth(self) -> int:
        """Requests waiting for a batch (not those being answered)."""
        return len(self._waiting)

    def submit(self, question: str, context: str, top_k: int = 1) -> Future:
        """A future for the answer (a list when top_k > 1); QueueFull when the queue is full."""
        job = Job(question, context, top_k)
        with self._condition:
            if self._closed:
                raise QueueFull("the server is shutting down")
            if len(self._waiting) >= self.queue_size:
                raise QueueFull(f"{len(self._waiting)} requests are waiting (--queue-size {self.queue_size})")
            self._waiting.append(job)
            self._condition.notify()
        return job.future

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
            batch = []
            while self._waiting and len(batch) < self.max_batch:
                job = self._waiting.popleft()
                if job.future.set_running_or_notify_cancel():  # False: its client went away
                    batch.append(job)
            return batch

    def _work(self) -> None:
        while (batch := self._take()) is not None:
            if batch:
                self._answer(batch)

    def _answer(self, batch: list[Job]) -> None:
        started = time.perf_counter()
        answers: list[Answer] = []
        for top_k in sorted({job.top_k for job in batch}):
            jobs = [job for job in batch if job.top_k == top_k]
            try:
                found = self.reader.answer_many([(job.question, job.context) for job in jobs], top_k=top_k)
            except Exception as exc:  # every job of this batch hears of it; the worker goes on
                for job in jobs:
                    job.future.set_exception(exc)
                continue
            for job, answer in zip(jobs, found, strict=True):
                job.future.set_result(answer)
                answers.append(answer[0] if isinstance(answer, list) else answer)  # one per request
        if self.on_batch is not None:
            self.on_batch(BatchRecord(len(batch), time.perf_counter() - started, answers))
