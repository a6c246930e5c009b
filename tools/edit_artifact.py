"""MCP tool `edit_artifact`."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from papercoder_mcp.errors import PaperCoderError, ValidationFailed
from papercoder_mcp.paths import normalize_repo_path
from papercoder_mcp.pipeline.edits import edit_artifact as edit
from papercoder_mcp.server.app import app_of, shape_result
from papercoder_mcp.server.offload import off_loop
from papercoder_mcp.server.results import StageToolResult
from papercoder_mcp.tools._params import RunId

TITLE = "Store a corrected artifact"
ANNOTATIONS = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
)

Kind = Literal["paper", "plan", "architecture", "file_order", "config", "analysis", "code"]


async def edit_artifact(
    run_id: RunId,
    kind: Annotated[Kind, Field(description="which artifact to replace")],
    content: Annotated[
        str,
        Field(
            description="the whole new content: JSON for plan/architecture/file_order, YAML for config, "
            "Markdown for paper/analysis, source code for code"
        ),
    ],
    ctx: Context,
    path: Annotated[str, Field(description="the file, for kind analysis or code")] = "",
) -> StageToolResult:
    """Store your corrected version of any artifact as its new current version (history is kept).

    Validated like a model's answer. Everything downstream becomes stale and is redone by the next
    run_pipeline (or stage call), but for code: the files after an edited file are kept. The edit
    itself is never overwritten.
    """
    app = app_of(ctx)
    try:
        key = normalize_repo_path(path) if kind in ("analysis", "code") else ""
        result = await off_loop(edit, app.store, run_id, kind, content, key)
    except ValidationFailed as exc:
        problems = "\n".join(f"- {e}" for e in exc.errors) or str(exc)
        raise ToolError(f"the edit was not stored; fix these problems:\n{problems}") from exc
    except PaperCoderError as exc:
        raise ToolError(str(exc)) from exc
    await app.changed(run_id, kind, key)
    return await off_loop(shape_result, app, run_id, result, "edit")
