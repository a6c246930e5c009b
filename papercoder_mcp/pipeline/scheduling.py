"""A concurrency limit that serves waiters by priority instead of arrival order.

With a plain FIFO limiter, the generation at the head of the longest dependency
chain can wait behind analyses of files nobody waits for, which delays the whole
run by a call. Priorities put critical work first: generations before analyses,
and within each, files with the longest chain of dependents first.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio


class PriorityLimiter:
    def __init__(self, capacity: int) -> None:
        self._free = capacity
        self._waiters: list[tuple[tuple[int, ...], int, anyio.Event]] = []
        self._seq = itertools.count()

    @asynccontextmanager
    async def slot(self, priority: tuple[int, ...]) -> AsyncIterator[None]:
        """Hold one of the slots; lower `priority` tuples are served first."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
        else:
            entry = (priority, next(self._seq), anyio.Event())
            heapq.heappush(self._waiters, entry)
            try:
                await entry[2].wait()
            except BaseException:
                if entry[2].is_set():
                    self._release()  # the slot was handed over just as we were cancelled
                else:
                    self._waiters.remove(entry)
                    heapq.heapify(self._waiters)
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        if self._waiters:
            heapq.heappop(self._waiters)[2].set()  # hand the slot over directly
        else:
            self._free += 1


def chain_lengths(depends_on: dict[str, list[str]]) -> dict[str, int]:
    """For each file, the number of files on the longest chain of dependents starting at it (itself included)."""
    dependents: dict[str, list[str]] = {f: [] for f in depends_on}
    for f, deps in depends_on.items():
        for d in deps:
            dependents.setdefault(d, []).append(f)
    memo: dict[str, int] = {}

    def length(f: str) -> int:
        if f not in memo:
            memo[f] = 1 + max((length(g) for g in dependents.get(f, [])), default=0)
        return memo[f]

    return {f: length(f) for f in depends_on}
