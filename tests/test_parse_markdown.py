"""Markdown and plain-text parsing into a `Paper`, with exact structures."""

from __future__ import annotations

from pathlib import Path

import pytest

from papercoder_mcp.errors import PaperParseError
from papercoder_mcp.paper import parse_document
from papercoder_mcp.paper.markdown import parse_markdown_file, split_number
from papercoder_mcp.paper.models import Block, Caption, Equation, Table


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def texts(blocks: list[Block]) -> list[tuple[str, str, str]]:
    return [(b.kind, b.label, b.text) for b in blocks]


PAPER_MD = """# Sparse Widgets for Everyone

Intro line before any section.

## Abstract

We propose widgets.
They are sparse.

## 1 Introduction

Widgets matter[^1].

**Contributions.** We make three.

- first
- second
  continued

## 2 Method

### 2.1 Loss

The loss is

$$
L = \\sum_i \\ell_i
$$ (1)

$$E = mc^2$$

```python
def f(x):
    return x  # $$ not math
```

Table 1: Results on the benchmark.

| Model | Acc |
|-------|----:|
| Ours  | 0.9 |

## A.1 Extra Proofs

Done.

## References

- [1] A. Author. Widgets. 2020.
- [2] B. Author. More widgets.
  2021.

[^1]: A footnote.
"""


class TestMarkdown:
    def test_structure(self, tmp_path: Path) -> None:
        paper = parse_markdown_file(write(tmp_path / "paper.md", PAPER_MD))
        assert paper.source_format == "markdown"
        assert paper.title == "Sparse Widgets for Everyone"
        assert paper.abstract == "We propose widgets. They are sparse."
        assert paper.outline() == ["1 Introduction", "2 Method", "  2.1 Loss", "A.1 Extra Proofs"]
        assert [(s.number, s.title, s.level) for s in paper.all_sections()] == [
            ("1", "Introduction", 1),
            ("2", "Method", 1),
            ("2.1", "Loss", 2),
            ("A.1", "Extra Proofs", 1),
        ]
        assert texts(paper.preamble) == [("paragraph", "", "Intro line before any section.")]
        assert texts(paper.sections[0].blocks) == [
            ("paragraph", "", "Widgets matter[^1]."),
            ("label", "Contributions.", "We make three."),
            ("list", "", "- first\n- second\n  continued"),
        ]
        table_md = "| Model | Acc |\n|-------|----:|\n| Ours  | 0.9 |"
        assert texts(paper.sections[1].children[0].blocks) == [
            ("paragraph", "", "The loss is"),
            ("equation", "(1)", "L = \\sum_i \\ell_i"),
            ("equation", "", "E = mc^2"),
            ("code", "", "def f(x):\n    return x  # $$ not math"),
            ("caption", "Table 1", "Table 1: Results on the benchmark."),
            ("table", "Table 1", table_md),
        ]
        assert paper.equations == [
            Equation(text="L = \\sum_i \\ell_i", label="(1)"),
            Equation(text="E = mc^2"),
        ]
        assert paper.captions == [Caption(kind="table", number="1", text="Results on the benchmark.")]
        assert paper.tables == [Table(number="1", caption="Results on the benchmark.", markdown=table_md)]
        assert paper.footnotes == ["A footnote."]
        assert paper.references == ["[1] A. Author. Widgets. 2020.", "[2] B. Author. More widgets. 2021."]

    def test_references_left_out_of_rendering(self, tmp_path: Path) -> None:
        paper = parse_document(write(tmp_path / "paper.md", PAPER_MD))
        without = paper.to_markdown(include_references=False)
        assert "References" not in without and "A. Author" not in without
        assert "## 1 Introduction" in without and "$$\nL = \\sum_i \\ell_i\n$$ (1)" in without
        assert "## References\n\n- [1] A. Author. Widgets. 2020." in paper.to_markdown()

    def test_several_level_one_headings_are_sections(self, tmp_path: Path) -> None:
        md = "# Introduction\n\nText.\n\n## Details\n\nMore.\n\n# Method\n\nDone.\n"
        paper = parse_markdown_file(write(tmp_path / "p.md", md))
        assert paper.title == ""
        assert [(s.title, s.level) for s in paper.all_sections()] == [
            ("Introduction", 1),
            ("Details", 2),
            ("Method", 1),
        ]

    def test_front_matter_and_plain_reference_lines(self, tmp_path: Path) -> None:
        md = "---\ntitle: From YAML\nauthors: [Ann Lee, Bo Chen]\n---\n\n## Intro\n\nHi.\n\n## Bibliography\n\nRef one.\nRef two.\n"
        paper = parse_markdown_file(write(tmp_path / "p.md", md))
        assert (paper.title, paper.authors) == ("From YAML", ["Ann Lee", "Bo Chen"])
        assert paper.outline() == ["Intro"]
        assert paper.references == ["Ref one.", "Ref two."]

    def test_heading_numbers(self) -> None:
        assert split_number("3.2 Attention") == ("3.2", "Attention")
        assert split_number("3. Method") == ("3", "Method")
        assert split_number("A. Proofs") == ("A", "Proofs")
        assert split_number("A Simple Baseline") == ("", "A Simple Baseline")
        assert split_number("3D Reconstruction") == ("", "3D Reconstruction")


