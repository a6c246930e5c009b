"""LaTeX parsing: files, directories and tarballs into a `Paper`, with exact structures."""

from __future__ import annotations

import gzip
import io
import re
import tarfile
from pathlib import Path

import pytest

from papercoder_mcp.errors import PaperParseError
from papercoder_mcp.paper import parse_document
from papercoder_mcp.paper.latex import parse_latex_dir, parse_latex_file, parse_latex_tarball
from papercoder_mcp.paper.models import Block, Caption, Equation, Table

SHARED_PAPERS = Path(__file__).resolve().parents[1].parent / "shared" / "papers"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def doc(body: str, preamble: str = "") -> str:
    return f"\\documentclass{{article}}\n{preamble}\n\\begin{{document}}\n{body}\n\\end{{document}}\n"


def texts(blocks: list[Block]) -> list[tuple[str, str, str]]:
    return [(b.kind, b.label, b.text) for b in blocks]


MINIMAL = doc(
    r"""
\title{A {Nested \textbf{Bold}} Title\thanks{Funded.}}
\author{Alice Smith\thanks{Equal contribution.} \\ MIT \\ \texttt{alice@mit.edu} \and Bob Jones$^{2}$ \\ Google}
\maketitle
\begin{abstract}
We study \emph{things}.

Second paragraph.
\end{abstract}
\section{Introduction}
Hello world.
"""
)


class TestFrontMatter:
    def test_title_authors_abstract(self, tmp_path: Path) -> None:
        paper = parse_latex_file(write(tmp_path / "main.tex", MINIMAL))
        assert paper.title == "A Nested **Bold** Title"
        assert paper.authors == ["Alice Smith", "Bob Jones"]
        assert paper.abstract == "We study *things*.\n\nSecond paragraph."
        assert paper.source_format == "latex"
        assert paper.page_count == 0
        assert paper.footnotes == []  # \thanks are title-page notes, not the paper's footnotes
        assert paper.outline() == ["1 Introduction"]
        assert texts(paper.sections[0].blocks) == [("paragraph", "", "Hello world.")]

    def test_dispatch_by_suffix(self, tmp_path: Path) -> None:
        paper = parse_document(write(tmp_path / "main.tex", MINIMAL))
        assert paper.title == "A Nested **Bold** Title"


class TestInputs:
    def test_input_and_nested_input_expand_relative_to_main(self, tmp_path: Path) -> None:
        write(
            tmp_path / "sections" / "intro.tex", "\\section{Intro}\nIntro text.\n\\input{sections/detail}\n"
        )
        write(tmp_path / "sections" / "detail.tex", "\\subsection{Detail}\nDetail text.\n")
        write(tmp_path / "method.tex", "\\section{Method}\nMethod text.\n")
        main = write(tmp_path / "main.tex", doc("\\input{sections/intro}\n\\include{method.tex}\n"))
        paper = parse_latex_file(main)
        assert paper.outline() == ["1 Intro", "  1.1 Detail", "2 Method"]
        assert paper.sections[0].children[0].blocks[0].text == "Detail text."
        assert paper.warnings == []

    def test_missing_input_is_a_warning(self, tmp_path: Path) -> None:
        main = write(tmp_path / "main.tex", doc("\\section{A}\nText.\n\\input{nothere}\n"))
        paper = parse_latex_file(main)
        assert paper.outline() == ["1 A"]
        assert paper.warnings == ["\\input{nothere}: file not found; skipped"]

    def test_input_cycle_is_broken(self, tmp_path: Path) -> None:
        write(tmp_path / "a.tex", "\\section{A}\n\\input{b}\n")
        write(tmp_path / "b.tex", "\\section{B}\n\\input{a}\n")
        paper = parse_latex_file(write(tmp_path / "main.tex", doc("\\input{a}")))
        assert paper.outline() == ["1 A", "2 B"]
        assert len(paper.warnings) == 1 and "cycle" in paper.warnings[0]

    def test_input_leaving_the_source_root_is_refused(self, tmp_path: Path) -> None:
        write(tmp_path / "secret.tex", "\\section{Secret}\n")
        main = write(tmp_path / "src" / "main.tex", doc("\\section{A}\nText.\n\\input{../secret}\n"))
        paper = parse_latex_file(main)
        assert paper.outline() == ["1 A"]
        assert paper.warnings == ["\\input{../secret} points outside the source directory; skipped"]


