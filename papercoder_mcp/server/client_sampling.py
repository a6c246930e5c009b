"""Client sampling: the MCP request forms, and the 2026-07-28 rounds the evaluation tools use.

A tool returns `InputRequiredResult` with one `CreateMessageRequest` per step;
the client answers them (concurrently) with its own model and calls the tool
again with the answers in `input_responses`. Request keys name the step and the
hash of the inputs the prompt was rendered from, so an answer is only accepted
for the prompt it answers. Re-ask transcripts ride in `request_state`, so the
server keeps nothing between rounds.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from typing import Any

import anyio
from mcp.types import (
    CreateMessageRequest,
    CreateMessageRequestParams,
    CreateMessageResult,
    ImageContent,
    ModelPreferences,
    SamplingMessage,
    TextContent,
)
from pydantic import BaseModel, Field

from papercoder_mcp import prompts
from papercoder_mcp.errors import StageError, ValidationFailed
from papercoder_mcp.ids import RequestKey
from papercoder_mcp.paper.pages import render_page_png
from papercoder_mcp.pipeline.answers import SAMPLER_NAME
from papercoder_mcp.pipeline.originals import PDF_KEY, load_original
from papercoder_mcp.samplers.base import SampleRequest, Turn
from papercoder_mcp.stages import STAGES, Stage, StageContext, StageResult
from papercoder_mcp.stages.base import MAX_REASKS, Prepared, store_accepted
from papercoder_mcp.store import Store
from papercoder_mcp.store.records import CallRecord

IMAGES_ENV = "PAPERCODER_SAMPLING_IMAGES"
HASH_CHARS = 16


class RoundState(BaseModel):
    """Carried between rounds in `request_state` (the SDK seals it on the wire)."""

    round: int = 0
    transcripts: dict[str, list[Turn]] = Field(default_factory=dict)
    budget_hits: int = 0

    @classmethod
    def load(cls, raw: str | None) -> RoundState:
        return cls.model_validate_json(raw) if raw else cls()


def request_key(prepared: Prepared, attempt: int) -> str:
    return RequestKey(
        stage=prepared.stage, key=prepared.key, digest=prepared.input_hash[:HASH_CHARS], attempt=attempt
    ).encode()


# Stages outside the pipeline (the evaluation's) register here so their answers are found by name too.
EXTRA_STAGES: dict[str, Stage] = {}


def find_stage(name: str) -> Stage | None:
    return STAGES.get(name) or EXTRA_STAGES.get(name)


def parse_key(value: str) -> tuple[Stage, str, str, int] | None:
    try:
        rkey = RequestKey.decode(value)
    except StageError:
        return None
    stage = find_stage(rkey.stage)
    return (stage, rkey.key, rkey.digest, rkey.attempt) if stage is not None else None


def asked_steps(keys: dict[str, Any]) -> set[tuple[str, str]]:
    """(stage, key) of every request in a round."""
    out = set()
    for value in keys:
        parsed = parse_key(value)
        if parsed is not None:
            out.add((parsed[0].name, parsed[1]))
    return out


def page_images(store: Store, run_id: str, request: SampleRequest) -> list[tuple[int, bytes]]:
    """PNGs of the pages of the original PDF that hold tables, figures and display equations.

    At most `MAX_PAGE_IMAGES` (paper/pages.py), chosen when the request was prepared; none when the paper
    was not a PDF or `PAPERCODER_SAMPLING_IMAGES=0`. CPU-bound: `sampling_request` runs it in a thread."""
    if not request.documents or os.environ.get(IMAGES_ENV, "1").strip().lower() in (
        "0",
        "false",
        "no",
        "off",
    ):
        return []
    pdf = load_original(store, run_id, PDF_KEY)
    doc = request.documents[0]
    if pdf is None or hashlib.sha256(pdf).hexdigest() != doc.sha256:
        return []
    return [(page, render_page_png(pdf, page, sha256=doc.sha256)) for page in doc.visual_pages]


async def sampling_request(store: Store, run_id: str, request: SampleRequest) -> CreateMessageRequest:
    """The client-sampling form of a request, with the key pages of the original PDF as images.

    MCP sampling messages may carry images (ImageContent) and the capability has no flag to refuse them;
    a client that cannot show images reads the text, which holds the whole paper anyway."""
    images = await anyio.to_thread.run_sync(page_images, store, run_id, request)
    return to_create_message(request, images)


def to_create_message(
    request: SampleRequest, images: list[tuple[int, bytes]] | None = None
) -> CreateMessageRequest:
    """The request as one sampling message list. Re-asks go out without images: the model saw them."""
    messages = [
        SamplingMessage(role=turn.role, content=TextContent(type="text", text=turn.text))
        for turn in request.transcript()
    ]
    if images:
        pages = ", ".join(str(page) for page, _ in images)
        blocks: list[TextContent | ImageContent] = [
            TextContent(
                type="text",
                text=f"Pages {pages} of the original PDF, as typeset (tables, figures, equations); "
                "the paper's full text follows.",
            ),
            *(
                ImageContent(type="image", data=base64.b64encode(png).decode("ascii"), mime_type="image/png")
                for _, png in images
            ),
            TextContent(type="text", text=request.user_text()),
        ]
        messages[0] = SamplingMessage(role="user", content=blocks)
    return CreateMessageRequest(
        params=CreateMessageRequestParams(
            messages=messages,
            system_prompt=request.system,
            max_tokens=request.max_tokens,
            model_preferences=ModelPreferences(intelligence_priority=0.9, speed_priority=0.3),
            metadata={"papercoder_stage": request.stage, "papercoder_key": request.key},
        )
    )


def _text_of(result: Any) -> tuple[str, str, str]:
    """(text, model, stop reason) of a client's sampling answer."""
    if not isinstance(result, CreateMessageResult):
        raise StageError(f"the client answered a sampling request with {type(result).__name__}")
    blocks = result.content if isinstance(result.content, list) else [result.content]
    text = "".join(b.text for b in blocks if isinstance(b, TextContent))
    return text, result.model or "", str(result.stop_reason or "")


