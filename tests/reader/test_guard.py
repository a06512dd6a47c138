"""A Reader's turns: callers from several threads take turns, nothing runs after close()."""

import threading
import time

import pytest

from edgeqa.errors import EdgeQAError
from edgeqa.reader.guard import UseGuard


def test_callers_from_other_threads_wait_their_turn_and_never_overlap():
    guard = UseGuard(lambda: None)
    inside, overlaps = [], []

    def call():
        for _ in range(20):
            with guard.turn():
                inside.append(1)
                if len(inside) > 1:
                    overlaps.append(True)
                time.sleep(0.001)
                inside.pop()

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not overlaps and not any(t.is_alive() for t in threads)


def test_a_second_call_from_the_thread_holding_the_turn_is_refused_not_deadlocked():
    guard = UseGuard(lambda: None)
    guard.acquire()
    with pytest.raises(EdgeQAError, match="still answering in this thread"):
        guard.acquire()
    guard.release()
    with guard.turn():
        pass


def test_close_waits_for_the_call_in_progress_then_frees_once_and_refuses_everyone():
    freed = []
    guard = UseGuard(lambda: freed.append(time.perf_counter()))
    holding, release = threading.Event(), threading.Event()

    def long_call():
        with guard.turn():
            holding.set()
            release.wait(10)

    worker = threading.Thread(target=long_call)
    worker.start()
    holding.wait(10)
    closer = threading.Thread(target=guard.close)
    closer.start()
    closer.join(0.2)
    assert closer.is_alive() and not freed  # the engine is in use: not freed under it
    release.set()
    closer.join(10)
    worker.join(10)
    assert len(freed) == 1 and guard.closed
    with pytest.raises(EdgeQAError, match=r"^this Reader is closed$"):
        guard.acquire()
    guard.close()
    assert len(freed) == 1


def test_closing_from_inside_a_turn_frees_when_the_turn_ends():
    freed = []
    guard = UseGuard(lambda: freed.append(True))
    guard.acquire()
    guard.close()
    assert not freed
    guard.release()
    assert freed == [True]


def test_a_waiting_caller_hears_of_the_close():
    guard = UseGuard(lambda: None)
    guard.acquire()
    errors = []

    def waiting_call():
        try:
            guard.acquire()
        except EdgeQAError as exc:
            errors.append(str(exc))

    waiter = threading.Thread(target=waiting_call)
    waiter.start()
    time.sleep(0.05)
    closer = threading.Thread(target=guard.close)
    closer.start()
    waiter.join(10)
    assert errors == ["this Reader is closed"]
    guard.release()
    closer.join(10)
    assert not closer.is_alive()
