"""Hands job tasks to a worker once the current transaction has committed.

Modes (settings.TASKS_MODE): "celery" sends to the named queue; "thread" runs the task body in an
in-process worker thread per queue (embedded mode, no broker); "inline" runs it in the caller at
commit (unit tests). The task body is the same in all three.
"""
import heapq
import itertools
import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections, transaction

log = logging.getLogger(__name__)


def enqueue(task, *, countdown: float = 0, **kwargs) -> None:
    """Sends `task(**kwargs)` (ids only, e.g. job_id=) once the current transaction commits."""
    transaction.on_commit(lambda: send_now(task, countdown=countdown, **kwargs))


def send_now(task, *, countdown: float = 0, **kwargs) -> None:
    mode = settings.TASKS_MODE
    if mode == "celery":
        task.apply_async(kwargs=kwargs, queue=task.queue_name, countdown=countdown or None)
    elif mode == "thread":
        ThreadWorker.for_queue(task.queue_name).submit(task, kwargs, countdown)
    elif mode == "inline":
        task.run(**kwargs)
    else:
        raise RuntimeError(f"unknown ATELIER_TASKS_MODE {mode!r}: use celery, thread or inline")


class ThreadWorker:
    """One daemon thread per queue, so io work never waits behind model work."""

    _workers: dict[str, "ThreadWorker"] = {}
    _lock = threading.Lock()

    def __init__(self, queue: str):
        self.queue = queue
        self._heap: list = []
        self._counter = itertools.count()
        self._cv = threading.Condition()
        self._busy = False
        self._thread = threading.Thread(target=self._loop, name=f"atelier-worker-{queue}", daemon=True)
        self._thread.start()

    @classmethod
    def for_queue(cls, queue: str) -> "ThreadWorker":
        with cls._lock:
            if queue not in cls._workers:
                cls._workers[queue] = cls(queue)
            return cls._workers[queue]

    @classmethod
    def all_idle(cls) -> bool:
        return all(w.idle() for w in list(cls._workers.values()))

    def submit(self, task, kwargs: dict, countdown: float) -> None:
        with self._cv:
            heapq.heappush(self._heap, (time.monotonic() + countdown, next(self._counter), task, kwargs))
            self._cv.notify()

    def idle(self) -> bool:
        with self._cv:
            return not self._heap and not self._busy

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._cv.wait(timeout=None if not self._heap else max(0.0, self._heap[0][0] - time.monotonic()))
                _, _, task, kwargs = heapq.heappop(self._heap)
                self._busy = True
            try:
                close_old_connections()
                task.run(**kwargs)
            except Exception:
                log.exception("in-process task %s failed (%s)", task.name, kwargs)
            finally:
                close_old_connections()
                with self._cv:
                    self._busy = False
