"""Markdown rendering of a parsed paper, and a token estimate for prompts."""

from __future__ import annotations

import math
import re

from papercoder_mcp.paper.models import Block, Paper, Section

# Claude's tokenizer averages close to 3.5 characters per token on English
# scientific prose with math; erring high keeps cost estimates conservative.
CHARS_PER_TOKEN = 3.5


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def render_block(block: Block) -> str:
    if block.kind == "equation":
        label = f" {block.label}" if block.label else ""
        return f"$$\n{block.text}\n$${label}"
    if block.kind == "caption":
        if block.label and block.text.startswith(block.label):
            rest = block.text[len(block.label) :].lstrip(" .:")
            return f"> **{block.label}:** {rest}"
        return f"> {block.text}"
    if block.kind == "table":
        return block.markdown or block.text
    if block.kind == "footnote":
        return f"[^{block.label or '*'}]: {block.text}"
    if block.kind == "label":
        return f"**{block.label}** {block.text}".rstrip()
    if block.kind == "code":
        return f"```\n{block.text}\n```"
    return block.markdown or block.text


def _render_section(section: Section, out: list[str]) -> None:
    hashes = "#" * min(section.level + 1, 6)
    number = f"{section.number} " if section.number else ""
    out.append(f"{hashes} {number}{section.title}")
    for block in section.blocks:
        out.append(render_block(block))
    for child in section.children:
        _render_section(child, out)


# Back matter that says nothing about how to build the method: kept in the stored paper and its
# resource, left out of the prompt, where every call would pay for it (a NeurIPS checklist can be a
# quarter of a paper's pages).
BACK_MATTER_RE = re.compile(
    r"^(references|bibliography|acknowledge?ments?|funding( statement)?|"
    r"(neurips |icml |iclr )?(paper |reproducibility |ethics )?checklist|"
    r"(broader|societal) impacts?( statement)?|impact statement)$",
    re.IGNORECASE,
)


def is_back_matter(section: Section) -> bool:
    title = re.sub(r"[\s.:]+$", "", re.sub(r"\s+", " ", section.title.strip()))
    return bool(BACK_MATTER_RE.match(title))


def back_matter(paper: Paper) -> list[Section]:
    """Sections (at any depth, outermost only) that stay out of prompts."""
    found: list[Section] = []

    def visit(sections: list[Section]) -> None:
        for s in sections:
            if is_back_matter(s):
                found.append(s)
            else:
                visit(s.children)

    visit(paper.sections)
    return found


def _without(sections: list[Section], drop: list[Section]) -> list[Section]:
    out: list[Section] = []
    for s in sections:
        if any(s is d for d in drop):
            continue
        out.append(s.model_copy(update={"children": _without(s.children, drop)}) if s.children else s)
    return out


def render_prompt_markdown(paper: Paper) -> str:
    """The paper as prompts carry it: no references, acknowledgements, checklists or impact statements."""
    drop = back_matter(paper)
    body = paper.model_copy(update={"sections": _without(paper.sections, drop)}) if drop else paper
    return render_markdown(body, include_references=False)


def render_markdown(paper: Paper, include_references: bool = True) -> str:
    out: list[str] = []
    if paper.title:
        out.append(f"# {paper.title}")
    if paper.authors:
        out.append(", ".join(paper.authors))
    if paper.abstract:
        out.append("## Abstract")
        out.append(paper.abstract)
    for block in paper.preamble:
        out.append(render_block(block))
    for section in paper.sections:
        _render_section(section, out)
    if paper.footnotes:
        out.append("## Footnotes")
        if paper.source_format == "latex":  # the text carries their markers, [^1], [^2], ...
            out.extend(f"[^{i}]: {f}" for i, f in enumerate(paper.footnotes, start=1))
        else:
            out.extend(f"- {f}" for f in paper.footnotes)
    if include_references and paper.references:
        out.append("## References")
        out.extend(f"- {r}" for r in paper.references)
    return "\n\n".join(part for part in out if part.strip()) + "\n"
