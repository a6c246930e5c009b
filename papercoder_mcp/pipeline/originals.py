"""The paper as it was given, kept in the store: the original PDF, and an arXiv e-print.

Stored once at ingest, as base64 text in an `original` artifact (key `pdf` or `source`), because
the store is the one source of truth: the model reads the typeset PDF from it (a `document` block
with the API, page images with client sampling, resources in handoff) long after the file the user
named has moved, and an arXiv paper is downloaded once however many runs start from it.
"""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

from pydantic import BaseModel, Field

from papercoder_mcp.paper.models import Paper
from papercoder_mcp.paper.pages import caption_pages, page_count, visual_pages
from papercoder_mcp.samplers.base import Document, SampleRequest
from papercoder_mcp.store import Store
from papercoder_mcp.store.records import Artifact

ORIGINAL = "original"
PDF_KEY = "pdf"
SOURCE_KEY = "source"
# The Messages API takes PDFs of at most 100 pages in a request of at most 32 MB; base64 adds a third.
MAX_DOCUMENT_PAGES = 100
MAX_DOCUMENT_BYTES = 22 * 1024 * 1024
DOCUMENT_ENV = "PAPERCODER_PDF_DOCUMENT"


class OriginalInfo(BaseModel):
    """What is known about a stored original without reading its bytes."""

    key: str
    media_type: str
    sha256: str
    bytes: int
    filename: str = ""
    pages: int = 0
    arxiv_id: str = ""
    url: str = ""
    title: str = ""
    visual_pages: list[int] = Field(
        default_factory=list, description="1-based pages with tables, figures and display equations"
    )

    @property
    def sendable(self) -> bool:
        """Whether the PDF fits what the API accepts as a document."""
        return 0 < self.pages <= MAX_DOCUMENT_PAGES and self.bytes <= MAX_DOCUMENT_BYTES


def store_original(
    store: Store,
    run_id: str,
    key: str,
    data: bytes,
    *,
    media_type: str,
    filename: str,
    paper: Paper | None = None,
    extra: dict[str, Any] | None = None,
) -> Artifact:
    """Keep the bytes once; for a PDF, also what prompts need from it without reading it again: its pages,
    the paper's title, and the pages to show as images (from the parsed paper's page numbers when it was
    parsed from this PDF, else found by their captions)."""
    pdf = media_type == "application/pdf"
    if pdf and paper is not None and paper.source_format == "pdf":
        shown = visual_pages(paper)
    else:
        shown = caption_pages(data) if pdf else []
    info = OriginalInfo(
        key=key,
        media_type=media_type,
        sha256=hashlib.sha256(data).hexdigest(),
        bytes=len(data),
        filename=filename,
        pages=page_count(data) if pdf else 0,
        title=paper.title if paper is not None else "",
        visual_pages=shown,
        **(extra or {}),
    )
    return store.put_artifact(
        run_id,
        ORIGINAL,
        base64.b64encode(data).decode("ascii"),
        key=key,
        format="base64",
        metadata=info.model_dump(),
    )


def original_info(store: Store, run_id: str, key: str = PDF_KEY) -> OriginalInfo | None:
    meta = store.find_artifact_metadata(run_id, ORIGINAL, key)
    if not meta:
        return None
    return OriginalInfo.model_validate({k: v for k, v in meta.items() if k in OriginalInfo.model_fields})


def load_original(store: Store, run_id: str, key: str = PDF_KEY) -> bytes | None:
    art = store.find_artifact(run_id, ORIGINAL, key)
    return base64.b64decode(art.content) if art is not None else None


def documents_enabled() -> bool:
    """`PAPERCODER_PDF_DOCUMENT=0` keeps prompts text-only (the PDF roughly triples a prefix's tokens)."""
    return os.environ.get(DOCUMENT_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def paper_documents(store: Store, run_id: str) -> list[Document]:
    """The run's PDF as a prompt document (without its bytes), or nothing when there is none or it is too big.

    Built from the original's metadata alone: every freshness check renders a request, and must not
    read megabytes or parse the paper again to do it."""
    info = original_info(store, run_id, PDF_KEY)
    if info is None or not info.sendable or not documents_enabled():
        return []
    return [
        Document(
            sha256=info.sha256,
            pages=info.pages,
            title=info.title or info.filename,
            visual_pages=info.visual_pages,
        )
    ]


def with_document_data(
    store: Store, run_id: str, request: SampleRequest, reads_documents: bool
) -> SampleRequest:
    """The request as a sampler gets it: document bytes filled in for one that reads them. Others keep the
    documents' metadata without bytes: client sampling attaches page images from it, handoff names the
    PDF and page resources."""
    if not request.documents or not reads_documents:
        return request
    art = store.find_artifact(run_id, ORIGINAL, PDF_KEY)
    filled: list[Document] = []
    for doc in request.documents:
        if art is None or art.metadata.get("sha256") != doc.sha256:
            continue  # the stored PDF changed since the prompt was made: send what matches, nothing else
        filled.append(doc.model_copy(update={"data": art.content}))
    return request.model_copy(update={"documents": filled})
