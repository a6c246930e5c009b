"""MCP tool `verify_repo`."""

from __future__ import annotations

import functools
from typing import Annotated

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from papercoder_mcp.errors import PaperCoderError
from papercoder_mcp.pipeline.repair import RepairRound, problems, verify_and_repair, verify_and_store
from papercoder_mcp.server.app import app_of, route_of, sampler_for, suggest_next
from papercoder_mcp.server.offload import off_loop
from papercoder_mcp.stages import StageContext
from papercoder_mcp.stages.inputs import file_order
from papercoder_mcp.tools._params import RunId
from papercoder_mcp.verify.models import Finding, SmokeResult

TITLE = "Verify (and repair) the generated files"
# With smoke, generated code runs (in the sandbox), so this tool is not read-only. There is no
# unsandboxed switch here: only the user, on the command line, can choose to run code without it.
ANNOTATIONS = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)


class VerifyToolResult(BaseModel):
    run_id: str
    passed: bool = Field(description="no error-severity findings")
    findings: list[Finding]
    data_to_provide: list[str]
    smoke: SmokeResult | None = None
    rounds: list[RepairRound] = Field(default_factory=list)
    message: str
    resource: str
    next: list[str] = Field(default_factory=list)


async def verify_repo(
    run_id: RunId,
    ctx: Context,
    smoke: Annotated[
        bool,
        Field(description="also install the requirements and run the tests and smoke mode in the sandbox"),
    ] = False,
    repair_rounds: Annotated[
        int,
        Field(
            ge=0,
            le=5,
            description="rounds of repairs, when the model answers during the call (else see `next`)",
        ),
    ] = 0,
) -> VerifyToolResult:
    """Check the generated repository without running it: compiling, imports (no cycles), requirements,
    config keys, signatures, the main guard and smoke command, placeholders, data to provide.

    With smoke it also runs in the sandbox (requirements, imports, tests, smoke mode); a failure is a
    finding on its traceback's file. With repair_rounds and a model that answers in the call, findings
    are repaired; otherwise `next` lists repair_file calls.
    """
    app = app_of(ctx)
    sctx = StageContext(store=app.store, run_id=run_id)
    rounds: list[RepairRound] = []
    try:
        app.store.get_run(run_id)
        if repair_rounds:
            route, _ = route_of(app, "auto", ctx)
            if route not in ("anthropic", "classic"):
                raise ToolError(
                    "repairs inside verify_repo need a model that answers during the call (the server's API key, "
                    "or a client that samples on a protocol before 2026-07-28); call run_pipeline(run_id), which "
                    "verifies and hands out or asks for the repairs, or repair_file for each file listed"
                )
            sctx.sampler = sampler_for(app, ctx, route, run_id, "", deadline=False)
            report = await verify_and_repair(sctx, rounds=repair_rounds, smoke=smoke)
            verification, rounds, message = report.verification, report.rounds, report.message
        else:
            # Installing and running code blocks: off the event loop, so other clients keep answers.
            verification = await anyio.to_thread.run_sync(
                functools.partial(verify_and_store, sctx, smoke=smoke)
            )
            errors = sum(f.severity == "error" for f in verification.findings)
            message = "verification passed" if verification.passed else f"{errors} error(s) found"
    except ToolError:
        raise
    except PaperCoderError as exc:
        raise ToolError(str(exc)) from exc
    await app.changed(run_id, "verification")
    order = await off_loop(file_order, sctx)
    to_repair = sorted({f.file for f in problems(verification)} & set(order.order))
    next_calls = [f"repair_file(run_id={run_id!r}, path={p!r})" for p in to_repair]
    return VerifyToolResult(
        run_id=run_id,
        passed=verification.passed,
        findings=verification.findings,
        data_to_provide=verification.data_to_provide,
        smoke=verification.smoke,
        rounds=rounds,
        message=message,
        resource=f"papercoder://runs/{run_id}/verification",
        next=next_calls or await off_loop(suggest_next, app.store, run_id),
    )
