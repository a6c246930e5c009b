"""Stage 7: the paper's components and results mapped to the code that implements them, checked.

The model lists what the paper contributes (components) and reports (each table,
figure, ablation) and names the file, function or class, and command for each.
The map is then checked against the code with `ast`: the file exists, the symbol
is defined there, the command parses against the entry point's real command
line. What the map leaves unmapped goes into the exported README as "Not
implemented"; what it maps to code that does not exist becomes findings on that
file, which `repair_file` can work on.
"""

from __future__ import annotations

import ast
from collections.abc import Collection
from typing import Any

from pydantic import ValidationError

from papercoder_mcp import prompts
from papercoder_mcp.entry_point import EntryPointCli, read_cli, split_command
from papercoder_mcp.errors import LimitExceeded, StageError, ValidationFailed
from papercoder_mcp.interfaces import repository_summary
from papercoder_mcp.limits import parse_python
from papercoder_mcp.models import (
    Architecture,
    CheckedItem,
    Coverage,
    CoverageItem,
    CoverageReport,
    is_test_module,
    plan_items,
)
from papercoder_mcp.samplers.base import SampleRequest
from papercoder_mcp.stages import inputs
from papercoder_mcp.stages.answers import extract_json
from papercoder_mcp.stages.base import Accepted, StageContext, StageResult, guidance_block, run_stage
from papercoder_mcp.stages.structured import StructuredStage, validation_messages
from papercoder_mcp.verify.index import RepoIndex
from papercoder_mcp.verify.models import Finding
from papercoder_mcp.verify.unwired import code_uses

# The whole repository's interfaces go into this one prompt, so it may be longer than a per-file one.
COVERAGE_SUMMARY_CHARS = 30_000


def defined_symbols(source: str) -> set[str]:
    """Top-level functions, classes and assigned names, and `Class.method` for every method."""
    try:
        tree = parse_python(source)
    except (SyntaxError, LimitExceeded):
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.add(node.name)
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    names.add(f"{node.name}.{item.name}")
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def command_problem(command: str, arch: Architecture, cli: EntryPointCli) -> str:
    """Why a command would not run the entry point as its code defines it ('' when it would)."""
    argv = split_command(command, arch.entry_point)
    if argv is None:
        return f"`{command}` does not run the entry point {arch.entry_point} with python"
    problem = cli.problem(argv)
    return f"`{command}`: {problem}" if problem else ""


def check_item(
    item: CoverageItem,
    files: dict[str, str],
    arch: Architecture,
    cli: EntryPointCli,
    used: set[str] | None = None,
) -> CheckedItem:
    data = item.model_dump()
    if not item.file:
        return CheckedItem(**data, status="not_implemented", problem=item.note or "no code implements it")
    if item.file not in files:
        return CheckedItem(**data, status="not_found", problem=f"{item.file} is not a file of the repository")
    if item.symbol:
        symbol = item.symbol.removesuffix("()")
        module = item.file.removesuffix(".py").replace("/", ".")
        symbol = symbol.removeprefix(f"{module}.")  # `model.Encoder` names Encoder of model.py
        if symbol not in defined_symbols(files[item.file]):
            return CheckedItem(**data, status="not_found", problem=f"{item.file} defines no {symbol}")
        # A method counts as used when its class is: frameworks call `forward`, `__getitem__` for you.
        names = {symbol.rsplit(".", 1)[-1], symbol.split(".", 1)[0]}
        runs_itself = item.file == arch.entry_point or is_test_module(item.file)
        if used is not None and not runs_itself and not names & used:
            # Defined and never called: the experiments cannot be running it.
            return CheckedItem(
                **data,
                status="unused",
                problem=f"{item.file} defines {symbol}, but no code outside the tests uses it",
            )
    if item.command:
        problem = command_problem(item.command, arch, cli)
        if problem:
            return CheckedItem(**data, status="not_found", problem=problem)
    if item.note.strip():
        # The map's own word that the named code leaves part of the item out (a method the experiment
        # skips, a dataset it never loads): the code exists, the item is not done.
        return CheckedItem(**data, status="partial", problem=f"only in part: {item.note.strip()}")
    return CheckedItem(**data, status="implemented")


def check_coverage_map(coverage: Coverage, files: dict[str, str], arch: Architecture) -> CoverageReport:
    """The map checked against the code (whether the smoke command exists is verification's check)."""
    cli = read_cli(arch.entry_point, files.get(arch.entry_point, ""))
    # The same notion of "used" as verification's unwired check (None: a computed lookup, so anything
    # may be).
    uses = code_uses(RepoIndex(files, arch.entry_point), arch.entry_point)
    used = uses.code if uses is not None else None
    return CoverageReport(items=[check_item(i, files, arch, cli, used) for i in coverage.items])