class TestComments:
    def test_comments_stripped_escaped_percent_kept(self, tmp_path: Path) -> None:
        body = (
            "\\section{Results}\n"
            "Accuracy rose by 5\\% overall. % a hidden remark\n"
            "% \\section{Commented Out}\n"
            "Still the same paragraph.\\\\% comment after a line break\n"
            "\\iffalse\n\\section{Dead}\n\\fi\n"
            "\\begin{comment}\nGone.\n\\end{comment}\n"
        )
        paper = parse_latex_file(write(tmp_path / "main.tex", doc(body)))
        assert paper.outline() == ["1 Results"]
        assert texts(paper.sections[0].blocks) == [
            ("paragraph", "", "Accuracy rose by 5% overall. Still the same paragraph.")
        ]

    def test_verbatim_keeps_percent(self, tmp_path: Path) -> None:
        body = "\\section{Code}\n\\begin{verbatim}\nx = 1  % not a comment\n  y = 2\n\\end{verbatim}\n"
        paper = parse_latex_file(write(tmp_path / "main.tex", doc(body)))
        assert texts(paper.sections[0].blocks) == [("code", "", "x = 1  % not a comment\n  y = 2")]


class TestSections:
    BODY = r"""
Preamble text before any heading.
\section{Introduction}\label{sec:intro}
Intro.
\subsection{Setup}
\subsubsection{Data}
\paragraph{Datasets} We use two.
\subsection*{Unnumbered}
\section[Short]{Method \& Model}
\paragraph{Note:}Plain.
\appendix
\section{Proofs}
\subsection{Lemma One}
\section{More}
"""

    def test_numbering_levels_and_appendix(self, tmp_path: Path) -> None:
        paper = parse_latex_file(write(tmp_path / "main.tex", doc(self.BODY)))
        assert paper.outline() == [
            "1 Introduction",
            "  1.1 Setup",
            "    1.1.1 Data",
            "  Unnumbered",
            "2 Method & Model",
            "A Proofs",
            "  A.1 Lemma One",
            "B More",
        ]
        assert texts(paper.preamble) == [("paragraph", "", "Preamble text before any heading.")]
        data = paper.sections[0].children[0].children[0]
        assert (data.number, data.level) == ("1.1.1", 3)
        assert texts(data.blocks) == [("label", "Datasets.", "We use two.")]
        assert texts(paper.sections[1].blocks) == [("label", "Note:", "Plain.")]

    def test_chapters_shift_levels(self, tmp_path: Path) -> None:
        body = "\\chapter{One}\n\\section{Sec}\nText.\n\\chapter{Two}\n\\section{Sec}\n"
        paper = parse_latex_file(write(tmp_path / "main.tex", doc(body)))
        assert paper.outline() == ["1 One", "  1.1 Sec", "2 Two", "  2.1 Sec"]


