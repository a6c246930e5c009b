"""The parsed paper: one pydantic model whatever the source format."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

BlockKind = Literal["paragraph", "equation", "caption", "table", "footnote", "label", "code", "list"]


class Block(BaseModel):
    """One unit of body content, in reading order.

    `label` blocks are run-in headings ("**Datasets.** We use ...") kept as bold
    paragraph labels instead of sections.
    """

    kind: BlockKind
    text: str
    label: str = Field("", description="equation number like '(3)', or caption id like 'Table 1'")
    page: int | None = Field(None, description="1-based page the block starts on (PDF only)")
    markdown: str = Field("", description="pre-rendered Markdown when it differs from text (tables)")


class Section(BaseModel):
    """A heading and what follows it up to the next heading of the same or a higher level."""

    title: str
    number: str = Field("", description="'3', '3.2', 'A.1'; empty for unnumbered headings")
    level: int = Field(1, ge=1, le=6, description="1 = top-level section")
    page: int | None = None
    blocks: list[Block] = Field(default_factory=list)
    children: list[Section] = Field(default_factory=list)

    def walk(self) -> list[Section]:
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


class Caption(BaseModel):
    kind: Literal["figure", "table", "algorithm"]
    number: str
    text: str
    page: int | None = None


class Table(BaseModel):
    number: str = ""
    caption: str = ""
    markdown: str
    page: int | None = None


class Equation(BaseModel):
    text: str
    label: str = ""
    page: int | None = None


SourceFormat = Literal["pdf", "latex", "markdown", "text"]


class Paper(BaseModel):
    """A paper parsed into structure. `references` are kept apart so prompts can leave them out."""

    title: str = ""
    authors: list[str] = Field(default_factory=list)
    abstract: str = ""
    sections: list[Section] = Field(default_factory=list)
    preamble: list[Block] = Field(default_factory=list, description="body text before the first heading")
    captions: list[Caption] = Field(default_factory=list)
    tables: list[Table] = Field(default_factory=list)
    equations: list[Equation] = Field(default_factory=list)
    footnotes: list[str] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)
    page_count: int = 0
    source: str = ""
    source_format: SourceFormat = "pdf"
    warnings: list[str] = Field(default_factory=list)

    def all_sections(self) -> list[Section]:
        out: list[Section] = []
        for s in self.sections:
            out.extend(s.walk())
        return out

    def outline(self) -> list[str]:
        """Indented heading lines, e.g. ['1 Introduction', '  3.2 Attention']."""
        return [
            "  " * (s.level - 1) + (f"{s.number} " if s.number else "") + s.title for s in self.all_sections()
        ]

    def to_markdown(self, include_references: bool = True) -> str:
        from papercoder_mcp.paper.render import render_markdown

        return render_markdown(self, include_references=include_references)

    def prompt_markdown(self) -> str:
        """The Markdown that prompts carry: the body, without references and back matter."""
        from papercoder_mcp.paper.render import render_prompt_markdown

        return render_prompt_markdown(self)

    def prompt_omissions(self) -> list[str]:
        """What `prompt_markdown` leaves out, for the paper's metadata and warnings."""
        from papercoder_mcp.paper.render import back_matter

        left = [(f"{s.number} " if s.number else "") + s.title for s in back_matter(self)]
        if self.references:
            left.insert(0, f"References ({len(self.references)} entries)")
        return left

    def token_estimate(self, include_references: bool = True) -> int:
        from papercoder_mcp.paper.render import estimate_tokens

        return estimate_tokens(self.to_markdown(include_references=include_references))
