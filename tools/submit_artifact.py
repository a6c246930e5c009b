"""MCP tool `submit_artifact`."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from papercoder_mcp.errors import PaperCoderError, ValidationFailed
from papercoder_mcp.ids import HandoffId
from papercoder_mcp.server.app import app_of, shape_result
from papercoder_mcp.server.handoff import keep_answer, parse_handoff_id, submit
from papercoder_mcp.server.offload import off_loop
from papercoder_mcp.server.results import StageToolResult
from papercoder_mcp.stages import StageContext

TITLE = "Submit your answer to a handed-off stage"
ANNOTATIONS = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
)


async def submit_artifact(
    handoff_id: Annotated[str, Field(description="the handoff_id a stage tool or run_pipeline returned")],
    content: Annotated[str, Field(description="your answer, exactly in the handoff's output_contract form")],
    ctx: Context,
) -> StageToolResult:
    """Send the answer you wrote for a handed-off step; it is validated like a model's answer and stored.

    On a validation error nothing is stored and every problem is listed: fix them and submit again.
    """
    app = app_of(ctx)
    try:
        hid = HandoffId.decode(handoff_id)
        if hid.by_question:
            keep_answer(StageContext(store=app.store, run_id=hid.run_id), hid, content)
            return StageToolResult(
                run_id=hid.run_id,
                stage=hid.stage,
                key=hid.key,
                status="done",
                sampler="agent",
                note="kept; run_pipeline validates it as the next step and hands out what follows",
                next=[f"run_pipeline(run_id={hid.run_id!r})"],
            )
        run_id, stage, key, _ = parse_handoff_id(handoff_id)
        result = await off_loop(submit, StageContext(store=app.store, run_id=run_id), handoff_id, content)
    except ValidationFailed as exc:
        problems = "\n".join(f"- {e}" for e in exc.errors) or str(exc)
        raise ToolError(
            f"the answer was not stored; fix these problems and submit again:\n{problems}"
        ) from exc
    except PaperCoderError as exc:
        raise ToolError(str(exc)) from exc
    await app.changed(run_id, stage.kind, key)
    shaped = await off_loop(shape_result, app, run_id, result, "agent")
    # The agent wrote the answer: echoing it back would cost its context the answer twice (a 500-line
    # file is ~20 KB). What was stored, normalised, is at the resource.
    shaped.content = ""
    shaped.note = f"stored as version {shaped.version} of {shaped.resource} (not repeated here)"
    if getattr(stage, "tool", stage.name) == "evaluate_repo":
        # A grading answer is one part of an evaluation: the run's own next steps are beside the point.
        shaped.next = [
            "submit_artifact(handoff_id=..., content=...) for the evaluation's other handoffs",
            f"evaluate_repo(run_id={run_id!r}, ...) with the same arguments, to aggregate",
        ]
    return shaped
