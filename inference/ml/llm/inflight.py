"""Keep up to N calls in flight and hand back what finished, with each input's index.

    for done in in_flight(work, items, max_in_flight=8):   # done: [(index, result), ...]
        store(done)                                          # while the next calls run

`work(item)` runs in a bounded pool of threads (an OpenAI-compatible server does the
heavy lifting, so the threads only wait on sockets); `items` is read lazily, one
item per free slot, so a cohort of 400k reports never sits in memory. Each yielded
list is what finished since the last one, in input order within the list; the
window is refilled *before* the list is handed back, so the caller's storage overlaps
the next requests and never stalls the window.

`max_in_flight=1` runs every call in the calling thread, one after another, with no
pool: what the in-process llama.cpp backend needs (one `Llama` is not thread-safe,
and it already uses every core) and what a caller that touches a database
connection per call needs.

An exception raised by `work` stops the run: no new item is started, the calls in
flight are waited for (a thread cannot be killed), and the exception is re-raised to
the caller. Per-item deadlines and retries are `work`'s job (the backends and
inference.services.stage2._predict do both), so a slow item only ever holds its
own slot. Plain Python, no Django.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def in_flight(
    work: Callable[[T], R], items: Iterable[T], *, max_in_flight: int = 8
) -> Iterator[list[tuple[int, R]]]:
    """Yield lists of (input index, result) as calls finish; at most `max_in_flight`
    calls run at once (see the module docstring)."""
    if max_in_flight < 1:
        raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
    numbered = enumerate(items)
    if max_in_flight == 1:
        for index, item in numbered:
            yield [(index, work(item))]
        return
    with ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="llm-in-flight") as pool:
        running: dict[Future[R], int] = {}
        failure: BaseException | None = None

        def refill() -> None:
            for index, item in itertools.islice(numbered, max_in_flight - len(running)):
                running[pool.submit(work, item)] = index

        refill()
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            done: list[tuple[int, R]] = []
            for future in finished:
                index = running.pop(future)
                exc = future.exception()
                if exc is not None:
                    failure = failure or exc
                else:
                    done.append((index, future.result()))
            if failure is None:
                refill()
            done.sort(key=lambda pair: pair[0])
            if done:
                yield done
        if failure is not None:
            raise failure


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
