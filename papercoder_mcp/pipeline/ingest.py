"""Starting a run from a paper: parse it, store it as the run's `paper` artifact."""

from __future__ import annotations

import hashlib
from pathlib import Path

from papercoder_mcp.paper import Paper, parse_document
from papercoder_mcp.store import Store
from papercoder_mcp.store.records import Artifact, Run


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
        "warnings": paper.warnings,
    }


def store_paper(store: Store, run_id: str, paper: Paper) -> Artifact:
    return store.put_artifact(
        run_id, "paper", paper.model_dump_json(), format="json", metadata=paper_metadata(paper)
    )


def create_run_for(
    store: Store, path: str | Path, paper: Paper, settings: dict[str, object] | None = None
) -> Run:
    """A new run holding an already parsed paper."""
    p = Path(path).expanduser().resolve()
    run = store.create_run(
        title=paper.title or p.stem, source=str(p), source_hash=source_hash(p), settings=dict(settings or {})
    )
    store_paper(store, run.id, paper)
    return store.get_run(run.id)


def ingest_paper(
    store: Store, path: str | Path, *, settings: dict[str, object] | None = None
) -> tuple[Run, Paper]:
    """Parse the paper (errors surface before anything is written) and create a run holding it."""
    paper = parse_document(Path(path).expanduser())
    return create_run_for(store, path, paper, settings), paper
