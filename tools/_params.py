"""Argument types shared by the tools: the type hints and descriptions are the tools' input schema."""

from __future__ import annotations

from typing import Annotated

from mcp.types import ToolAnnotations
from pydantic import Field

from papercoder_mcp.server.app import SamplerMode

RunId = Annotated[str, Field(description="run id (from parse_paper or list_runs)")]
FilePath = Annotated[str, Field(description="a file of the run's file order, e.g. 'model.py'")]
Guidance = Annotated[
    str | None,
    Field(description="instructions for this stage's prompt, kept with the run ('' clears)"),
]
Sampler = Annotated[
    SamplerMode,
    Field(description="model source; auto: server key, else client sampling, else handoff"),
]
Force = Annotated[bool, Field(description="make a new version even if the current one is fresh")]
IncludeContext = Annotated[
    bool,
    Field(description="handoff: inline the context instead of listing resources"),
]

# Stage tools call a model (open world) and add a version (not idempotent), but destroy nothing.
STAGE_ANNOTATIONS = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)
READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
