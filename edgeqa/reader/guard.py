"""One caller at a time on a Reader, and nothing after close().

llama.cpp's context is not thread-safe, and a freed one is a dangling pointer: two threads
decoding at once, or a call after close(), crash the whole process (an abort or a segmentation
fault), not just the caller. So every use of the engine takes its turn here. Callers from other
threads wait (a Reader shared by a threaded web app serialises its requests); a second call
from the thread that already holds the turn (a stream() left open) is refused, since waiting
would deadlock; a closed Reader refuses everyone. The turn is a flag, not a lock, so a stream
abandoned in one thread may be finished from another.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from edgeqa.errors import EdgeQAError

CLOSED = "this Reader is closed"


class UseGuard:
    """Turns on one engine; `free` runs once, when the guard is closed and no turn is held."""

    def __init__(self, free: Callable[[], None]):
        self._free = free
        self._changed = threading.Condition()
        self._holder: int | None = None  # the thread holding the turn
        self._closed = False
        self._freed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def acquire(self) -> None:
        """Wait for the turn; EdgeQAError when the Reader is closed or this thread holds it."""
        me = threading.get_ident()
        with self._changed:
            if self._closed:
                raise EdgeQAError(CLOSED)
            if self._holder == me:
                raise EdgeQAError(
                    "this Reader is still answering in this thread (an unfinished stream()?): "
                    "finish or close that first"
                )
            while self._holder is not None and not self._closed:
                self._changed.wait()
            if self._closed:
                raise EdgeQAError(CLOSED)
            self._holder = me

    def release(self) -> None:
        with self._changed:
            self._holder = None
            self._changed.notify_all()
            self._free_if_closed()

    @contextmanager
    def turn(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def close(self) -> None:
        """Refuse every later call; free the engine once the call in progress (if any) ends.

        From another thread this waits for that call; from the thread holding the turn (inside
        a stream) the engine is freed when the turn is released."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            if self._holder not in (None, threading.get_ident()):
                self._changed.wait_for(lambda: self._holder is None)
            self._free_if_closed()

    def _free_if_closed(self) -> None:
        if self._closed and self._holder is None and not self._freed:
            self._freed = True
            self._free()
