"""arXiv input against a local stand-in for arxiv.org (127.0.0.1): source first, PDF fallback, clear errors."""

from __future__ import annotations

import base64
import gzip
import io
import socket
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import BlobResourceContents
from typer.testing import CliRunner

from papercoder_mcp.cli import app
from papercoder_mcp.errors import PaperFetchError
from papercoder_mcp.paper.arxiv import fetch_arxiv, parse_arxiv_ref
from papercoder_mcp.pipeline.ingest import ingest_paper
from papercoder_mcp.pipeline.originals import load_original, original_info
from papercoder_mcp.server.build import build_server
from papercoder_mcp.stages import STAGES, StageContext
from papercoder_mcp.store import Store

from pdf_fixtures import one_column_paper, two_column_paper

MAIN_TEX = r"""\documentclass{article}
\title{Sparse Mixers for Tiny Data}
\author{Ada Lovelace \and Alan Turing}
\begin{document}
\maketitle
\begin{abstract}We mix sparsely.\end{abstract}
\section{Method}\label{sec:method}
The loss is
\begin{equation}\label{eq:loss} L = \sum_i \ell_i \end{equation}
and Eq.~\eqref{eq:loss} is minimised, as Section~\ref{sec:method} says.
\end{document}
"""


def source_tarball() -> bytes:
    """The e-print as arXiv ships it (a .tar.gz), byte-identical on every call (gzip mtime 0)."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tf:
        data = MAIN_TEX.encode()
        info = tarfile.TarInfo("main.tex")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/octet-stream"
    delay: float = 0.0
    chunked: bool = False


@dataclass
class FakeArxiv:
    """arxiv.org's /e-print and /pdf routes, served from a dict; `hits` counts what was asked."""

    routes: dict[str, Route] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def arxiv(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeArxiv]:
    fake = FakeArxiv()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            fake.hits.append(self.path)
            route = fake.routes.get(self.path, Route(404, b"not found", "text/plain"))
            if route.delay:
                time.sleep(route.delay)
            try:
                self.send_response(route.status)
                self.send_header("content-type", route.content_type)
                if route.chunked:
                    self.send_header("transfer-encoding", "chunked")
                    self.end_headers()
                    for k in range(0, len(route.body), 1024):
                        part = route.body[k : k + 1024]
                        self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("content-length", str(len(route.body)))
                    self.end_headers()
                    self.wfile.write(route.body)
            except (BrokenPipeError, ConnectionResetError):
                pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a client that gave up (the size cap, a timeout) resets its connection; that is the test

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("PAPERCODER_ARXIV_URL", fake.url)
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def pdf_bytes(tmp_path: Path) -> bytes:
    return one_column_paper(tmp_path / "fixture.pdf").read_bytes()


