"""The paper as it was given, as MCP resources: the original PDF, and its pages as images.

papercoder://runs/{run_id}/paper.pdf          the original PDF (application/pdf, a blob)
papercoder://runs/{run_id}/pages/{n}.png      page n (1-based) of it, rendered (image/png, a blob)
papercoder://runs/{run_id}/source             the arXiv e-print the paper was read from (a blob)

So an agent doing a stage itself (handoff) can look at tables, equations and figures as typeset.
Pages are rendered when read (the SDK runs resource functions in a worker thread) and cached.
"""

from __future__ import annotations

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError

from papercoder_mcp.errors import PaperCoderError
from papercoder_mcp.paper.pages import render_page_png
from papercoder_mcp.pipeline.originals import PDF_KEY, SOURCE_KEY, load_original, original_info
from papercoder_mcp.store import Store


def pdf_uri(run_id: str) -> str:
    return f"papercoder://runs/{run_id}/paper.pdf"


def page_uri(run_id: str, page: int) -> str:
    return f"papercoder://runs/{run_id}/pages/{page}.png"


def _original(store: Store, run_id: str, key: str) -> bytes:
    store.get_run(run_id)
    data = load_original(store, run_id, key)
    if data is None:
        what = "PDF (it was not read from a PDF)" if key == PDF_KEY else "arXiv source"
        raise ResourceNotFoundError(f"run {run_id} has no original {what}")
    return data


def register(server: MCPServer, store: Store) -> None:
    @server.resource(
        "papercoder://runs/{run_id}/paper.pdf",
        name="paper_pdf",
        mime_type="application/pdf",
        description="The original PDF of the paper, as typeset (tables, equations, figures)",
    )
    def paper_pdf(run_id: str) -> bytes:
        try:
            return _original(store, run_id, PDF_KEY)
        except PaperCoderError as exc:
            raise ResourceNotFoundError(str(exc)) from exc

    @server.resource(
        "papercoder://runs/{run_id}/pages/{n}.png",
        name="paper_page",
        mime_type="image/png",
        description="One page (1-based) of the original PDF as a PNG image",
    )
    def paper_page(run_id: str, n: str) -> bytes:
        try:
            page = int(n)
        except ValueError:
            raise ResourceNotFoundError(f"{n!r} is not a page number") from None
        try:
            data = _original(store, run_id, PDF_KEY)
            info = original_info(store, run_id, PDF_KEY)
            return render_page_png(data, page, sha256=info.sha256 if info else None)
        except PaperCoderError as exc:
            raise ResourceNotFoundError(str(exc)) from exc

    @server.resource(
        "papercoder://runs/{run_id}/source",
        name="paper_source",
        mime_type="application/gzip",
        description="The arXiv e-print (LaTeX source archive) the paper was read from",
    )
    def paper_source(run_id: str) -> bytes:
        try:
            return _original(store, run_id, SOURCE_KEY)
        except PaperCoderError as exc:
            raise ResourceNotFoundError(str(exc)) from exc