class Collected(BaseModel):
    results: list[StageResult] = Field(default_factory=list)
    reasks: dict[str, CreateMessageRequest] = Field(default_factory=dict)
    failures: list[str] = Field(default_factory=list)
    stale: list[str] = Field(default_factory=list)


def collect(ctx: StageContext, responses: dict[str, Any] | None, state: RoundState) -> Collected:
    """Validate and store every answer of a round; prepare re-asks for the invalid ones."""
    out = Collected()
    for rkey, response in (responses or {}).items():
        parsed = parse_key(rkey)
        if parsed is None:
            continue
        stage, key, digest, attempt = parsed
        label = f"{stage.name}{' ' + key if key else ''}"
        prepared = stage.prepare(ctx, key)
        if not prepared.input_hash.startswith(digest):
            out.stale.append(label)
            continue
        started = time.monotonic()
        text, model, stop = _text_of(response)
        transcript_key = request_key(prepared, 0)
        try:
            if stop == "maxTokens":
                raise ValidationFailed(
                    "the answer was cut at max_tokens",
                    ["the answer was cut off; answer again, more concisely"],
                )
            accepted = stage.accept(ctx, key, text, None)
        except ValidationFailed as exc:
            errors = exc.errors or [str(exc)]
            _record(ctx, prepared, model, stop, attempt, "invalid answer: " + "; ".join(errors), started)
            limit = getattr(exc, "max_reasks", MAX_REASKS)
            if attempt >= limit:
                out.failures.append(
                    f"{label}: the answer did not validate after {attempt} re-asks: {'; '.join(errors)}"
                )
                state.transcripts.pop(transcript_key, None)
                continue
            turns = [
                *state.transcripts.get(transcript_key, []),
                Turn(role="assistant", text=text or "(empty answer)"),
                Turn(role="user", text=prompts.render("reask", errors="\n".join(f"- {e}" for e in errors))),
            ]
            state.transcripts[transcript_key] = turns
            request = prepared.request.model_copy(update={"followups": turns})
            out.reasks[request_key(prepared, attempt + 1)] = to_create_message(request)
            continue
        _record(ctx, prepared, model, stop, attempt, "", started)
        state.transcripts.pop(transcript_key, None)
        artifact = store_accepted(
            ctx,
            stage,
            stage.stored_key(prepared),
            stage.stored_hash(ctx, prepared),
            accepted,
            source=SAMPLER_NAME,
        )
        out.results.append(
            StageResult(
                stage=stage.name,
                key=key,
                artifact=artifact,
                cost_usd=None,
                calls=1,
                warnings=list(accepted.metadata.get("warnings", [])),
            )
        )
    return out


def _record(
    ctx: StageContext, prepared: Prepared, model: str, stop: str, attempt: int, error: str, started: float
) -> None:
    # The client's model is billed to the client; tokens and cost are not reported back to us.
    ctx.store.record_call(
        CallRecord(
            run_id=ctx.run_id,
            stage=prepared.stage,
            key=prepared.key,
            sampler=SAMPLER_NAME,
            model=model,
            cost_usd=None,
            latency_s=time.monotonic() - started,
            stop_reason=stop,
            attempt=attempt + 1,
            error=error,
            request_hash=prepared.input_hash,
        )
    )


def dump_state(state: RoundState) -> str:
    return json.dumps(state.model_dump(mode="json"), separators=(",", ":"))
