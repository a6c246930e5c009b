"""The priority limiter serves critical work first and never exceeds its capacity."""

from __future__ import annotations

import anyio
import pytest

from papercoder_mcp.pipeline.scheduling import PriorityLimiter, chain_lengths

pytestmark = pytest.mark.anyio


async def test_waiters_are_served_by_priority_not_arrival() -> None:
    limiter = PriorityLimiter(1)
    served: list[str] = []
    gate = anyio.Event()

    async def hold() -> None:
        async with limiter.slot((0,)):
            await gate.wait()

    async def job(name: str, priority: tuple[int, ...]) -> None:
        async with limiter.slot(priority):
            served.append(name)

    async with anyio.create_task_group() as tg:
        tg.start_soon(hold)
        await anyio.sleep(0.01)
        for name, prio in [("analysis-short", (1, -1)), ("analysis-long", (1, -4)), ("generate", (0, -2))]:
            tg.start_soon(job, name, prio)
            await anyio.sleep(0.01)
        gate.set()
    assert served == ["generate", "analysis-long", "analysis-short"]


async def test_capacity_is_never_exceeded_and_cancelled_waiters_give_their_place_back() -> None:
    limiter = PriorityLimiter(2)
    running = peak = 0

    async def job() -> None:
        nonlocal running, peak
        async with limiter.slot((0,)):
            running += 1
            peak = max(peak, running)
            await anyio.sleep(0.005)
            running -= 1

    with anyio.move_on_after(0.001):
        async with limiter.slot((0,)), limiter.slot((0,)):
            async with limiter.slot((0,)):  # waits, then is cancelled
                pass
    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(job)
    assert peak == 2


def test_chain_lengths_count_the_longest_chain_of_dependents() -> None:
    deps = {
        "utils.py": [],
        "model.py": ["utils.py"],
        "train.py": ["model.py"],
        "main.py": ["train.py", "utils.py"],
    }
    assert chain_lengths(deps) == {"utils.py": 4, "model.py": 3, "train.py": 2, "main.py": 1}
