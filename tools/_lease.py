"""The run lease at the MCP boundary: a pipeline call holds the run while it works on it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from papercoder_mcp.errors import PaperCoderError
from papercoder_mcp.server.app import app_of
from papercoder_mcp.store.lease import RunLease


@contextmanager
def run_lease(ctx: Context, run_id: str) -> Iterator[RunLease]:
    """Hold the run's lease for this call; a run another process (a CLI `full`, another call) is
    working on is refused with a message naming the holder, so no call is paid for twice."""
    try:
        lease = RunLease(app_of(ctx).store, run_id, "MCP run_pipeline").acquire()
    except PaperCoderError as exc:
        raise ToolError(str(exc)) from exc
    try:
        yield lease
    finally:
        lease.release()
