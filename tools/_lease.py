"""The run lease at the MCP boundary: a pipeline call holds the run while it works on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from papercoder_mcp.errors import PaperCoderError
from papercoder_mcp.server.app import app_of
from papercoder_mcp.store.lease import RunLease


@asynccontextmanager
async def run_lease(ctx: Context, run_id: str) -> AsyncIterator[RunLease]:
    """Hold the run's lease for this call; a run another process (a CLI `full`, another call) is
    working on is refused with a message naming the holder, so no call is paid for twice."""
    lease = RunLease(app_of(ctx).store, run_id, "MCP run_pipeline")
    try:
        # A store write that may wait on another process's lock: in a worker thread, and not abandoned
        # on cancellation, so a lease taken just then is let go below instead of heartbeating forever.
        await anyio.to_thread.run_sync(lease.acquire)
    except PaperCoderError as exc:
        raise ToolError(str(exc)) from exc
    except BaseException:
        lease.release()
        raise
    try:
        yield lease
    finally:
        lease.release()