class TestMath:
    BODY = r"""
\section{Model}
The loss $L = \sum_i \ell_i$ is minimised:
\begin{equation}
  L = \sum_{i=1}^{n} \ell(x_i) \label{eq:loss}
\end{equation}
where $\ell$ is given by
\begin{align*}
  a &= b + c \\
  d &= e \\
\end{align*}
then \eqref{eq:loss} and
\begin{align}
  x &= 1 \\
  y &= 2 \nonumber \\
  z &= 3
\end{align}
and \[ E = mc^2 \] and $$ F = ma $$ and
\begin{equation*} G = 1 \end{equation*}
\begin{gather} p = q \tag{$\star$} \end{gather}
\begin{equation} h = 2 \end{equation}
"""

    def test_display_math_blocks_and_numbers(self, tmp_path: Path) -> None:
        paper = parse_latex_file(write(tmp_path / "main.tex", doc(self.BODY)))
        assert paper.equations == [
            Equation(text="L = \\sum_{i=1}^{n} \\ell(x_i)", label="(1)"),
            Equation(text="\\begin{aligned}\na &= b + c \\\\\nd &= e\n\\end{aligned}", label=""),
            Equation(
                text="\\begin{aligned}\nx &= 1 \\\\\ny &= 2 \\\\\nz &= 3\n\\end{aligned}", label="(2)-(3)"
            ),
            Equation(text="E = mc^2", label=""),
            Equation(text="F = ma", label=""),
            Equation(text="G = 1", label=""),
            Equation(text="\\begin{gathered}\np = q\n\\end{gathered}", label="($\\star$)"),
            Equation(text="h = 2", label="(4)"),
        ]
        blocks = paper.sections[0].blocks
        assert [b.kind for b in blocks] == [
            "paragraph", "equation", "paragraph", "equation", "paragraph", "equation",
            "paragraph", "equation", "paragraph", "equation", "paragraph", "equation", "equation", "equation",
        ]  # fmt: skip
        assert blocks[0].text == "The loss $L = \\sum_i \\ell_i$ is minimised:"
        assert blocks[4].text == "then (1) and"  # \eqref resolved to the equation's number
        assert "$$\nL = \\sum_{i=1}^{n} \\ell(x_i)\n$$ (1)" in paper.to_markdown()


class TestFloats:
    BODY = r"""
\section{Results}
\begin{figure}[t]
  \centering
  \includegraphics[width=\linewidth]{fig/arch.pdf}
  Panel label text
  \caption{The \emph{architecture}.}\label{fig:arch}
\end{figure}
\begin{table*}[h]
\caption[Short]{Main results on \textbf{CIFAR}.}
\label{tab:main}
\centering
\begin{tabular}{l|cc}
\toprule
Model & \multicolumn{2}{c}{Accuracy} \\
      & Top-1 & Top-5 \\
\midrule
Ours\footnote{Trained longer.} & \textbf{81.2} & $95.1$ \\
Base & 76.0 & 93 \% \\ \cline{2-3}
\bottomrule
\end{tabular}
\end{table*}
See Figure~\ref{fig:arch} and Table~\ref{tab:main}.
\begin{figure}
  \begin{subfigure}{0.4\textwidth}\includegraphics{a}\caption{Left}\end{subfigure}
  \caption{Two panels.}
\end{figure}
"""
    TABLE = (
        "| Model | Accuracy |  |\n"
        "| --- | --- | --- |\n"
        "|  | Top-1 | Top-5 |\n"
        "| Ours[^1] | **81.2** | $95.1$ |\n"
        "| Base | 76.0 | 93 % |"
    )

    def test_captions_tables_and_footnote(self, tmp_path: Path) -> None:
        paper = parse_latex_file(write(tmp_path / "main.tex", doc(self.BODY)))
        assert paper.captions == [
            Caption(kind="figure", number="1", text="The *architecture*."),
            Caption(kind="table", number="1", text="Main results on **CIFAR**."),
            Caption(kind="figure", number="2", text="Two panels."),
        ]
        assert paper.tables == [Table(number="1", caption="Main results on **CIFAR**.", markdown=self.TABLE)]
        assert paper.footnotes == ["Trained longer."]
        assert texts(paper.sections[0].blocks) == [
            ("caption", "Figure 1", "Figure 1: The *architecture*."),
            ("caption", "Table 1", "Table 1: Main results on **CIFAR**."),
            ("table", "Table 1", self.TABLE),
            ("paragraph", "", "See Figure 1 and Table 1."),
            ("caption", "Figure 2", "Figure 2: Two panels."),
        ]
        assert "> **Table 1:** Main results on **CIFAR**." in paper.to_markdown()

    def test_caption_after_tabular_still_names_the_table(self, tmp_path: Path) -> None:
        body = "\\begin{table}\\begin{tabular}{cc}a & b\\\\ 1 & 2\\end{tabular}\\caption{Late.}\\end{table}"
        paper = parse_latex_file(write(tmp_path / "main.tex", doc(body)))
        assert paper.tables == [
            Table(number="1", caption="Late.", markdown="| a | b |\n| --- | --- |\n| 1 | 2 |")
        ]
        assert texts(paper.preamble)[0][:2] == ("table", "Table 1")


