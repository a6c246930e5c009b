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
from papercoder_mcp.ids import DIGEST_CHARS, HandoffId, RequestKey
from papercoder_mcp.paths import normalize_repo_path
from papercoder_mcp.pipeline.answers import AnswerBook, conversation_hash
from papercoder_mcp.resources.originals import page_uri, pdf_uri
from papercoder_mcp.samplers.base import SampleRequest, Turn
from papercoder_mcp.server.client_sampling import find_stage
from papercoder_mcp.stages import Stage, StageContext, StageResult, accept_answer
from papercoder_mcp.stages.answers import language_for
from papercoder_mcp.stages.base import Prepared
from papercoder_mcp.stages.inputs import PREFIX_PARTS


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
    conversation: list[Turn] = Field(
        default_factory=list,
        description="turns after the prompt, when this step is a continuation (your earlier answer, then what "
        "to change); answer the last one",
    )
    output_contract: str = Field(description="the exact form the answer must take")
    output_schema: dict[str, Any] | None = None


def handoff_id(run_id: str, prepared: Prepared) -> str:
    return HandoffId(
        run_id=run_id, stage=prepared.stage, key=prepared.key, digest=prepared.input_hash[:DIGEST_CHARS]
    ).encode()


def parse_handoff_id(value: str) -> tuple[str, Stage, str, str]:
    hid = HandoffId.decode(value)
    stage = find_stage(hid.stage)
    if stage is None or len(hid.digest) != DIGEST_CHARS:
        raise StageError(f"{value[:80]!r} is not a handoff id; use the handoff_id a stage tool returned")
    if stage.per_file and normalize_repo_path(hid.key) != hid.key:
        # Keys are handed out normalised; one that is not was written by hand, not by a stage tool.
        raise StageError(f"{value[:80]!r} is not a handoff id; use the handoff_id a stage tool returned")
    return hid.run_id, stage, hid.key, hid.digest


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


def contract(stage: Stage, key: str, schema: dict[str, Any] | None) -> str:
    """The answer's form, from what the stage's parser accepts (a schema only when there is one)."""
    if schema is not None:
        return "one JSON object conforming to output_schema (bare, or in a ```json fenced block)"
    if stage.kind == "config":
        return "the whole config.yaml in one ```yaml fenced block, nothing else"
    if stage.kind == "code":
        whole = f"the whole file {key} in one ```{language_for(key)} fenced block, nothing else"
        return whole + (
            " (or the single word UNCHANGED, when no change is due)" if stage.name == "repair_file" else ""
        )
    if stage.kind == "analysis":
        return f"a detailed Markdown analysis of {key} (at least a few paragraphs), nothing else"
    return "the answer the prompt asks for, as plain text"


# The stage prompts speak of "the paper above": with the context in resources, nothing is above.
CONTEXT_IN_RESOURCES = (
    'The shared context this prompt refers to as "above" (the paper and the earlier artifacts) is not '
    "inlined here: read every resource listed in context_resources first, in order, then do the following.\n\n"
)


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
        prompt=request.prompt if include_context else CONTEXT_IN_RESOURCES + request.prompt,
        output_contract=contract(stage, prepared.key, request.output_schema),
        output_schema=request.output_schema,
    )


def make_step_handoff(run_id: str, request: SampleRequest, include_context: bool) -> HandoffRequest:
    """A step the scheduler validates itself (a refinement's critique or improvement, a re-asked step):
    the answer is kept by the question it answers, and the next run_pipeline call takes it."""
    from papercoder_mcp.stages.refine import split_key

    hid = HandoffId(
        run_id=run_id,
        stage=request.stage,
        key=request.key,
        digest=conversation_hash(request)[:DIGEST_CHARS],
        by_question=True,
    )
    stage = find_stage(request.stage)
    if stage is None and request.stage == "improve":
        stage = split_key(request.key)[0]
    key = split_key(request.key)[1] if request.stage in ("critique", "improve") else request.key
    prepared = Prepared(stage=request.stage, key=request.key, request=request, input_hash=hid.digest)
    return HandoffRequest(
        handoff_id=hid.encode(),
        stage=request.stage,
        key=request.key,
        system=request.system,
        context_resources=[] if include_context else context_uris(run_id, prepared),
        context="\n\n".join(request.prefix) if include_context else "",
        prompt=request.prompt if include_context else CONTEXT_IN_RESOURCES + request.prompt,
        conversation=request.followups,
        output_contract=contract(stage, key, request.output_schema)
        if stage is not None
        else contract_for_schema(request.output_schema),
        output_schema=request.output_schema,
    )


def contract_for_schema(schema: dict[str, Any] | None) -> str:
    if schema is not None:
        return "one JSON object conforming to output_schema (bare, or in a ```json fenced block)"
    return "the answer the prompt asks for, as plain text"


def keep_answer(ctx: StageContext, hid: HandoffId, content: str) -> None:
    """Keep the agent's answer to a step the scheduler validates itself, by the question it answers."""
    if hid.run_id != ctx.run_id:
        raise StageError(f"this handoff belongs to run {hid.run_id}, not {ctx.run_id}")
    AnswerBook(ctx.store, ctx.run_id).put(
        RequestKey(stage=hid.stage, key=hid.key, digest=hid.digest), content, model="agent"
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
            f"call {getattr(stage, 'tool', stage.name)} again for a fresh prompt"
        )
    if isinstance(content, (dict, list)):
        content = json.dumps(content)
    return accept_answer(stage, ctx, key, content, expected_hash=prepared.input_hash, source="agent")
