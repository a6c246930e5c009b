"""Starting a run from a paper: read it (a file, or an arXiv id: source first), store it and its original."""

from __future__ import annotations

import base64
import hashlib
import tempfile
from collections.abc import Callable
from pathlib import Path

from papercoder_mcp.errors import PaperParseError
from papercoder_mcp.paper import Paper, parse_document
from papercoder_mcp.paper.arxiv import Download, fetch_arxiv, file_stem, parse_arxiv_ref, source_name
from papercoder_mcp.paper.pages import page_count
from papercoder_mcp.paper.render import estimate_tokens
from papercoder_mcp.pipeline.originals import (
    ORIGINAL,
    PDF_KEY,
    SOURCE_KEY,
    store_original,
)
from papercoder_mcp.store import Store
from papercoder_mcp.store.records import Artifact, Run

Fetch = Callable[[str], Download]


def source_hash(path: Path) -> str:
    """Content hash of a paper file, or of every file of a source directory (path and bytes)."""
    h = hashlib.sha256()
    if path.is_dir():
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(f.relative_to(path).as_posix().encode() + b"\0")
            h.update(hashlib.sha256(f.read_bytes()).digest())
    else:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def paper_metadata(paper: Paper) -> dict[str, object]:
    return {
        "title": paper.title,
        "page_count": paper.page_count,
        "source_format": paper.source_format,
        "sections": len(paper.all_sections()),
        "references": len(paper.references),
        "tokens": paper.token_estimate(include_references=True),
        "tokens_without_references": paper.token_estimate(include_references=False),
        "prompt_tokens": estimate_tokens(paper.prompt_markdown()),
        "left_out_of_prompt": paper.prompt_omissions(),
        "warnings": paper.warnings,
    }


def store_paper(store: Store, run_id: str, paper: Paper) -> Artifact:
    return store.put_artifact(
        run_id, "paper", paper.model_dump_json(), format="json", metadata=paper_metadata(paper)
    )


def create_run_for(
    store: Store, path: str | Path, paper: Paper, settings: dict[str, object] | None = None
) -> Run:
    """A new run holding an already parsed paper, and the PDF itself when the paper was one."""
    p = Path(path).expanduser().resolve()
    run = store.create_run(
        title=paper.title or p.stem, source=str(p), source_hash=source_hash(p), settings=dict(settings or {})
    )
    store_paper(store, run.id, paper)
    if paper.source_format == "pdf" and p.is_file():
        store_original(
            store, run.id, PDF_KEY, p.read_bytes(), media_type="application/pdf", filename=p.name, paper=paper
        )
    return store.get_run(run.id)


def is_arxiv(ref: str | Path) -> str | None:
    """The arXiv id `ref` names, unless it is a file or directory that exists (a local file wins)."""
    text = str(ref)
    if Path(text).expanduser().exists():
        return None
    return parse_arxiv_ref(text)


def ingest_paper(
    store: Store, path: str | Path, *, settings: dict[str, object] | None = None, fetch: Fetch | None = None
) -> tuple[Run, Paper]:
    """Parse the paper (errors surface before anything is written) and create a run holding it.

    `path` is a file or directory, or an arXiv reference (`arxiv:ID`, a bare id, an abs/pdf URL)."""
    arxiv_id = is_arxiv(path)
    if arxiv_id is not None:
        return ingest_arxiv(store, arxiv_id, settings=settings, fetch=fetch)
    paper = parse_document(Path(path).expanduser())
    return create_run_for(store, path, paper, settings), paper


def cached_download(store: Store, arxiv_id: str, only: str | None = None) -> Download | None:
    """What an earlier run downloaded for this id (the source before the PDF), so that arXiv is asked once."""
    for run in store.find_runs_by_source_name(source_name(arxiv_id)):
        for key in (SOURCE_KEY, PDF_KEY) if only is None else (only,):
            art = store.find_artifact(run.id, ORIGINAL, key)
            if art is not None:
                data = base64.b64decode(art.content)
                return Download(
                    arxiv_id, "pdf" if key == PDF_KEY else "source", data, str(art.metadata.get("url", ""))
                )
    return None


