"""Stage 6: the code of one file, with the code of the files it depends on (not every earlier file)
and a compact interface summary (from `ast`) of every other file written before it."""

from __future__ import annotations

import re
from typing import Any

import yaml

from papercoder_mcp import prompts
from papercoder_mcp.errors import LimitExceeded, ValidationFailed
from papercoder_mcp.interfaces import repository_summary
from papercoder_mcp.limits import AST_LOCK, check_python, load_json, load_yaml
from papercoder_mcp.models import Architecture, is_test_module
from papercoder_mcp.paths import normalize_repo_path
from papercoder_mcp.requirements import requirements_problems
from papercoder_mcp.samplers.base import SampleRequest
from papercoder_mcp.stages import inputs
from papercoder_mcp.stages.analyze_file import file_task_or_error
from papercoder_mcp.stages.answers import extract_code, language_for
from papercoder_mcp.stages.base import Accepted, Stage, StageContext, StageResult, guidance_block, run_stage
from papercoder_mcp.verify.index import RepoIndex
from papercoder_mcp.verify.placeholders import check_placeholders

_PLACEHOLDER = re.compile(r"#\s*(TODO|FIXME|XXX)\b|implement (this|me)\b", re.IGNORECASE)


class SyntaxFailed(ValidationFailed):
    # The rule: a file that does not compile is re-asked once with the SyntaxError.
    max_reasks = 1


def check_source(path: str, code: str) -> list[str]:
    """Hard errors that make the file unusable (empty, does not compile / parse, a refused requirement).

    Raises LimitExceeded when the file is over a size or nesting cap (checked before parsing)."""
    if not code.strip():
        return ["the file is empty"]
    lang = language_for(path)
    if path.endswith("requirements.txt"):
        return requirements_problems(code, source=path)
    try:
        if lang == "python":
            check_python(code, path)
            with AST_LOCK:
                compile(code, path, "exec", dont_inherit=True)
        elif lang == "json":
            load_json(code, path)
        elif lang == "yaml":
            load_yaml(code, path)
    except SyntaxError as exc:
        return [f"SyntaxError in {path} line {exc.lineno}: {exc.msg}"]
    except (RecursionError, MemoryError) as exc:
        raise LimitExceeded(f"{path} nests too deeply to compile ({type(exc).__name__})") from exc
    except (ValueError, yaml.YAMLError) as exc:
        return [f"{path} does not parse as {lang}: {exc}"]
    return []


def placeholder_lines(path: str, code: str, written: dict[str, str]) -> list[str]:
    """Stubs in a new file, by verification's own rules (an abstract method, a base-class hook that a
    class in this file or one written before overrides, an unsupported-option raise are not stubs)."""
    if language_for(path) != "python":
        return [
            f"line {i}: {line.strip()}"
            for i, line in enumerate(code.splitlines(), 1)
            if _PLACEHOLDER.search(line)
        ]
    index = RepoIndex({**written, path: code})
    return [f"line {f.line}: {f.message}" for f in check_placeholders(index, None) if f.file == path]


class GenerateFile(Stage):
    name = "generate_file"
    kind = "code"
    per_file = True

    def build_request(self, ctx: StageContext, key: str, guidance: str) -> SampleRequest:
        order, task = file_task_or_error(ctx, key, self.name)
        arch = inputs.architecture(ctx, needed_by=self.name)
        analysis = inputs.require(ctx, "analysis", task.path, needed_by=f"generate_file({task.path!r})")
        dep_blocks = []
        for dep in task.depends_on:
            code = inputs.require(ctx, "code", dep, needed_by=f"generate_file({task.path!r})")
            dep_blocks.append(f"### `{dep}`\n\n```{language_for(dep)}\n{code.content.rstrip()}\n```")
        # Files of lower levels exist whenever this one is generated (see FileOrder.written_before),
        # so this block is the same on every run and belongs in the input hash.
        others = [p for p in order.written_before(task.path) if p not in task.depends_on]
        written = {
            p: inputs.require(ctx, "code", p, needed_by=f"generate_file({task.path!r})").content
            for p in others
        }
        return SampleRequest(
            stage=self.name,
            system="",
            prefix=inputs.prefix(ctx, 4, self.name),
            prompt=prompts.render(
                "generate_file",
                path=task.path,
                analysis=analysis.content.strip(),
                dependency_code="\n\n".join(dep_blocks)
                or "(none: this file depends on no other generated file)",
                written_interfaces=repository_summary(written, others)
                or "(none: no other file is written before this one)",
                language=language_for(task.path),
                role=_role(task.path, arch),
                guidance=guidance_block(guidance),
            ),
        )

    def accept(self, ctx: StageContext, key: str, text: str, structured: Any | None) -> Accepted:
        code = extract_code(text)
        errors = check_source(key, code)
        if errors:
            raise SyntaxFailed(f"the generated {key} is unusable: " + "; ".join(errors), errors)
        metadata: dict[str, Any] = {"lines": code.count("\n") + (0 if code.endswith("\n") else 1)}
        written = {
            p: art.content
            for p in inputs.file_order(ctx).order
            if p != key and p.endswith(".py") and (art := ctx.store.find_artifact(ctx.run_id, "code", p))
        }
        placeholders = placeholder_lines(key, code, written)
        if placeholders:
            metadata["warnings"] = [f"{key} has placeholders: " + "; ".join(placeholders[:5])]
        if not code.endswith("\n"):
            code += "\n"
        return Accepted(content=code, format=language_for(key), metadata=metadata)


def _role(path: str, arch: Architecture) -> str:
    """What this file owes the repository's proof: the entry point's smoke mode, or being a test."""
    if path == arch.entry_point:
        return prompts.render("role_entry_point", smoke_command=arch.smoke_command).rstrip()
    if is_test_module(path):
        return prompts.load("role_test_module").rstrip()
    return ""


STAGE = GenerateFile()


async def generate_file(ctx: StageContext, path: str, *, force: bool = False) -> StageResult:
    return await run_stage(STAGE, ctx, normalize_repo_path(path), force=force)