def coverage_findings(report: CoverageReport, arch: Architecture, files: Collection[str]) -> list[Finding]:
    """Repair work: items mapped to a missing symbol of an existing file (that file's), to a command
    the CLI lacks (the entry point's), items the map says are done only in part (the named file's),
    and items the design placed in a file that the code does not
    implement (that file's, the first planned one that is not a test). An item mapped to a file that
    does not exist, and not placed by the design, is only reported: no file repair can add it."""
    planned = {p.item: p for p in arch.plan_map}
    findings = []
    for item in report.items:
        ref = f" ({item.paper_reference})" if item.paper_reference else ""
        if item.status == "not_found" and item.file in files:
            target = arch.entry_point if item.problem.startswith("`") else item.file
            message = f"{item.name}{ref} is mapped to code that does not exist: {item.problem}"
        elif item.status == "unused":
            # The entry point runs the experiments, so it is where an unused part gets wired in.
            target = arch.entry_point
            message = (
                f"{item.name}{ref}: {item.problem}; call it where the experiments that need it run "
                "(through the command line), or remove what duplicates it"
            )
        elif item.status == "partial" and item.file in files and not is_test_module(item.file):
            target = item.file
            where = f" ({item.symbol})" if item.symbol else ""
            message = f"{item.name}{ref}: {item.file}{where} implements it {item.problem}; complete it"
        elif item.status != "implemented" and item.plan_item.upper() in planned:
            place = planned[item.plan_item.upper()]
            homes = [f for f in place.files if f in files and not is_test_module(f)]
            if not homes:
                continue
            target = homes[0]
            how = f" ({place.how})" if place.how else ""
            message = (
                f"{item.name}{ref}: the design places it in {', '.join(place.files)}{how}, but the code does "
                f"not implement it: {item.problem or item.note or 'no code found'}"
            )
        else:
            continue
        findings.append(Finding(file=target, kind="not_implemented", severity="warning", message=message))
    return findings


def repository_files(ctx: StageContext, needed_by: str) -> dict[str, str]:
    order = inputs.file_order(ctx, needed_by=needed_by)
    return {p: inputs.require(ctx, "code", p, needed_by=needed_by).content for p in order.order}


class CheckCoverage(StructuredStage):
    name = "check_coverage"
    kind = "coverage"
    model = Coverage

    def build_request(self, ctx: StageContext, key: str, guidance: str) -> SampleRequest:
        files = repository_files(ctx, self.name)
        arch = inputs.architecture(ctx, needed_by=self.name)
        items = plan_items(inputs.plan(ctx))
        placed = "\n".join(
            f"- {p.item}: {items.get(p.item, '?')} -> "
            + (
                ", ".join(p.files) + (f" ({p.how})" if p.how else "")
                if p.files
                else f"not planned: {p.not_planned}"
            )
            for p in arch.plan_map
        )
        return SampleRequest(
            stage=self.name,
            system="",
            prefix=inputs.prefix(ctx, 4, self.name),
            prompt=prompts.render(
                "check_coverage",
                repository=repository_summary(files, list(files), limit=COVERAGE_SUMMARY_CHARS),
                placed=placed or "(this design has no plan map)",
                schema=self.schema_text(),
                guidance=guidance_block(guidance),
            ),
            output_schema=self.schema(),
            schema_name="coverage",
        )

    def accept(self, ctx: StageContext, key: str, text: str, structured: Any | None) -> Accepted:
        data = structured if structured is not None else extract_json(text)
        try:
            coverage = Coverage.model_validate(data)
        except ValidationError as exc:
            msgs = validation_messages(exc)
            raise ValidationFailed("the coverage map does not validate: " + "; ".join(msgs), msgs) from exc
        arch = inputs.architecture(ctx, needed_by=self.name)
        report = check_coverage_map(coverage, repository_files(ctx, self.name), arch)
        order = inputs.file_order(ctx).order
        findings = coverage_findings(report, arch, order)
        return Accepted(
            content=report.model_dump_json(indent=2),
            format="json",
            metadata={
                # What each finding was made from: repairing one file must not void the others'.
                "code_versions": code_versions(ctx, order),
                "items": len(report.items),
                "missing": len(report.missing()),
                "warnings": [f"{f.file}: {f.message}" for f in findings],
                "repair_files": sorted({f.file for f in findings}),
            },
        )


STAGE = CheckCoverage()


def code_versions(ctx: StageContext, order: list[str]) -> dict[str, int]:
    found = ((p, ctx.store.current_version(ctx.run_id, "code", p)) for p in order)
    return {p: v for p, v in found if v is not None}


def current_report(ctx: StageContext) -> CoverageReport | None:
    """The stored coverage map when it was made from the current code, else None; checked against the
    code again, so what export, repair and status see is what today's checks find in the files."""
    art = STAGE.current(ctx)
    if art is None or not STAGE.is_fresh(ctx):
        return None
    return _rechecked(ctx, art.content)


def standing_findings(ctx: StageContext, path: str) -> list[Finding]:
    """The coverage findings on `path` that still hold: from the current map, or from a map made
    before other files were repaired, as long as `path` itself is the code that map read."""
    art = STAGE.current(ctx)
    if art is None:
        return []
    if STAGE.is_fresh(ctx):
        report = _rechecked(ctx, art.content)
    else:
        mapped = (art.metadata.get("code_versions") or {}).get(path)
        now = ctx.store.current_version(ctx.run_id, "code", path)
        # A repair of a dependency carries its dependents forward as new versions of the same code.
        if now is None or mapped is None or not ctx.store.same_content(ctx.run_id, "code", path, mapped, now):
            return []
        try:
            report = _rechecked(ctx, art.content)
        except StageError:
            return []  # the design or file order changed under the map: nothing of it stands
    order = inputs.file_order(ctx).order
    return [f for f in coverage_findings(report, inputs.architecture(ctx), order) if f.file == path]


def _rechecked(ctx: StageContext, content: str) -> CoverageReport:
    stored = CoverageReport.model_validate_json(content)
    answered = Coverage(
        items=[CoverageItem(**i.model_dump(exclude={"status", "problem"})) for i in stored.items]
    )
    return check_coverage_map(answered, repository_files(ctx, STAGE.name), inputs.architecture(ctx))


async def check_coverage(ctx: StageContext, *, force: bool = False) -> StageResult:
    return await run_stage(STAGE, ctx, force=force)
