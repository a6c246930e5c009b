"""Argument types shared by the tools: the type hints and descriptions are the tools' input schema."""

from __future__ import annotations

from typing import Annotated

from mcp.types import ToolAnnotations
from pydantic import Field

from papercoder_mcp.server.app import SamplerMode

RunId = Annotated[str, Field(description="the run id parse_paper returned (see list_runs)")]
FilePath = Annotated[str, Field(description="a file of the run's file order, e.g. 'model.py'")]
Guidance = Annotated[
    str | None,
    Field(
        description="optional instructions for this stage that go into its prompt and are kept with the run, "
        "e.g. 'use PyTorch Lightning' or 'the dataset is at data/'; an empty string clears earlier guidance"
    ),
]
Sampler = Annotated[
    SamplerMode,
    Field(
        description="where the model comes from: auto (server API key, else the client's sampling, else "
        "handoff to you), anthropic, sampling, or handoff (you write the answer and call submit_artifact)"
    ),
]
Force = Annotated[bool, Field(description="make a new version even if the current one matches its inputs")]
IncludeContext = Annotated[
    bool,
    Field(
        description="handoff only: put the full shared context (paper and earlier artifacts) in the result "
        "instead of listing the resources to read"
    ),
]

# Stage tools call a model (open world) and add a version (not idempotent), but destroy nothing.
STAGE_ANNOTATIONS = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)
READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