PAPER_TXT = """

Sparse Widgets for Everyone
Ann Lee, Bo Chen

Abstract
We propose widgets. They are sparse.

1 Introduction
Widgets matter. We use 2 GPUs
and 100 samples.

2 Method

2.1 Setup
We set things up.

Conclusion
It works.

References
[1] A. Author. Widgets.
    2020.
[2] B. Author. More.
"""


class TestPlainText:
    def test_structure(self, tmp_path: Path) -> None:
        paper = parse_document(write(tmp_path / "paper.txt", PAPER_TXT))
        assert paper.source_format == "text"
        assert paper.title == "Sparse Widgets for Everyone"
        assert paper.abstract == "We propose widgets. They are sparse."
        assert [(s.number, s.title, s.level) for s in paper.all_sections()] == [
            ("1", "Introduction", 1),
            ("2", "Method", 1),
            ("2.1", "Setup", 2),
            ("", "Conclusion", 1),
        ]
        assert texts(paper.preamble) == [("paragraph", "", "Ann Lee, Bo Chen")]
        assert texts(paper.sections[0].blocks) == [
            ("paragraph", "", "Widgets matter. We use 2 GPUs and 100 samples.")
        ]
        assert texts(paper.sections[1].children[0].blocks) == [("paragraph", "", "We set things up.")]
        assert paper.references == ["[1] A. Author. Widgets. 2020.", "[2] B. Author. More."]

    def test_inline_abstract(self, tmp_path: Path) -> None:
        paper = parse_markdown_file(
            write(tmp_path / "p.txt", "Title\n\nAbstract: Short one.\n\n1 Intro\nText.\n")
        )
        assert paper.abstract == "Short one."
        assert paper.outline() == ["1 Intro"]


class TestErrors:
    @pytest.mark.parametrize("name", ["empty.md", "empty.txt"])
    def test_empty_file(self, tmp_path: Path, name: str) -> None:
        with pytest.raises(PaperParseError, match="empty"):
            parse_markdown_file(write(tmp_path / name, "\n  \n"))

    def test_binary_junk(self, tmp_path: Path) -> None:
        (tmp_path / "junk.md").write_bytes(b"# T\n\x00\x01\x02")
        with pytest.raises(PaperParseError, match="binary"):
            parse_markdown_file(tmp_path / "junk.md")

    def test_not_utf8(self, tmp_path: Path) -> None:
        (tmp_path / "latin.txt").write_bytes("Caf\xe9 title\n".encode("latin-1"))
        with pytest.raises(PaperParseError, match="not valid UTF-8"):
            parse_markdown_file(tmp_path / "latin.txt")
