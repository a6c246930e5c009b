"""Agent handoff: a stage's prompt handed to the calling agent, whose answer comes back by submit_artifact.

The handoff id carries everything needed to accept the answer later (run, stage,
file, and the hash of the inputs the prompt was rendered from), so no server
state is kept between the two calls: a restarted server accepts it too, and an
answer to a prompt whose inputs have changed since is refused instead of stored.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from papercoder_mcp.errors import StageError
from papercoder_mcp.resources.originals import page_uri, pdf_uri
from papercoder_mcp.server.client_sampling import find_stage
from papercoder_mcp.stages import Stage, StageContext, StageResult, accept_answer
from papercoder_mcp.stages.answers import language_for
from papercoder_mcp.stages.base import Prepared
from papercoder_mcp.stages.inputs import PREFIX_PARTS

HASH_CHARS = 16


class HandoffRequest(BaseModel):
    """What the agent needs to do a stage's work itself."""

    handoff_id: str = Field(description="pass it to submit_artifact with your answer")
    stage: str
    key: str = ""
    system: str = Field(description="the system prompt the model would get")
    context_resources: list[str] = Field(
        default_factory=list,
        description="read these resources first (they are the shared start of the prompt: the paper, its "
        "original PDF and the pages holding tables, figures and equations as PNG, and the artifacts of "
        "earlier stages); with include_context only the PDF and page images, which cannot be inlined",
    )
    context: str = Field(
        "", description="the shared start of the prompt, when asked for with include_context"
    )
    prompt: str = Field(description="the stage's own instructions: what to write")
    output_contract: str = Field(description="the exact form the answer must take")
    output_schema: dict[str, Any] | None = None


def handoff_id(run_id: str, prepared: Prepared) -> str:
    return "|".join([run_id, prepared.stage, prepared.key, prepared.input_hash[:HASH_CHARS]])


def parse_handoff_id(value: str) -> tuple[str, Stage, str, str]:
    parts = value.split("|")
    stage = find_stage(parts[1]) if len(parts) == 4 else None
    if stage is None or len(parts[3]) != HASH_CHARS:
        raise StageError(f"{value!r} is not a handoff id; use the handoff_id a stage tool returned")
    run_id, _, key, digest = parts
    return run_id, stage, key, digest


def context_uris(run_id: str, prepared: Prepared) -> list[str]:
    base = f"papercoder://runs/{run_id}"
    uris = [f"{base}/paper", *original_uris(run_id, prepared)]
    # The prefix holds the paper then the first N planning artifacts, in PREFIX_PARTS order.
    uris += [f"{base}/{kind}" for kind, _, _ in PREFIX_PARTS[: len(prepared.request.prefix) - 1]]
    return uris


def original_uris(run_id: str, prepared: Prepared) -> list[str]:
    """The original PDF and its pages with tables, figures and display equations: what the API's model
    reads as a document, for the agent to look at (they cannot be inlined as text)."""
    uris: list[str] = []
    for doc in prepared.request.documents:
        uris.append(pdf_uri(run_id))
        uris += [page_uri(run_id, page) for page in doc.visual_pages]
    return uris


def contract(stage: Stage, key: str) -> str:
    if stage.name == "write_config":
        return "the whole config.yaml in one ```yaml fenced block, nothing else"
    if stage.name == "generate_file":
        return f"the whole file {key} in one ```{language_for(key)} fenced block, nothing else"
    if stage.name == "analyze_file":
        return f"a detailed Markdown analysis of {key} (at least a few paragraphs), nothing else"
    return "one JSON object conforming to output_schema (bare, or in a ```json fenced block)"


def make_handoff(run_id: str, stage: Stage, prepared: Prepared, include_context: bool) -> HandoffRequest:
    request = prepared.request
    return HandoffRequest(
        handoff_id=handoff_id(run_id, prepared),
        stage=stage.name,
        key=prepared.key,
        system=request.system,
        context_resources=original_uris(run_id, prepared)
        if include_context
        else context_uris(run_id, prepared),
        context="\n\n".join(request.prefix) if include_context else "",
        prompt=request.prompt,
        output_contract=contract(stage, prepared.key),
        output_schema=request.output_schema,
    )


def submit(ctx: StageContext, handoff: str, content: str) -> StageResult:
    """Validate the agent's answer exactly like a model's and store it."""
    run_id, stage, key, digest = parse_handoff_id(handoff)
    if run_id != ctx.run_id:
        raise StageError(f"handoff {handoff!r} belongs to run {run_id}, not {ctx.run_id}")
    prepared = stage.prepare(ctx, key)
    if not prepared.input_hash.startswith(digest):
        raise StageError(
            f"the inputs of {stage.name}{' ' + key if key else ''} changed after this prompt was handed out; "
            f"call {stage.name} again for a fresh prompt"
        )
    if isinstance(content, (dict, list)):
        content = json.dumps(content)
    return accept_answer(stage, ctx, key, content, expected_hash=prepared.input_hash, source="agent")
