"""Blocking work called from a tool runs in a worker thread, never on the server's event loop.

Parsing a paper, verification, a smoke run, export (git), building an evaluation's context and the
store's own waits on a busy database are CPU- or disk-bound; run on the event loop they would hold
up every other client of the server until they finish. `off_loop` is the one place tools hand such
work to `anyio.to_thread`. A cancelled call returns at once (`abandon_on_cancel`); the worker thread
finishes its step in the background, and the store's transactions keep that step whole.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import anyio.to_thread

P = ParamSpec("P")
T = TypeVar("T")

# Worker threads for blocking tool work; a few, so one slow call does not queue every other one.
_LIMITER: anyio.CapacityLimiter | None = None


def _limiter() -> anyio.CapacityLimiter:
    global _LIMITER
    if _LIMITER is None:
        _LIMITER = anyio.CapacityLimiter(8)
    return _LIMITER


async def off_loop(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """`fn(*args, **kwargs)` in a worker thread; its exceptions are raised here as they are."""
    return await anyio.to_thread.run_sync(
        functools.partial(fn, *args, **kwargs), abandon_on_cancel=True, limiter=_limiter()
    )