class TestReferences:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("arxiv:2401.01967", "2401.01967"),
            ("arXiv:2401.01967v2", "2401.01967v2"),
            ("2401.01967", "2401.01967"),
            ("2401.01967v2", "2401.01967v2"),
            ("hep-th/9901001", "hep-th/9901001"),
            ("math.GT/0309136v1", "math.GT/0309136v1"),
            ("https://arxiv.org/abs/2401.01967", "2401.01967"),
            ("https://arxiv.org/pdf/2401.01967v3.pdf", "2401.01967v3"),
            ("https://arxiv.org/pdf/2401.01967v3", "2401.01967v3"),
            ("http://export.arxiv.org/abs/hep-th/9901001", "hep-th/9901001"),
            ("https:/arxiv.org/abs/2401.01967", "2401.01967"),  # what pathlib leaves of a URL
        ],
    )
    def test_ids_and_urls_name_the_paper(self, text: str, expected: str) -> None:
        assert parse_arxiv_ref(text) == expected

    @pytest.mark.parametrize(
        "text", ["paper.pdf", "/tmp/2401.01967/main.tex", "https://example.org/abs/2401.01967", "2401"]
    )
    def test_other_things_are_not_arxiv(self, text: str) -> None:
        assert parse_arxiv_ref(text) is None

    def test_a_local_file_named_like_an_id_wins(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        (tmp_path / "2401.01967").mkdir()
        (tmp_path / "2401.01967" / "main.tex").write_text(MAIN_TEX)
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("PAPERCODER_ARXIV_URL", "http://127.0.0.1:9")  # never asked
        run, paper = ingest_paper(Store(tmp_path / "s.db"), "2401.01967")
        assert paper.source_format == "latex" and not run.source.startswith("arxiv:")


class TestSourceFirst:
    def test_the_latex_source_is_parsed_and_kept_so_it_is_fetched_once(
        self, arxiv: FakeArxiv, tmp_path: Path
    ) -> None:
        pdf_bytes = two_column_paper(tmp_path / "typeset.pdf").read_bytes()
        arxiv.routes["/e-print/2401.01967"] = Route(
            body=source_tarball(), content_type="application/x-eprint-tar"
        )
        arxiv.routes["/pdf/2401.01967"] = Route(body=pdf_bytes, content_type="application/pdf")
        store = Store(tmp_path / "s.db")
        run, paper = ingest_paper(store, "arxiv:2401.01967")
        assert paper.source_format == "latex"
        assert paper.title == "Sparse Mixers for Tiny Data"
        assert paper.authors == ["Ada Lovelace", "Alan Turing"]
        assert "L = \\sum_i \\ell_i" in paper.to_markdown()  # math stays LaTeX
        assert run.source == "arxiv:2401.01967"
        assert any("LaTeX source of 2401.01967" in w for w in paper.warnings)
        assert load_original(store, run.id, "source") == source_tarball()
        # The typeset PDF comes too, so the model sees the figures: it goes with the prompts.
        assert load_original(store, run.id, "pdf") == pdf_bytes
        prepared = STAGES["make_plan"].prepare(StageContext(store=store, run_id=run.id))
        assert [d.pages for d in prepared.request.documents] == [3]
        # The LaTeX has no page numbers: the pages to show as images are found by their captions.
        assert prepared.request.documents[0].visual_pages == [2]
        assert arxiv.hits == ["/e-print/2401.01967", "/pdf/2401.01967"]

        again, _ = ingest_paper(store, "https://arxiv.org/abs/2401.01967")
        assert again.id != run.id
        assert load_original(store, again.id, "pdf") == pdf_bytes
        assert arxiv.hits == ["/e-print/2401.01967", "/pdf/2401.01967"]  # the second run read the store

    def test_a_source_without_a_pdf_still_makes_a_run_and_says_so(
        self, arxiv: FakeArxiv, tmp_path: Path
    ) -> None:
        arxiv.routes["/e-print/2401.01967"] = Route(body=source_tarball())
        store = Store(tmp_path / "s.db")
        run, paper = ingest_paper(store, "2401.01967")
        assert paper.source_format == "latex" and load_original(store, run.id, "pdf") is None
        assert any(w.startswith("the typeset PDF could not be fetched") for w in paper.warnings)

    def test_a_broken_pdf_beside_the_source_is_left_out(self, arxiv: FakeArxiv, tmp_path: Path) -> None:
        arxiv.routes["/e-print/2401.01967"] = Route(body=source_tarball())
        arxiv.routes["/pdf/2401.01967"] = Route(body=b"%PDF-1.7 truncated", content_type="application/pdf")
        store = Store(tmp_path / "s.db")
        run, paper = ingest_paper(store, "2401.01967")
        assert load_original(store, run.id, "pdf") is None and len(store.list_runs()) == 1
        assert any("PDF cannot be opened" in w for w in paper.warnings)

    def test_a_pdf_only_submission_is_read_from_the_pdf_the_eprint_returns(
        self, arxiv: FakeArxiv, tmp_path: Path, pdf_bytes: bytes
    ) -> None:
        arxiv.routes["/e-print/2401.00001v2"] = Route(body=pdf_bytes, content_type="application/pdf")
        store = Store(tmp_path / "s.db")
        run, paper = ingest_paper(store, "2401.00001v2")
        assert paper.source_format == "pdf" and paper.sections
        assert any("no LaTeX source" in w for w in paper.warnings)
        info = original_info(store, run.id, "pdf")
        assert info is not None and info.pages == paper.page_count and info.arxiv_id == "2401.00001v2"
        assert arxiv.hits == ["/e-print/2401.00001v2"]

    def test_no_source_falls_back_to_the_pdf(
        self, arxiv: FakeArxiv, tmp_path: Path, pdf_bytes: bytes
    ) -> None:
        arxiv.routes["/pdf/hep-th/9901001"] = Route(body=pdf_bytes, content_type="application/pdf")
        run, paper = ingest_paper(Store(tmp_path / "s.db"), "hep-th/9901001")
        assert paper.source_format == "pdf"
        assert arxiv.hits == ["/e-print/hep-th/9901001", "/pdf/hep-th/9901001"]
        assert run.source == "arxiv:hep-th/9901001"


class TestErrors:
    def test_an_unknown_id_says_so(self, arxiv: FakeArxiv, tmp_path: Path) -> None:
        store = Store(tmp_path / "s.db")
        with pytest.raises(PaperFetchError, match=r"arXiv has no paper '2401\.99999'.*check the id"):
            ingest_paper(store, "arxiv:2401.99999")
        assert store.list_runs() == []  # nothing half-made

    def test_a_withdrawn_paper_says_so(self, arxiv: FakeArxiv, tmp_path: Path) -> None:
        notice = b"This paper has been withdrawn by the authors due to an error in Lemma 2.\n"
        arxiv.routes["/e-print/2401.01967v3"] = Route(body=notice, content_type="text/plain")
        with pytest.raises(PaperFetchError, match=r"2401\.01967v3 has been withdrawn.*2401\.01967v1"):
            ingest_paper(Store(tmp_path / "s.db"), "2401.01967v3")

    def test_gone_is_withdrawn_too(self, arxiv: FakeArxiv, tmp_path: Path) -> None:
        arxiv.routes["/e-print/2401.01967"] = Route(status=410, body=b"gone", content_type="text/plain")
        with pytest.raises(PaperFetchError, match="withdrawn"):
            ingest_paper(Store(tmp_path / "s.db"), "2401.01967")

    def test_no_network_says_what_to_do(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        with socket.socket() as s:  # a port nothing listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        monkeypatch.setenv("PAPERCODER_ARXIV_URL", f"http://127.0.0.1:{port}")
        with pytest.raises(PaperFetchError, match="cannot reach .*check the network"):
            ingest_paper(Store(tmp_path / "s.db"), "2401.01967")

    def test_a_timeout_says_so(
        self, arxiv: FakeArxiv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        arxiv.routes["/e-print/2401.01967"] = Route(body=source_tarball(), delay=2.0)
        monkeypatch.setenv("PAPERCODER_ARXIV_TIMEOUT", "0.3")
        with pytest.raises(PaperFetchError, match=r"timed out after 0\.3 s"):
            ingest_paper(Store(tmp_path / "s.db"), "2401.01967")

    @pytest.mark.parametrize("chunked", [False, True], ids=["declared", "streamed"])
    def test_an_oversized_download_is_refused(
        self, arxiv: FakeArxiv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunked: bool
    ) -> None:
        arxiv.routes["/e-print/2401.01967"] = Route(body=b"\x1f\x8b" + b"x" * 20_000, chunked=chunked)
        monkeypatch.setenv("PAPERCODER_ARXIV_MAX_MB", "0.01")
        with pytest.raises(
            PaperFetchError, match="larger than the 0.01 MB download cap.*PAPERCODER_ARXIV_MAX_MB"
        ):
            ingest_paper(Store(tmp_path / "s.db"), "2401.01967")

    def test_an_html_page_is_not_a_source(self, arxiv: FakeArxiv) -> None:
        arxiv.routes["/e-print/2401.01967"] = Route(
            body=b"<!DOCTYPE html><p>oops</p>", content_type="text/html"
        )
        with pytest.raises(PaperFetchError, match="HTML page"):
            fetch_arxiv("2401.01967")


class TestSurfaces:
    @pytest.mark.anyio
    async def test_parse_paper_takes_an_arxiv_url(self, arxiv: FakeArxiv, tmp_path: Path) -> None:
        arxiv.routes["/e-print/2401.01967v2"] = Route(body=source_tarball())
        store = Store(tmp_path / "server.db")
        async with Client(build_server(store), raise_exceptions=True) as client:
            result = await client.call_tool("parse_paper", {"path": "https://arxiv.org/abs/2401.01967v2"})
            assert not result.is_error, result.content
            out = result.structured_content
            assert out is not None and out["source_format"] == "latex"
            assert out["title"] == "Sparse Mixers for Tiny Data"
            source = (await client.read_resource(f"papercoder://runs/{out['run_id']}/source")).contents[0]
            assert isinstance(source, BlobResourceContents)
            assert base64.b64decode(source.blob) == source_tarball()
            bad = await client.call_tool("parse_paper", {"path": "arxiv:2401.99999"})
            assert bad.is_error and "arXiv has no paper" in bad.content[0].text  # type: ignore[union-attr]
        assert store.get_run(out["run_id"]).source == "arxiv:2401.01967v2"

    def test_full_dry_run_takes_an_arxiv_id(self, arxiv: FakeArxiv) -> None:
        arxiv.routes["/e-print/2401.01967"] = Route(body=source_tarball())
        result = CliRunner().invoke(app, ["full", "arxiv:2401.01967", "--dry-run"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert "nothing was sent to a model" in result.output
        assert "A run also fetches the paper's PDF" in result.output
        assert arxiv.hits == ["/e-print/2401.01967"]

    def test_full_takes_an_arxiv_id_up_to_the_key_check(self, arxiv: FakeArxiv, tmp_path: Path) -> None:
        from papercoder_mcp.cli.pipeline import default_out_dir

        result = CliRunner().invoke(app, ["full", "arxiv:2401.01967"])
        assert result.exit_code == 1 and "ANTHROPIC_API_KEY is not set" in result.output
        assert "no such file" not in result.output
        assert default_out_dir(Path("hep-th/9901001"), None) == Path.cwd() / "hep-th_9901001-repo"

    def test_cli_parse_reports_an_unknown_id_in_one_line(self, arxiv: FakeArxiv) -> None:
        result = CliRunner().invoke(app, ["parse", "2401.99999"])
        assert result.exit_code != 0
        assert "arXiv has no paper '2401.99999'" in result.output


def test_an_unreadable_source_falls_back_to_the_pdf(
    arxiv: FakeArxiv, tmp_path: Path, pdf_bytes: bytes
) -> None:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tf:
        info = tarfile.TarInfo("figure.eps")  # a source archive with no .tex in it
        info.size = 3
        tf.addfile(info, io.BytesIO(b"eps"))
    arxiv.routes["/e-print/2401.01967"] = Route(body=buf.getvalue())
    arxiv.routes["/pdf/2401.01967"] = Route(body=pdf_bytes, content_type="application/pdf")
    store = Store(tmp_path / "s.db")
    run, paper = ingest_paper(store, "2401.01967")
    assert paper.source_format == "pdf"
    assert paper.warnings[0].startswith("the arXiv LaTeX source of 2401.01967 could not be read (")
    assert load_original(store, run.id, "pdf") == pdf_bytes and load_original(store, run.id, "source") is None
    ingest_paper(store, "2401.01967")
    assert arxiv.hits == ["/e-print/2401.01967", "/pdf/2401.01967"]  # the second run reused the PDF