def read_arxiv(
    arxiv_id: str, store: Store | None = None, fetch: Fetch | None = None
) -> tuple[Paper, Download]:
    """The paper behind an arXiv id: its LaTeX source when arXiv has it, else its PDF (reusing a stored download)."""
    download = cached_download(store, arxiv_id) if store is not None else None
    if download is None:
        download = (fetch or fetch_arxiv)(arxiv_id)
    note = (
        f"read from the arXiv LaTeX source of {arxiv_id}"
        if download.kind == "source"
        else f"arXiv has no LaTeX source for {arxiv_id}; read its PDF"
    )
    try:
        paper = _parse_download(download)
    except PaperParseError as exc:
        if download.kind != "source" or fetch is not None:
            what = "LaTeX source" if download.kind == "source" else "PDF"
            raise PaperParseError(
                f"arXiv {arxiv_id}: its {what} ({download.url}) cannot be read: {exc}"
            ) from exc
        # A source the LaTeX reader cannot use (no .tex inside, say): the PDF is the other way in.
        download = fetch_arxiv(arxiv_id, pdf_only=True)
        paper = _parse_download(download)
        note = f"the arXiv LaTeX source of {arxiv_id} could not be read ({exc}); read its PDF"
    paper.source = source_name(arxiv_id)
    paper.warnings.insert(0, note)
    return paper, download


def _parse_download(download: Download) -> Paper:
    with tempfile.TemporaryDirectory(prefix="papercoder-arxiv-") as tmp:
        file = Path(tmp) / (file_stem(download.arxiv_id) + download.suffix)
        file.write_bytes(download.data)
        return parse_document(file)


def ingest_arxiv(
    store: Store, arxiv_id: str, *, settings: dict[str, object] | None = None, fetch: Fetch | None = None
) -> tuple[Run, Paper]:
    """A new run from an arXiv paper; what was downloaded is kept as the run's original.

    A paper read from its LaTeX source also gets its PDF when arXiv has one, so that the model sees the
    figures as typeset too (a document block with the API, `paper.pdf` in handoff); best effort."""
    paper, download = read_arxiv(arxiv_id, store, fetch)
    typeset: Download | None = None
    if download.kind == "source" and fetch is None:
        typeset = cached_download(store, arxiv_id, PDF_KEY)
        if typeset is None:
            try:
                typeset = fetch_arxiv(arxiv_id, pdf_only=True)
                page_count(typeset.data)  # one that does not open is refused here, before the run exists
            except PaperParseError as exc:  # PaperFetchError included
                typeset = None
                paper.warnings.append(
                    f"the typeset PDF could not be fetched, so the model reads the LaTeX only: {exc}"
                )
    run = store.create_run(
        title=paper.title or arxiv_id,
        source=source_name(arxiv_id),
        source_hash=hashlib.sha256(download.data).hexdigest(),
        settings=dict(settings or {}),
    )
    store_paper(store, run.id, paper)
    pdf = download.kind == "pdf"
    store_original(
        store,
        run.id,
        PDF_KEY if pdf else SOURCE_KEY,
        download.data,
        media_type=download.media_type,
        filename=file_stem(arxiv_id) + download.suffix,
        paper=paper,
        extra={"arxiv_id": arxiv_id, "url": download.url},
    )
    if typeset is not None:
        store_original(
            store,
            run.id,
            PDF_KEY,
            typeset.data,
            media_type="application/pdf",
            filename=file_stem(arxiv_id) + ".pdf",
            paper=paper,  # read from the LaTeX, so the pages to show are found by their captions
            extra={"arxiv_id": arxiv_id, "url": typeset.url},
        )
    return store.get_run(run.id), paper
