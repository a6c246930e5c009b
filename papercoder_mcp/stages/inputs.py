"""Reading a stage's inputs from the store and rendering them as the shared prompt prefix.

The prefix is built in one fixed order (paper, plan, architecture, file order,
config) from stored artifacts only, so every call that shares inputs shares the
exact same leading bytes: that is what lets a provider cache it.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from papercoder_mcp import prompts
from papercoder_mcp.errors import MissingInput, StageError
from papercoder_mcp.models import Architecture, FileOrder, Plan
from papercoder_mcp.paper.models import Paper
from papercoder_mcp.samplers.base import Document
from papercoder_mcp.stages.base import StageContext
from papercoder_mcp.store.records import Artifact

M = TypeVar("M", bound=BaseModel)

# (artifact kind, heading in the prompt, stage that makes it)
PREFIX_PARTS: list[tuple[str, str, str]] = [
    ("plan", "Overall plan", "make_plan"),
    ("architecture", "Software architecture", "design_architecture"),
    ("file_order", "Files in dependency order", "order_files"),
    ("config", "config.yaml", "write_config"),
]
MAKER = {kind: stage for kind, _, stage in PREFIX_PARTS} | {"paper": "parse_paper"}


def require(ctx: StageContext, kind: str, key: str = "", needed_by: str = "") -> Artifact:
    art = ctx.store.find_artifact(ctx.run_id, kind, key)
    if art is None:
        ctx.store.get_run(ctx.run_id)  # an unknown run gets RunNotFound, not a stage-order message
        what = f"{kind} {key!r}" if key else kind
        maker = MAKER.get(kind, {"analysis": "analyze_file", "code": "generate_file"}.get(kind, kind))
        raise MissingInput(
            f"{needed_by or 'this stage'} needs the {what} of run {ctx.run_id}, which does not exist yet; "
            f"call {maker}{f'({key!r})' if key else ''} first"
        )
    return art


def _load(
    ctx: StageContext, model: type[M], kind: str, needed_by: str, context: dict[str, Any] | None = None
) -> M:
    art = require(ctx, kind, needed_by=needed_by)
    try:
        return model.model_validate(json.loads(art.content), context=context)
    except (ValueError, ValidationError) as exc:
        # Only an edit outside the validating paths can store this; say which version to fix.
        raise StageError(
            f"the stored {kind} (version {art.version}) of run {ctx.run_id} is invalid: {exc}; "
            f"store a corrected one (edit_artifact) or re-run {MAKER.get(kind, kind)}"
        ) from exc


def paper(ctx: StageContext) -> Paper:
    return _load(ctx, Paper, "paper", "")


def plan(ctx: StageContext) -> Plan:
    return _load(ctx, Plan, "plan", "")


def architecture(ctx: StageContext, needed_by: str = "") -> Architecture:
    return _load(ctx, Architecture, "architecture", needed_by)


def file_order(ctx: StageContext, needed_by: str = "") -> FileOrder:
    arch = architecture(ctx, needed_by)
    return _load(ctx, FileOrder, "file_order", needed_by, context={"architecture": arch})


def documents(ctx: StageContext) -> list[Document]:
    """The original PDF as a prompt document (bytes left out until a sampler that reads it is called)."""
    from papercoder_mcp.pipeline.originals import paper_documents

    return paper_documents(ctx.store, ctx.run_id)


def prefix(ctx: StageContext, upto: int, needed_by: str) -> list[str]:
    """The paper (its body only: see `Paper.prompt_markdown`) then the first `upto` planning artifacts."""
    blocks = [prompts.render("paper", paper=paper(ctx).prompt_markdown().strip())]
    for kind, title, _ in PREFIX_PARTS[:upto]:
        art = require(ctx, kind, needed_by=needed_by)
        body = f"```yaml\n{art.content.rstrip()}\n```" if kind == "config" else f"```json\n{art.content}\n```"
        blocks.append(prompts.render("artifact", title=title, body=body))
    return blocks
