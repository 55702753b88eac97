"""An ordered, bounded map over a thread pool: decode photo k+1.. while the model runs photo k.

``concurrent.futures.Executor.map`` submits the whole input at once, which for a 100 000-photo
ingestion would hold every decoded tensor in memory; this keeps at most ``ahead`` items in flight
and refills one slot each time the consumer takes one. Failures are captured per item so one bad
file never stops the stream.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator


@dataclass
class Outcome:
    """The result of ``fn(items[index])``: ``value``, or the ``error`` it raised."""

    index: int
    value: Any = None
    error: BaseException | None = None


def _capture(fn: Callable, item: Any) -> tuple[Any, BaseException | None]:
    try:
        return fn(item), None
    except Exception as exc:  # per-item failure is data, not control flow
        return None, exc


def ordered_prefetch(fn: Callable, items: Iterable, *, workers: int, ahead: int) -> Iterator[Outcome]:
    """Yield ``Outcome(i, fn(item_i))`` in input order, computing up to ``ahead`` items early."""
    source = enumerate(items)
    pending: deque[tuple[int, Future]] = deque()
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="clip-decode")

    def submit_next() -> None:
        for index, item in source:
            pending.append((index, pool.submit(_capture, fn, item)))
            return

    try:
        for _ in range(max(1, ahead)):
            submit_next()
        while pending:
            index, future = pending.popleft()
            submit_next()
            value, error = future.result()
            yield Outcome(index, value, error)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def chunked(outcomes: Iterable[Outcome], size: int, *, first: int | None = None) -> Iterator[list[Outcome]]:
    """Group a stream into lists of ``size`` (the last may be shorter; the first has ``first``).

    A short first chunk lets the model start after a few decodes instead of a whole batch: the
    only part of a run where decoding cannot overlap the forward pass is that first wait.
    """
    chunk: list[Outcome] = []
    target = first or size
    for outcome in outcomes:
        chunk.append(outcome)
        if len(chunk) == target:
            yield chunk
            chunk, target = [], size
    if chunk:
        yield chunk
