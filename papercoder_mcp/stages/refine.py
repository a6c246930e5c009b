"""Self-refinement: a structured critique of an artifact, then an improved version of it.

The PaperCoder paper reports that critique-then-improve raises the reference-based
score of every artifact. The improved version replaces the original only when it
validates exactly like the original did; both calls are logged. An artifact that
was refined carries `refined: true`, so a resumed run does not refine it again.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from papercoder_mcp import prompts
from papercoder_mcp.errors import PaperCoderError, StageError
from papercoder_mcp.kinds import KINDS
from papercoder_mcp.samplers.base import SampleRequest, Turn
from papercoder_mcp.stages.analyze_file import STAGE as ANALYZE_FILE
from papercoder_mcp.stages.base import Accepted, Prepared, Stage, StageContext, run_stage
from papercoder_mcp.stages.design_architecture import STAGE as DESIGN_ARCHITECTURE
from papercoder_mcp.stages.make_plan import STAGE as MAKE_PLAN
from papercoder_mcp.stages.order_files import STAGE as ORDER_FILES
from papercoder_mcp.stages.structured import StructuredStage
from papercoder_mcp.stages.write_config import STAGE as WRITE_CONFIG
from papercoder_mcp.store import canonical_hash
from papercoder_mcp.store.records import Artifact

# The stages whose artifacts can be refined; their titles come from the kind registry.
TARGETS: dict[str, Stage] = {
    s.kind: s for s in [MAKE_PLAN, DESIGN_ARCHITECTURE, ORDER_FILES, WRITE_CONFIG, ANALYZE_FILE]
}


class Problem(BaseModel):
    severity: Literal["high", "medium", "low"]
    description: str
    fix: str = ""


class Critique(BaseModel):
    problems: list[Problem] = Field(default_factory=list)
    score: int = Field(ge=1, le=5, description="1 = unusable, 5 = faithful, complete and consistent")


def split_key(key: str) -> tuple[Stage, str]:
    """'plan' -> (make_plan, ''); 'analysis:model.py' -> (analyze_file, 'model.py')."""
    kind, _, path = key.partition(":")
    if kind not in TARGETS:
        raise StageError(f"cannot refine {kind!r}; refinable: {', '.join(TARGETS)}")
    return TARGETS[kind], path


class CritiqueStage(StructuredStage):
    name = "critique"
    kind = "critique"
    model = Critique

    def build_request(self, ctx: StageContext, key: str, guidance: str) -> SampleRequest:
        target, path = split_key(key)
        original = target.prepare(ctx, path).request
        current = ctx.store.get_artifact(ctx.run_id, target.kind, path)
        kind = key.partition(":")[0]
        title = KINDS[kind].title + (f" of `{path}`" if path else "")
        return SampleRequest(
            stage=self.name,
            system="",
            prefix=original.prefix,  # the target's own prefix: read from the cache
            prompt=prompts.render(
                "critique", title=title, content=current.content, schema=self.schema_text()
            ),
            output_schema=self.schema(),
            schema_name="critique",
        )


class ImproveStage(Stage):
    """The target stage's own request, continued with its answer and the critique."""

    name = "improve"
    kind = ""  # set per call by the target; see prepare_for

    def build_request(self, ctx: StageContext, key: str, guidance: str) -> SampleRequest:
        target, path = split_key(key)
        original = target.prepare(ctx, path).request
        current = ctx.store.get_artifact(ctx.run_id, target.kind, path)
        critique = Critique.model_validate_json(ctx.store.get_artifact(ctx.run_id, "critique", key).content)
        listed = "\n".join(
            f"- [{p.severity}] {p.description}" + (f" Fix: {p.fix}" if p.fix else "")
            for p in critique.problems
        )
        answer = current.content if target.kind != "config" else f"```yaml\n{current.content}```"
        return original.model_copy(
            update={
                "stage": self.name,
                "followups": [
                    Turn(role="assistant", text=answer),
                    Turn(role="user", text=prompts.render("improve", score=critique.score, problems=listed)),
                ],
            }
        )

    def prepare(self, ctx: StageContext, key: str = "") -> Prepared:
        prepared = super().prepare(ctx, key)
        # The followups are the point of this stage: they belong in its identity.
        return prepared.model_copy(
            update={
                "input_hash": canonical_hash(
                    [prepared.input_hash, [t.text for t in prepared.request.followups]]
                )
            }
        )

    def accept(self, ctx: StageContext, key: str, text: str, structured: Any | None) -> Accepted:
        target, path = split_key(key)
        accepted = target.accept(ctx, path, text, structured)
        accepted.metadata["refined"] = True
        return accepted

    def stored_key(self, prepared: Prepared) -> str:
        return split_key(prepared.key)[1]

    def stored_hash(self, ctx: StageContext, prepared: Prepared) -> str:
        target, path = split_key(prepared.key)
        return target.prepare(ctx, path).input_hash

    def current(self, ctx: StageContext, key: str = "") -> Artifact | None:
        target, path = split_key(key)
        return target.current(ctx, path)


class _TargetedImprove(ImproveStage):
    def __init__(self, kind: str) -> None:
        self.kind = kind


CRITIQUE = CritiqueStage()


class RefineResult(BaseModel):
    key: str
    score: int | None = None
    problems: int = 0
    improved: bool = False
    skipped: bool = False
    note: str = ""


async def refine(ctx: StageContext, key: str) -> RefineResult:
    """Critique the current artifact named by `key`, then replace it with an improved version if valid."""
    target, path = split_key(key)
    current = ctx.store.get_artifact(ctx.run_id, target.kind, path)
    if current.metadata.get("refined"):
        return RefineResult(key=key, skipped=True, note="already refined")
    critique_result = await run_stage(CRITIQUE, ctx, key)
    critique = Critique.model_validate_json(critique_result.artifact.content)
    if not critique.problems:
        return RefineResult(key=key, score=critique.score, note="the critique found no problems")
    try:
        await run_stage(_TargetedImprove(target.kind), ctx, key)
    except PaperCoderError as exc:
        if isinstance(exc, StageError):
            return RefineResult(
                key=key,
                score=critique.score,
                problems=len(critique.problems),
                note=f"the improved version did not validate; the original is kept ({exc})",
            )
        raise
    return RefineResult(key=key, score=critique.score, problems=len(critique.problems), improved=True)