class TestMarkup:
    def test_inline_markup_becomes_markdown(self, tmp_path: Path) -> None:
        body = r"""
\newcommand{\method}{SuperNet}
\newcommand{\vect}[1]{\mathbf{#1}}
\section{Text}
\method{} uses \textbf{bold}, \textit{italic}, {\bf old bold}, {\em old em}, \texttt{code},
\citep[see][]{smith20, jones21}, \cite{x}, Section~\ref{sec:a}, \url{https://x.org/a_b},
\href{https://y.org}{a link}, na\"ive caf\'e, ``quoted'', 1--2, \unknownmacro{kept text}, \dropped
and $x \% y$ and \(z\).
"""
        paper = parse_latex_file(write(tmp_path / "main.tex", doc(body)))
        assert paper.sections[0].blocks[0].text == (
            "SuperNet uses **bold**, *italic*, **old bold**, *old em*, `code`, [cite: smith20, jones21], "
            "[cite: x], Section [sec:a], https://x.org/a_b, [a link](https://y.org), naïve café, "
            '"quoted", 1–2, kept text, and $x \\% y$ and $z$.'
        )

    def test_lists(self, tmp_path: Path) -> None:
        body = r"""
\begin{itemize}
  \item First \emph{point}.
  \item Second:
  \begin{enumerate}
    \item nested one
    \item nested two
  \end{enumerate}
  \item[Term] described
\end{itemize}
"""
        paper = parse_latex_file(write(tmp_path / "main.tex", doc(body)))
        assert texts(paper.preamble) == [
            (
                "list",
                "",
                "- First *point*.\n- Second:\n  1. nested one\n  2. nested two\n- **Term** described",
            )
        ]


class TestBibliography:
    BIB = r"""
\section{Intro}
As shown~\cite{a}.
\begin{thebibliography}{9}
\bibitem{a} A.~Author. \newblock A \emph{title}. \newblock 2020.
\bibitem[B et~al.(2021)]{b} B. Writer, \textit{Other}, 2021.
\end{thebibliography}
"""

    def test_thebibliography(self, tmp_path: Path) -> None:
        paper = parse_latex_file(write(tmp_path / "main.tex", doc(self.BIB)))
        assert paper.references == ["[a] A. Author. A *title*. 2020.", "[b] B. Writer, *Other*, 2021."]
        assert texts(paper.sections[0].blocks) == [("paragraph", "", "As shown [1].")]  # numbered as printed
        md = paper.to_markdown(include_references=False)
        assert "References" not in md and "A. Author" not in md
        assert "## References\n\n- [a] A. Author." in paper.to_markdown()

    def test_bbl_beside_main_file(self, tmp_path: Path) -> None:
        write(
            tmp_path / "main.bbl",
            "\\begin{thebibliography}{1}\n\\bibitem{k} K. Key. Paper. 2019.\n\\end{thebibliography}\n",
        )
        main = write(tmp_path / "main.tex", doc("\\section{A}\nText~\\cite{k}.\n\\bibliography{refs}"))
        paper = parse_latex_file(main)
        assert paper.references == ["[k] K. Key. Paper. 2019."]
        assert paper.warnings == []

    def test_biblatex_bbl(self, tmp_path: Path) -> None:
        bbl = (
            "\\refsection{0}\n\\entry{vaswani17}{inproceedings}{}\n"
            "\\name{author}{1}{}{{{hash=1}{family={Vaswani},given={Ashish}}}}\n"
            "\\field{title}{Attention is all you need}\n\\field{booktitle}{NeurIPS}\n\\field{year}{2017}\n"
            "\\endentry\n\\endrefsection\n"
        )
        write(tmp_path / "paper.bbl", bbl)
        main = write(tmp_path / "paper.tex", doc("\\section{A}\nText.\n\\printbibliography"))
        paper = parse_latex_file(main)
        assert paper.references == ["[vaswani17] Vaswani. Attention is all you need. NeurIPS. 2017"]
        assert paper.warnings == []

    def test_bibliography_without_bbl_warns(self, tmp_path: Path) -> None:
        main = write(
            tmp_path / "main.tex",
            doc("\\section{A}\nText.\n\\bibliographystyle{plain}\n\\bibliography{refs}"),
        )
        paper = parse_latex_file(main)
        assert paper.references == []
        assert len(paper.warnings) == 1
        assert paper.warnings[0].startswith("references left empty: the paper uses \\bibliography{refs}")


