"""A small readers-writer lock.

faiss searches release the GIL and are safe to run concurrently, but add/remove reallocate
inverted lists and flat storage under a running search. Readers share the lock; a writer waits
for running readers to finish and blocks new ones (writer preference, so a steady stream of
searches cannot starve an add).
"""
from __future__ import annotations

import threading
from contextlib import contextmanager


class RWLock:
    """Many concurrent readers or one writer."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0

    @contextmanager
    def read(self):
        with self._cond:
            while self._writer or self._waiting_writers:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self):
        with self._cond:
            self._waiting_writers += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting_writers -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()
