"""The repository a judge reads: which files go into the prompt, rendered with line numbers.

A judge must cite files and lines, so every file is shown with its line numbers.
When the repository does not fit the token budget, files are ranked by how many
of the paper's key terms (the plan's method components, else the paper's
section titles) they mention, and the most relevant are taken first; config.yaml
always goes first. What was left out is reported, never hidden.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from pydantic import BaseModel, Field

from papercoder_mcp import prompts
from papercoder_mcp.errors import StageError
from papercoder_mcp.paper.render import estimate_tokens
from papercoder_mcp.stages.answers import language_for
from papercoder_mcp.stages.base import StageContext

DEFAULT_BUDGET_TOKENS = 120_000
MAX_REFERENCE_FILE_BYTES = 256_000
SKIPPED_DIRS = {
    ".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", "venv", ".mypy_cache", ".pytest_cache",
    ".ruff_cache", ".ipynb_checkpoints", ".tox", "dist", "build", ".idea", ".vscode",
}  # fmt: skip
STOPWORDS = {
    "the", "and", "for", "with", "that", "this", "from", "are", "was", "were", "which", "into", "its", "has",
    "have", "each", "when", "then", "than", "not", "but", "all", "any", "can", "use", "used", "using", "via",
    "per", "our", "their", "self", "def", "return", "import", "none", "true", "false", "int", "str", "float",
    "list", "dict", "class", "section", "introduction", "conclusion", "related", "work", "results",
    "experiments", "appendix", "method", "methods", "abstract", "discussion", "background",
}  # fmt: skip
_WORD = re.compile(r"[A-Za-z][a-z0-9]*|[A-Z]+(?![a-z])")


class RepoFile(BaseModel):
    path: str
    text: str

    def rendered(self) -> str:
        lines = self.text.splitlines() or [""]
        width = max(3, len(str(len(lines))))
        numbered = "\n".join(f"{i:>{width}} | {line}" for i, line in enumerate(lines, 1))
        return f"### `{self.path}`\n\n```{language_for(self.path)}\n{numbered}\n```"

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.rendered())


class Selection(BaseModel):
    included: list[RepoFile]
    left_out: list[str] = Field(default_factory=list, description="paths, most relevant first")
    tokens: int = 0

    @property
    def paths(self) -> list[str]:
        return [f.path for f in self.included]


# -- the files -------------------------------------------------------------------


def run_files(ctx: StageContext) -> list[RepoFile]:
    """The run's current code artifacts and its config.yaml: the repository under evaluation."""
    code = ctx.store.list_artifacts(ctx.run_id, "code")
    if not code:
        raise StageError(f"run {ctx.run_id} has no generated code to evaluate; run the pipeline first")
    files = [RepoFile(path=a.key, text=a.content) for a in sorted(code, key=lambda a: a.key)]
    config = ctx.store.find_artifact(ctx.run_id, "config")
    if config is not None and "config.yaml" not in {f.path for f in files}:
        files.insert(0, RepoFile(path="config.yaml", text=config.content))
    return files


def reference_files(directory: str | Path) -> list[RepoFile]:
    """The text files of a reference repository (binary, huge and tool directories skipped)."""
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise StageError(f"the reference repository {root} is not a directory")
    files: list[RepoFile] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part in SKIPPED_DIRS or part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if path.is_symlink() or path.stat().st_size > MAX_REFERENCE_FILE_BYTES:
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        files.append(RepoFile(path=rel.as_posix(), text=text))
    if not files:
        raise StageError(f"the reference repository {root} holds no text files to compare with")
    return files


# -- relevance ---------------------------------------------------------------------


def terms_of(text: str) -> set[str]:
    """Lower-case words of prose and identifiers (snake_case and CamelCase split), stopwords dropped."""
    return {w.lower() for w in _WORD.findall(text) if len(w) >= 3 and w.lower() not in STOPWORDS}


def key_terms(ctx: StageContext) -> Counter[str]:
    """The paper's key terms with weights: plan component names count most, their descriptions less.

    Without a plan, the paper's section titles (and its title) stand in for the components.
    """
    from papercoder_mcp.stages import inputs

    weights: Counter[str] = Counter()
    if ctx.store.find_artifact(ctx.run_id, "plan") is not None:
        plan = inputs.plan(ctx)
        for component in plan.methodology:
            for term in terms_of(component.name):
                weights[term] += 3
            for term in terms_of(component.description):
                weights[term] += 1
        for hp in plan.hyperparameters:
            for term in terms_of(hp.name):
                weights[term] += 1
        return weights
    paper = inputs.paper(ctx)
    for title in [paper.title, *(s.title for s in paper.all_sections())]:
        for term in terms_of(title):
            weights[term] += 2
    return weights


def relevance(file: RepoFile, weights: Counter[str]) -> float:
    """How much of the paper a file is about: weighted key terms it mentions, its path counting double."""
    in_path = terms_of(file.path.replace("/", " ").rsplit(".", 1)[0])
    in_text = terms_of(file.text)
    return float(sum(w * ((t in in_text) + 2 * (t in in_path)) for t, w in weights.items()))


def select_files(files: list[RepoFile], weights: Counter[str], budget_tokens: int) -> Selection:
    """The most relevant files that fit the budget (config.yaml first); the rest are reported as left out."""

    def rank(f: RepoFile) -> tuple[int, float, int, str]:
        return (0 if f.path == "config.yaml" else 1, -relevance(f, weights), f.tokens, f.path)

    chosen: set[str] = set()
    left_out: list[str] = []
    used = 0
    for f in sorted(files, key=rank):
        if used + f.tokens <= budget_tokens:
            chosen.add(f.path)
            used += f.tokens
        else:
            left_out.append(f.path)
    return Selection(included=[f for f in files if f.path in chosen], left_out=left_out, tokens=used)


# -- rendering -----------------------------------------------------------------------


def repo_block(title: str, selection: Selection) -> str:
    """One prompt block: every selected file with line numbers, and what was left out."""
    body = "\n\n".join(f.rendered() for f in selection.included) or "(no file fits the token budget)"
    if selection.left_out:
        body += (
            "\n\nLeft out to fit the token budget (judge only what is shown; do not assume these files are "
            "wrong or missing): " + ", ".join(f"`{p}`" for p in selection.left_out)
        )
    return prompts.render("artifact", title=title, body=body)
