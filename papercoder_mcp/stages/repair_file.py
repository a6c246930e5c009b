"""Repair: a corrected version of one file, given what verification found in it.

The repaired code is stored as a new version of the file's `code` artifact under
the hash of its generate_file inputs, so it stays current for the pipeline (a
resumed run keeps it), and its history shows the repair.
"""

from __future__ import annotations

from typing import Any

from papercoder_mcp import prompts
from papercoder_mcp.errors import MissingInput, StageError, ValidationFailed
from papercoder_mcp.interfaces import interface_of
from papercoder_mcp.paths import normalize_repo_path
from papercoder_mcp.samplers.base import SampleRequest
from papercoder_mcp.stages import inputs
from papercoder_mcp.stages.analyze_file import file_task_or_error
from papercoder_mcp.stages.answers import language_for
from papercoder_mcp.stages.base import (
    Accepted,
    Prepared,
    Stage,
    StageContext,
    StageResult,
    guidance_block,
    run_stage,
)
from papercoder_mcp.stages.check_coverage import STAGE as COVERAGE
from papercoder_mcp.stages.check_coverage import standing_findings
from papercoder_mcp.stages.generate_file import STAGE as GENERATE_FILE_STAGE
from papercoder_mcp.store.records import Artifact
from papercoder_mcp.verify.models import Finding
from papercoder_mcp.verify.test_strength import weakening

# Findings from running the code: their traceback (and the failing test's source) goes into the prompt.
EXECUTED_KINDS = {"smoke_import", "smoke_run", "test_failure"}
DETAIL_CHARS = 6_000


def finding_line(f: Finding) -> str:
    """How a finding reads in a repair prompt, and so what an UNCHANGED answer answered."""
    line = (
        f"- line {f.line}: [{f.kind}, {f.severity}] {f.message}"
        if f.line
        else f"- [{f.kind}, {f.severity}] {f.message}"
    )
    if f.kind in EXECUTED_KINDS and f.detail:
        detail = f.detail if len(f.detail) <= DETAIL_CHARS else "...\n" + f.detail[-DETAIL_CHARS:]
        line += "\n\n  What ran and how it failed:\n\n```text\n" + detail.rstrip() + "\n```\n"
    return line


def current_findings(ctx: StageContext, path: str) -> list[str]:
    """The latest verification's findings in `path`, only when it checked the file as it is now, and
    what the current coverage check found mapped to code in it that does not exist."""
    from papercoder_mcp.pipeline import verification as checks  # the pipeline imports the stages

    found = checks.latest(ctx.store, ctx.run_id)
    if found is None:
        raise MissingInput(f"repair_file({path!r}) needs a verification of the files: call verify_repo first")
    code = inputs.require(ctx, "code", path, needed_by=f"repair_file({path!r})")
    checked = found.key.files.get(f"code:{path}")
    if checked is None or not ctx.store.same_content(ctx.run_id, "code", path, checked, code.version):
        raise MissingInput(
            f"the verification findings of {path} are older than its code: call verify_repo again first"
        )
    found_here = [*found.verification.findings, *standing_findings(ctx, path)]  # coverage: what the map lacks
    return [finding_line(f) for f in found_here if f.file == path and f.severity != "info"]


def test_baseline(ctx: StageContext, path: str) -> str | None:
    """The latest version of `path` that a repair did not write: what a repaired test is held to."""
    for art in reversed(ctx.store.history(ctx.run_id, "code", path)):
        if not art.metadata.get("repair"):
            return art.content
    return None


