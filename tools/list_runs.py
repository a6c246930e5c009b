"""MCP tool `list_runs`."""

from __future__ import annotations

from mcp.server.mcpserver import Context

from papercoder_mcp.pipeline.status import is_complete
from papercoder_mcp.server.app import app_of
from papercoder_mcp.server.offload import off_loop
from papercoder_mcp.server.results import RunList, RunSummary
from papercoder_mcp.store import Store
from papercoder_mcp.tools._params import READ_ONLY

TITLE = "List runs"
ANNOTATIONS = READ_ONLY


async def list_runs(ctx: Context) -> RunList:
    """Every run in the store, newest first, with its status and cost. Use a run id with get_run."""
    return await off_loop(_runs, app_of(ctx).store)


def _runs(store: Store) -> RunList:
    return RunList(
        runs=[
            RunSummary(
                run_id=r.id,
                title=r.title,
                status=r.status,
                complete=is_complete(store, r.id),
                source=r.source,
                created_at=r.created_at,
                updated_at=r.updated_at,
                cost_usd=store.total_cost(r.id),
            )
            for r in store.list_runs()
        ]
    )
