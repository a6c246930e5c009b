"""What the MCP tools return: pydantic models, so clients get structured content and an output schema."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from papercoder_mcp.pipeline.orchestrator import StepOutcome
from papercoder_mcp.pipeline.status import RunStatus
from papercoder_mcp.server.handoff import HandoffRequest

StageStatus = Literal["done", "reused", "handoff"]


class StageToolResult(BaseModel):
    run_id: str
    stage: str
    key: str = ""
    status: StageStatus = Field(
        description="done: new version made; reused: already fresh; handoff: write it yourself, then "
        "submit_artifact"
    )
    sampler: str = Field("", description="where the model came from: anthropic, mcp-sampling, agent")
    version: int | None = None
    resource: str = Field("", description="the artifact's resource URI")
    content: str = Field("", description="the artifact (JSON, YAML, Markdown or code)")
    cost_usd: float | None = Field(None, description="cost of the model calls made now; None when unknown")
    warnings: list[str] = Field(default_factory=list)
    handoff: HandoffRequest | None = None
    note: str = ""
    next: list[str] = Field(default_factory=list, description="tool calls that make sense next")


class ParseResult(BaseModel):
    run_id: str
    title: str
    authors: list[str]
    source_format: str
    pages: int
    outline: list[str]
    characters: int
    tokens: int = Field(description="estimated tokens of the paper as Markdown")
    tokens_without_references: int = Field(
        description="estimated tokens of the paper as prompts carry it: no references, acknowledgements, "
        "checklists (the warnings say what was left out)"
    )
    warnings: list[str]
    resource: str
    next: list[str]


# verified: complete (every step fresh, current verification passed); partial: call again to continue;
# handoff: the steps in `handoffs` are yours to answer; failed / budget_exceeded: see message.
PipelineOutcome = Literal["verified", "failed", "budget_exceeded", "partial", "handoff"]


class PipelineToolResult(BaseModel):
    run_id: str
    status: PipelineOutcome
    message: str
    done: int = Field(description="steps done (fresh) so far")
    total: int = Field(description="steps known so far (grows once the file list is known)")
    cost_usd: float
    sampler: str
    steps: list[StepOutcome] = Field(default_factory=list, description="what this call did, step by step")
    handoffs: list[HandoffRequest] = Field(
        default_factory=list, description="in handoff mode: the steps you can do now, each to submit_artifact"
    )
    next: list[str] = Field(default_factory=list)


class RunSummary(BaseModel):
    run_id: str
    title: str
    status: str = Field(description="lifecycle: created, running, needs-input, verified, failed, exported")
    complete: bool = Field(description="every step done and fresh and the current verification passed")
    source: str
    created_at: str
    updated_at: str
    cost_usd: float


class RunList(BaseModel):
    runs: list[RunSummary]


class RunReport(RunStatus):
    resources: list[str] = Field(default_factory=list)