class RepairFile(Stage):
    name = "repair_file"
    kind = "code"
    per_file = True

    def build_request(self, ctx: StageContext, key: str, guidance: str) -> SampleRequest:
        order, task = file_task_or_error(ctx, key, self.name)
        findings = current_findings(ctx, task.path)
        if not findings:
            stale = COVERAGE.current(ctx) is not None and not COVERAGE.is_fresh(ctx)
            raise StageError(
                f"verification found nothing to repair in {task.path}"
                + (
                    "; the coverage map is older than this file's code: call check_coverage again"
                    if stale
                    else ""
                )
            )
        code = inputs.require(ctx, "code", task.path, needed_by=f"repair_file({task.path!r})")
        blocks = []
        for dep in task.depends_on:
            dep_code = ctx.store.find_artifact(ctx.run_id, "code", dep)
            if dep_code is not None and dep.endswith(".py"):
                blocks.append(f"### `{dep}`\n\n```python\n{interface_of(dep_code.content)}\n```")
        return SampleRequest(
            stage=self.name,
            system="",
            prefix=inputs.prefix(ctx, 4, self.name),
            prompt=prompts.render(
                "repair_file",
                path=task.path,
                findings="\n".join(findings),
                language=language_for(task.path),
                code=code.content.rstrip(),
                interfaces="\n\n".join(blocks) or "(it uses no other generated file)",
                guidance=guidance_block(guidance),
            ),
        )

    def accept(self, ctx: StageContext, key: str, text: str, structured: Any | None) -> Accepted:
        if text.strip().strip("`").strip() == UNCHANGED:
            # The model's word that no change is due (a warning the file may leave as it is): the
            # current code, without paying for it to be written out again.
            code = inputs.require(ctx, "code", key, needed_by=f"repair_file({key!r})")
            try:
                answered = current_findings(ctx, key)
            except MissingInput:
                answered = []
            return Accepted(
                content=code.content,
                format=code.format,
                # What it answered: a warning that appears later (a smoke run's, say) was never shown.
                metadata={"repair": True, "unchanged": True, "answered": answered},
            )
        accepted = GENERATE_FILE_STAGE.accept(ctx, key, text, structured)
        baseline = test_baseline(ctx, key)
        why = weakening(key, baseline, accepted.content) if baseline is not None else None
        if why is not None:
            raise ValidationFailed(why, [why])  # re-asked with this reason, never stored
        accepted.metadata["repair"] = True
        return accepted

    def stored_hash(self, ctx: StageContext, prepared: Prepared) -> str:
        return GENERATE_FILE_STAGE.prepare(ctx, prepared.key).input_hash

    def store(
        self, ctx: StageContext, key: str, input_hash: str, accepted: Accepted, source: str
    ) -> Artifact:
        """Store the repaired file, and keep the files generated after it current (`carry_dependents`)."""
        fresh_before = fresh_dependents(ctx, key)
        artifact = super().store(ctx, key, input_hash, accepted, source)
        carry_dependents(ctx, key, fresh_before)
        return artifact


def fresh_dependents(ctx: StageContext, key: str) -> list[str]:
    """The files generated after `key` (its code or interface is in their prompt) that are fresh now."""
    order = inputs.file_order(ctx)
    dependents = [p for p in order.order if key in order.written_before(p)]
    return [d for d in dependents if GENERATE_FILE_STAGE.is_fresh(ctx, d)]


def carry_dependents(ctx: StageContext, key: str, fresh_before: list[str]) -> None:
    """After `key`'s code was corrected (a repair, an edit), keep its dependents current.

    Their code does not change, only their inputs. Without a carried-over version, the next pipeline
    run would regenerate every dependent of a corrected file, and lose its own repairs and edits."""
    for path in fresh_before:
        if GENERATE_FILE_STAGE.is_fresh(ctx, path):
            continue
        code = ctx.store.get_artifact(ctx.run_id, "code", path)
        ctx.store.put_artifact(
            ctx.run_id,
            "code",
            code.content,
            key=path,
            format=code.format,
            input_hash=GENERATE_FILE_STAGE.prepare(ctx, path).input_hash,
            metadata={**code.metadata, "source": "carried", "after_repair_of": key},
        )


STAGE = RepairFile()
UNCHANGED = "UNCHANGED"


async def repair_file(ctx: StageContext, path: str) -> StageResult:
    return await run_stage(STAGE, ctx, normalize_repo_path(path))