class TestDirectory:
    def test_main_file_is_the_one_with_documentclass(self, tmp_path: Path) -> None:
        write(tmp_path / "intro.tex", "\\section{Intro}\nFrom the input file.\n")
        write(tmp_path / "paper.tex", doc("\\title{The Paper}\n\\input{intro}"))
        paper = parse_latex_dir(tmp_path)
        assert paper.title == "The Paper"
        assert paper.outline() == ["1 Intro"]
        assert paper.warnings == []
        assert parse_document(tmp_path).title == "The Paper"

    def test_several_main_candidates_prefer_main_tex(self, tmp_path: Path) -> None:
        write(tmp_path / "main.tex", doc("\\title{Main}\n\\section{A}"))
        write(tmp_path / "supplement.tex", doc("\\title{Supplement}\n\\section{B}\n" + "x " * 500))
        paper = parse_latex_dir(tmp_path)
        assert paper.title == "Main"
        assert paper.warnings == [
            "several .tex files have \\documentclass; using main.tex (not supplement.tex)"
        ]

    def test_no_tex_file(self, tmp_path: Path) -> None:
        write(tmp_path / "notes.md", "# x")
        with pytest.raises(PaperParseError, match="no .tex file"):
            parse_latex_dir(tmp_path)


def make_tar(path: Path, files: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tf:  # type: ignore[call-overload]
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


class TestTarball:
    def test_arxiv_style_tarball(self, tmp_path: Path) -> None:
        tar = make_tar(
            tmp_path / "2401.00001.tar.gz",
            {
                "ms.tex": doc("\\title{From Tar}\n\\input{sec/body}\n\\bibliography{refs}").encode(),
                "sec/body.tex": b"\\section{Body}\nText.\n",
                "ms.bbl": b"\\begin{thebibliography}{1}\\bibitem{r} R. Ref.\\end{thebibliography}",
            },
        )
        paper = parse_latex_tarball(tar)
        assert paper.title == "From Tar"
        assert paper.outline() == ["1 Body"]
        assert paper.references == ["[r] R. Ref."]
        assert paper.source == str(tar)
        assert paper.warnings == []
        assert parse_document(tar).title == "From Tar"

    def test_hostile_members_are_skipped_and_nothing_escapes(self, tmp_path: Path) -> None:
        archive = tmp_path / "box" / "evil.tar.gz"
        archive.parent.mkdir()
        with tarfile.open(archive, "w:gz") as tf:
            for name, data in {
                "main.tex": doc("\\title{Safe}\n\\section{S}\n").encode(),
                "../evil.tex": b"escaped",
                "/tmp/papercoder-absolute-evil.tex": b"absolute",
            }.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            link = tarfile.TarInfo("link.tex")
            link.type, link.linkname = tarfile.SYMTYPE, "../../outside.tex"
            tf.addfile(link)
            hard = tarfile.TarInfo("hard.tex")
            hard.type, hard.linkname = tarfile.LNKTYPE, "/etc/passwd"
            tf.addfile(hard)
            dev = tarfile.TarInfo("dev")
            dev.type = tarfile.CHRTYPE
            tf.addfile(dev)
        paper = parse_latex_tarball(archive)
        assert paper.title == "Safe"
        assert not (tmp_path / "evil.tex").exists()
        assert not (tmp_path / "box" / "evil.tex").exists()
        assert not Path("/tmp/papercoder-absolute-evil.tex").exists()
        assert [w.split(" ")[2] for w in paper.warnings] == [
            "'../evil.tex'",
            "'/tmp/papercoder-absolute-evil.tex'",
            "'link.tex'",
            "'hard.tex'",
            "'dev'",
        ]

    def test_corrupt_tarball(self, tmp_path: Path) -> None:
        bad = tmp_path / "bad.tar.gz"
        bad.write_bytes(gzip.compress(b"not a tar and not latex")[:-6] + b"garbage")
        with pytest.raises(PaperParseError, match="cannot read tar archive"):
            parse_latex_tarball(bad)
        junk = tmp_path / "junk.tar"
        junk.write_bytes(b"\x00\x01" * 300)
        with pytest.raises(PaperParseError, match="cannot read tar archive"):
            parse_latex_tarball(junk)

    def test_gzipped_single_tex(self, tmp_path: Path) -> None:
        gz = tmp_path / "1706.03762.tar.gz"
        gz.write_bytes(gzip.compress(doc("\\title{Single}\n\\section{Only}").encode()))
        paper = parse_latex_tarball(gz)
        assert (paper.title, paper.outline()) == ("Single", ["1 Only"])

    def test_size_cap(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        from papercoder_mcp.paper import latex_source

        monkeypatch.setattr(latex_source, "MAX_EXTRACT_BYTES", 1000)
        tar = make_tar(tmp_path / "big.tar.gz", {"main.tex": doc("x" * 2000).encode()})
        with pytest.raises(PaperParseError, match="more than"):
            parse_latex_tarball(tar)


class TestEmpty:
    def test_empty_document_raises(self, tmp_path: Path) -> None:
        with pytest.raises(PaperParseError, match="document is empty"):
            parse_latex_file(write(tmp_path / "main.tex", doc("% nothing here\n")))

    def test_empty_file_raises(self, tmp_path: Path) -> None:
        with pytest.raises(PaperParseError, match="document is empty"):
            parse_latex_file(write(tmp_path / "empty.tex", ""))

    def test_binary_file_raises(self, tmp_path: Path) -> None:
        (tmp_path / "bin.tex").write_bytes(b"\x00\x01\x02PK")
        with pytest.raises(PaperParseError, match="binary"):
            parse_latex_file(tmp_path / "bin.tex")


@pytest.mark.shared_papers
class TestTransformerPaper:
    @pytest.fixture
    def tex(self) -> Path:
        path = SHARED_PAPERS / "transformer" / "paper.tex"
        if not path.exists():
            pytest.skip("shared papers not available")
        return path

    def test_headings_match_the_reference(self, tex: Path) -> None:
        paper = parse_latex_file(tex)
        expected = []
        for line in (tex.parent / "headings.md").read_text().splitlines():
            m = re.match(r"^(#+) (.*)$", line)
            if m:
                expected.append((len(m.group(1)), m.group(2)))
        title, *rest = expected
        assert paper.title == title[1]
        assert paper.abstract.startswith("The dominant sequence transduction models")
        got = [(s.level, f"{s.number} {s.title}".strip()) for s in paper.all_sections()]
        # The .tex has no Acknowledgements section and its bibliography is external (no .bbl).
        missing = [h for h in rest if h not in got and h[1] != "Abstract"]
        assert missing == [(1, "Acknowledgements"), (1, "References")]
        assert [h for h in got if h not in rest] == []

    def test_equations_stay_latex(self, tex: Path) -> None:
        paper = parse_latex_file(tex)
        assert [e.label for e in paper.equations] == ["(1)", "", "(2)", "", "(3)"]
        assert (
            paper.equations[0].text
            == "\\mathrm{Attention}(Q, K, V) = \\mathrm{softmax}(\\frac{QK^T}{\\sqrt{d_k}})V"
        )
        assert paper.equations[2].text == "\\mathrm{FFN}(x)=\\max(0, xW_1 + b_1) W_2 + b_2"
        assert [c.number for c in paper.captions if c.kind == "table"] == ["1", "2", "3", "4"]
        assert len(paper.tables) == 4 and len(paper.footnotes) == 2

    def test_references_resolve_to_the_printed_numbers(self, tex: Path) -> None:
        paper = parse_latex_file(tex)
        md = paper.to_markdown()
        assert "[fig:multi-head-att]" not in md and not re.search(r"\[(sec|fig|tab|eq):", md)
        assert "as described in section 3.2." in md  # section~\ref{sec:attention}
        assert re.search(r"Figure 2", md)
        assert "\ue000" not in md and "\ue001" not in md  # no placeholder survives
        # No .bbl ships with it: citations keep their keys, and the warnings say so.
        assert "[cite: hochreiter1997]" in md
        assert any("citations keep their keys" in w for w in paper.warnings)
        # Footnote markers in the text have their definitions.
        assert "small gradients [^1]." in md and "\n[^1]: To illustrate why the dot products" in md


CROSSREF = doc(
    r"""
\section{Introduction}\label{sec:intro}
We build on Section~\ref{sec:method}, Eq.~\eqref{eq:loss}, \autoref{fig:arch}, Table~\ref{tab:res}
and \Cref{eq:second}; see also \ref{sec:appendix-a} and \nameref{sec:method}. A typo: \ref{sec:nowhere}.
\section{Method}\label{sec:method}
\subsection{Loss}\label{sec:loss}
\begin{equation}\label{eq:loss} L = \sum_i \ell_i \end{equation}
\begin{align}
a &= b \nonumber \\
c &= d \label{eq:second}
\end{align}
\begin{figure}
\label{fig:early}% a label before the caption means this figure
\includegraphics{arch}
\caption{The architecture.}\label{fig:arch}
\end{figure}
\begin{table}
\caption{Results.}\label{tab:res}
\begin{tabular}{cc} a & b \\ \end{tabular}
\end{table}
Subsection~\ref{sec:loss} and Figure~\ref{fig:early}.
\begin{theorem}\label{thm:main} Things hold. \end{theorem}
By Theorem~\ref{thm:main}.
\appendix
\section{Proofs}\label{sec:appendix-a}
Text.
"""
)


class TestCrossReferences:
    def test_ref_eqref_autoref_cref_nameref(self) -> None:
        from papercoder_mcp.paper.latex import parse_latex_text

        paper = parse_latex_text(CROSSREF)
        intro = paper.sections[0].blocks[0].text
        assert intro == (
            "We build on Section 2, Eq. (1), Figure 1, Table 1 and Equation (2); see also A and Method. "
            "A typo: [sec:nowhere]."
        )
        later = [b.text for b in paper.all_sections()[2].blocks if b.kind == "paragraph"]
        assert "Subsection 2.1 and Figure 1." in later
        # Theorems are not numbered by the parser: their labels keep their keys, without a warning.
        assert "By Theorem [thm:main]." in paper.to_markdown()
        assert paper.warnings == ["references to labels the source never defines, kept as keys: sec:nowhere"]


NATBIB_BBL = r"""\begin{thebibliography}{2}
\providecommand{\natexlab}[1]{#1}
\bibitem[Vaswani et~al.(2017)Vaswani, Shazeer, and Parmar]{vaswani2017}
Ashish Vaswani, Noam Shazeer, and Niki Parmar.
\newblock Attention is all you need.
\newblock In \emph{NeurIPS}, 2017.
\bibitem[Ba et~al.(2016)]{ba2016}
Jimmy Ba, Jamie Kiros, and Geoffrey Hinton.
\newblock Layer normalization, 2016.
\end{thebibliography}
"""


class TestCitations:
    def test_a_natbib_bbl_gives_author_year_citations(self, tmp_path: Path) -> None:
        write(tmp_path / "main.bbl", NATBIB_BBL)
        main = write(
            tmp_path / "main.tex",
            doc(
                "\\section{A}\nAttention~\\citep{vaswani2017,ba2016} and \\citet{ghost}.\n\\bibliography{refs}"
            ),
        )
        paper = parse_latex_file(main)
        text = paper.sections[0].blocks[0].text
        assert text == "Attention [Vaswani et al., 2017; Ba et al., 2016] and [ghost]."
        assert len(paper.references) == 2 and paper.references[0].startswith("[vaswani2017] Ashish Vaswani")
        assert paper.warnings == ["cited keys missing from the bibliography, kept as keys: ghost"]

    def test_a_biblatex_bbl_gives_author_year_citations(self, tmp_path: Path) -> None:
        bbl = (
            "\\refsection{0}\n\\entry{vaswani17}{inproceedings}{}\n"
            "\\name{author}{3}{}{{{family={Vaswani}}}{{family={Shazeer}}}{{family={Parmar}}}}\n"
            "\\field{title}{Attention}\n\\field{year}{2017}\n\\endentry\n\\endrefsection\n"
        )
        write(tmp_path / "paper.bbl", bbl)
        main = write(tmp_path / "paper.tex", doc("\\section{A}\nAs \\cite{vaswani17}.\n\\printbibliography"))
        assert parse_latex_file(main).sections[0].blocks[0].text == "As [Vaswani et al., 2017]."

    def test_without_a_bibliography_keys_stay_and_a_warning_says_so(self) -> None:
        from papercoder_mcp.paper.latex import parse_latex_text

        paper = parse_latex_text(doc("\\section{A}\nAs \\cite{a, b} and \\cite{a}."))
        assert paper.sections[0].blocks[0].text == "As [cite: a, b] and [cite: a]."
        assert paper.warnings == [
            "citations keep their keys ([cite: key], 2 works): no .bbl file or thebibliography names them"
        ]


class TestMacrosFootnotesAuthors:
    def test_undefined_macros_are_named_in_a_warning(self) -> None:
        from papercoder_mcp.paper.latex import parse_latex_text

        body = "\\section{A}\nOur \\methodname{} beats \\baseline{} and \\baseline{}; \\ours{} is defined."
        paper = parse_latex_text(doc(body, preamble="\\newcommand{\\ours}{OURS}"))
        assert "OURS is defined" in paper.sections[0].blocks[0].text
        assert paper.warnings == [
            "macros neither defined in the source nor known to the parser (their arguments kept as text, "
            "their names dropped): \\baseline (2x), \\methodname"
        ]

    def test_footnote_markers_have_their_definitions(self) -> None:
        from papercoder_mcp.paper.latex import parse_latex_text

        paper = parse_latex_text(doc("\\section{A}\nFirst\\footnote{One.} and second\\footnote{Two.}."))
        md = paper.to_markdown()
        assert "First[^1] and second[^2]." in md
        assert "## Footnotes\n\n[^1]: One.\n\n[^2]: Two." in md

    @pytest.mark.parametrize(
        "author",
        [
            r"\author{Alice Smith\thanks{Equal.}\\ MIT\\ \texttt{a@mit.edu} \And Bob Jones\\ CMU}",
            r"\author[1]{Alice Smith}\author[2]{Bob Jones}\affil[1]{MIT}",
            r"\author{Alice Smith$^{1}$, Bob Jones$^{2}$\\ $^1$MIT, $^2$CMU}",
            r"\author{\textbf{Alice Smith}\textsuperscript{1} \quad \textbf{Bob Jones}\textsuperscript{2}}",
            r"\author{\IEEEauthorblockN{Alice Smith}\IEEEauthorblockA{MIT} \and \IEEEauthorblockN{Bob Jones}}",
            r"\author{Alice Smith\inst{1} \and Bob Jones\inst{2}}\institute{MIT \and CMU}",
        ],
        ids=["neurips", "authblk", "marks", "quad", "ieee", "llncs"],
    )
    def test_authors_are_filled(self, author: str) -> None:
        from papercoder_mcp.paper.latex import parse_latex_text

        paper = parse_latex_text(doc("\\maketitle\n\\section{A}\nText.", preamble=f"\\title{{T}}\n{author}"))
        assert paper.authors == ["Alice Smith", "Bob Jones"]
