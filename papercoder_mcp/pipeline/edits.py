"""A person's or an agent's correction of an artifact, validated like a model's answer.

The edit is stored with the hash of the inputs its stage would use now, so it
counts as done (a resumed run keeps it instead of redoing it), while every
artifact downstream, whose inputs now include the edit, becomes stale; except
that a code edit, like a repair, carries the code of the files after it forward
(their code is not what changed), so they are not generated again.
"""

from __future__ import annotations

from papercoder_mcp.errors import MissingInput, PaperCoderError, StageError
from papercoder_mcp.limits import check_answer_size, check_paper_size
from papercoder_mcp.paper.markdown import parse_markdown_text
from papercoder_mcp.paper.models import Paper
from papercoder_mcp.pipeline.ingest import store_paper
from papercoder_mcp.stages import (
    ANALYZE_FILE,
    GENERATE_FILE,
    PLANNING_STAGES,
    StageContext,
    StageResult,
    accept_answer,
)
from papercoder_mcp.stages.answers import language_for
from papercoder_mcp.stages.base import Accepted, store_accepted
from papercoder_mcp.stages.repair_file import carry_dependents, fresh_dependents
from papercoder_mcp.store import Store

# The stage that makes each kind (a repair also writes code, but generate_file is its maker).
KIND_STAGE = {stage.kind: stage for stage in [*PLANNING_STAGES, ANALYZE_FILE, GENERATE_FILE]}


def edit_artifact(store: Store, run_id: str, kind: str, content: str, key: str = "") -> StageResult:
    store.get_run(run_id)
    if kind == "paper":
        check_paper_size(content, "the edited paper")
    else:
        check_answer_size(content, "the edit")
    ctx = StageContext(store=store, run_id=run_id)
    if kind == "paper":
        paper = _paper_from(content, store.get_artifact(run_id, "paper").content)
        art = store_paper(store, run_id, paper)
        return StageResult(stage="parse_paper", artifact=art)
    stage = KIND_STAGE.get(kind)
    if stage is None:
        raise StageError(
            f"artifacts of kind {kind!r} cannot be edited; kinds: paper, {', '.join(KIND_STAGE)}"
        )
    if stage.per_file and not key:
        raise StageError(f"editing {kind} needs the file path")
    if kind in ("code", "config") and not content.lstrip().startswith(("```", "~~~")):
        # An edit is the file itself; the stage's parser expects it the way a model answers: fenced.
        content = f"````{language_for(key) if kind == 'code' else 'yaml'}\n{content.rstrip()}\n````"
    try:
        # A corrected file leaves the code of the files after it as it is (like a repair), where a
        # corrected plan or design makes everything after it stale.
        carried = fresh_dependents(ctx, key) if kind == "code" else []
        result = accept_answer(stage, ctx, key, content, source="edit")
        carry_dependents(ctx, key, carried)
        return result
    except MissingInput:
        pass
    # The stage's own inputs are missing, so there is no prompt to hash: store the edit as given,
    # validated, with no input hash; it shows as stale until its inputs exist.
    accepted: Accepted = stage.accept(ctx, key, content, None)
    art = store_accepted(ctx, stage, key, "", accepted, source="edit")
    return StageResult(stage=stage.name, key=key, artifact=art)


def _paper_from(content: str, current_json: str) -> Paper:
    """A paper edit is Markdown (as the paper resource shows it) or the Paper model's JSON."""
    text = content.strip()
    if not text:
        raise PaperCoderError("the edited paper is empty")
    if text.startswith("{"):
        return Paper.model_validate_json(text)
    current = Paper.model_validate_json(current_json)
    paper = parse_markdown_text(content, source=current.source)
    return paper.model_copy(update={"page_count": current.page_count})
