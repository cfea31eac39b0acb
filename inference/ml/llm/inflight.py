"""Keep up to N calls in flight and hand back what finished, with each input's index.

    for done in in_flight(work, items, max_in_flight=8):   # done: [(index, result), ...]
        store(done)                                          # while the next calls run

`work(item)` runs on `max_in_flight` threads (an OpenAI-compatible server does the
heavy lifting, so the threads only wait on sockets). `items` is read on the calling
thread, lazily, at most `max_in_flight + read_ahead` items beyond those handed back,
so a cohort of 400k reports never sits in memory and the caller may read its
database there. Each yielded list is what finished since the last one, in input
order within the list. The threads take their next item from the read-ahead queue,
not from the caller: while the caller stores one list (a few queries), the window
stays full, so storage never stalls the requests in flight.

`max_in_flight=1` runs every call in the calling thread, one after another, with no
threads: what the in-process llama.cpp backend needs (one `Llama` is not
thread-safe, and it already uses every core) and what a caller that touches a
database connection per call needs.

An exception raised by `work` stops the run: no new item is started, the calls in
flight are waited for (a thread cannot be killed), and the exception is re-raised to
the caller; closing the generator early stops it the same way. Per-item deadlines
and retries are `work`'s job (the backends and inference.services.stage2._predict
do both), so a slow item only ever holds its own slot. Plain Python, no Django.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_STOP: Any = object()


def in_flight(
    work: Callable[[T], R], items: Iterable[T], *, max_in_flight: int = 8, read_ahead: int | None = None
) -> Iterator[list[tuple[int, R]]]:
    """Yield lists of (input index, result) as calls finish; at most `max_in_flight`
    calls run at once, and at most `read_ahead` (default: `max_in_flight`) more items
    wait read (see the module docstring)."""
    if max_in_flight < 1:
        raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
    numbered = enumerate(items)
    if max_in_flight == 1:
        for index, item in numbered:
            yield [(index, work(item))]
        return
    window = max_in_flight + (max_in_flight if read_ahead is None else read_ahead)
    todo: queue.SimpleQueue[Any] = queue.SimpleQueue()
    finished: queue.SimpleQueue[tuple[int, bool, Any]] = queue.SimpleQueue()
    stopping = threading.Event()

    def worker() -> None:
        while True:
            task = todo.get()
            if task is _STOP:
                return
            index, item = task
            if stopping.is_set():
                finished.put((index, False, None))  # not started: the run is stopping
                continue
            try:
                finished.put((index, True, work(item)))
            except BaseException as exc:  # handed to the caller's thread
                finished.put((index, False, exc))

    threads = [
        threading.Thread(target=worker, name=f"llm-in-flight-{i}", daemon=True) for i in range(max_in_flight)
    ]
    for thread in threads:
        thread.start()
    outstanding = 0
    exhausted = False
    failure: BaseException | None = None

    def feed() -> None:
        nonlocal outstanding, exhausted
        while not exhausted and outstanding < window:
            task = next(numbered, None)
            if task is None:
                exhausted = True
                return
            todo.put(task)
            outstanding += 1

    try:
        feed()
        while outstanding:
            results = [finished.get()]
            while True:
                try:
                    results.append(finished.get_nowait())
                except queue.Empty:
                    break
            outstanding -= len(results)
            done: list[tuple[int, R]] = []
            for index, ok, value in results:
                if ok:
                    done.append((index, value))
                elif value is not None:
                    failure = failure or value
            if failure is not None:
                stopping.set()
                continue  # collect what is in flight, start nothing new
            feed()
            if done:
                done.sort(key=lambda pair: pair[0])
                yield done
        if failure is not None:
            raise failure
    finally:
        stopping.set()
        for _ in threads:
            todo.put(_STOP)
        for thread in threads:
            thread.join()


def in_order(batches: Iterable[list[tuple[int, R]]]) -> Iterator[tuple[int, R]]:
    """The results of `in_flight` in input order (holds back early finishers until the
    ones before them are done): for callers whose consumer must see inputs in order."""
    waiting: dict[int, R] = {}
    following = 0
    for batch in batches:
        waiting.update(batch)
        while following in waiting:
            yield following, waiting.pop(following)
            following += 1
