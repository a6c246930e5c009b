"""Prompts offered to MCP clients (picked by the user from the client's menu)."""

from __future__ import annotations

from typing import Annotated

from mcp.server import MCPServer
from pydantic import Field

from papercoder_mcp import prompts
from papercoder_mcp.errors import PaperCoderError
from papercoder_mcp.pipeline.status import run_status
from papercoder_mcp.store import Store

REVIEWABLE = ("plan", "architecture", "file_order", "config")

PaperPath = Annotated[
    str, Field(description="absolute path of the paper on the server's machine (.pdf, .tex, LaTeX dir, .md)")
]
RunGuidance = Annotated[
    str, Field(description="anything the stages should know, e.g. 'use PyTorch' (optional)")
]
RunIdArg = Annotated[str, Field(description="the run id (from parse_paper or list_runs)")]
KindArg = Annotated[str, Field(description="which artifact: plan, architecture, file_order or config")]


def register(server: MCPServer, store: Store) -> None:
    @server.prompt(
        name="reproduce_paper",
        title="Reproduce a paper",
        description="Walk through the PaperCoder stages for a paper, with checkpoints for your review",
    )
    def reproduce_paper(paper_path: PaperPath, guidance: RunGuidance = "") -> str:
        return prompts.render("mcp_reproduce_paper", paper_path=paper_path, guidance=guidance or "none")

    @server.prompt(
        name="review_artifact",
        title="Review an artifact against the paper",
        description="Critique a run's plan, architecture, file order or config against the paper",
    )
    def review_artifact(run_id: RunIdArg, kind: KindArg = "plan") -> str:
        if kind not in REVIEWABLE:
            raise ValueError(f"kind must be one of {', '.join(REVIEWABLE)}")
        try:
            artifact = store.get_artifact(run_id, kind)
        except PaperCoderError as exc:
            raise ValueError(str(exc)) from exc
        return prompts.render(
            "mcp_review_artifact",
            run_id=run_id,
            kind=kind,
            version=artifact.version,
            content=artifact.content,
        )

    @server.prompt(
        name="explain_run",
        title="Explain a run",
        description="Summarise what a run built, what it cost, and what is still unclear or missing",
    )
    def explain_run(run_id: RunIdArg) -> str:
        try:
            status = run_status(store, run_id)
        except PaperCoderError as exc:
            raise ValueError(str(exc)) from exc
        steps = "\n".join(
            f"- {s.stage}{' ' + s.key if s.key else ''}: {s.status}"
            + (f" (v{s.version})" if s.version else "")
            for s in status.steps
        )
        return prompts.render(
            "mcp_explain_run",
            run_id=run_id,
            title=status.title,
            status=status.status,
            steps=steps,
            cost=f"{status.cost_usd:.4f}",
        )
