"""Rows of the artifact store as pydantic models: runs, artifact versions, LLM calls, cost summaries."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field

CallStatus = Literal["done", "in_flight", "interrupted"]
ArtifactFormat = Literal["markdown", "json", "yaml", "text", "python", "code", "base64"]


class Run(BaseModel):
    id: str
    title: str = ""
    source: str = ""
    source_hash: str = ""
    status: str = "created"
    settings: dict[str, Any] = Field(default_factory=dict)
    created_at: str
    updated_at: str


class Artifact(BaseModel):
    run_id: str
    kind: str
    key: str = ""
    version: int
    content: str
    format: str = "text"
    input_hash: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: str

    def json_content(self) -> Any:
        return json.loads(self.content)


class CallRecord(BaseModel):
    """One LLM call (or one attempt of it) as the store keeps it."""

    run_id: str
    stage: str
    key: str = ""
    sampler: str
    model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float | None = Field(None, description="None when the model's price is unknown")
    latency_s: float = 0.0
    stop_reason: str = ""
    attempt: int = 1
    error: str = ""
    request_hash: str = ""
    status: CallStatus = Field(
        "done",
        description="in_flight: logged before the request was sent and never completed (the process died); "
        "interrupted: cancelled before an answer came back; in both the tokens are unknown",
    )
    id: int | None = None
    created_at: str = ""


class StageCost(BaseModel):
    stage: str
    calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float
    unpriced_calls: int = Field(0, description="calls whose model has no known price; not in cost_usd")
    unfinished_calls: int = Field(
        0, description="calls sent but never completed (killed or cancelled): possibly billed, tokens unknown"
    )


class CostSummary(BaseModel):
    run_id: str
    total_usd: float
    calls: int
    unpriced_calls: int
    unfinished_calls: int = 0
    by_stage: list[StageCost]
