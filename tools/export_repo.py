"""MCP tool `export_repo`."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from papercoder_mcp.errors import PaperCoderError, RunIncomplete
from papercoder_mcp.pipeline.export import ExportResult
from papercoder_mcp.pipeline.export import export_repo as export
from papercoder_mcp.server.app import app_of
from papercoder_mcp.server.offload import off_loop
from papercoder_mcp.tools._params import RunId

TITLE = "Write the repository to a directory"
# With force it replaces an earlier export in the same directory (never a directory it did not write).
ANNOTATIONS = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)


async def export_repo(
    run_id: RunId,
    out_dir: Annotated[str, Field(description="directory on the server's machine; must be empty or absent")],
    ctx: Context,
    force: Annotated[bool, Field(description="replace an earlier export in out_dir (nothing else)")] = False,
    allow_findings: Annotated[
        bool,
        Field(description="export even though verification errors remain (they are listed in the README)"),
    ] = False,
) -> ExportResult:
    """Write a complete run's repository: code, config.yaml, requirements.txt, README.md, reproduce.sh,
    a git commit. Refuses missing, stale or failing files (allow_findings overrides failing
    verification) and paths leaving out_dir. Nothing is executed.
    """
    try:
        return await off_loop(
            export, app_of(ctx).store, run_id, out_dir, force=force, allow_findings=allow_findings
        )
    except RunIncomplete as exc:
        how = (
            "Repair it: run_pipeline(run_id) verifies and repairs, or call repair_file for each file "
            "verify_repo names; or export anyway with allow_findings=true (the errors go into the README)."
            if exc.verification_only
            else "Continue it with run_pipeline(run_id); get_run shows what is left."
        )
        raise ToolError(f"{exc} {how}") from exc
    except PaperCoderError as exc:
        raise ToolError(str(exc)) from exc
