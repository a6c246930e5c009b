"""The store as MCP resources. Every URI is a view; nothing here writes.

papercoder://runs                          all runs (JSON)
papercoder://runs/{run_id}                 manifest: steps with status and versions, cost (JSON)
papercoder://runs/{run_id}/paper           the paper as Markdown
papercoder://runs/{run_id}/plan            plan (JSON); also architecture, file_order, verification, coverage
papercoder://runs/{run_id}/config          config.yaml
papercoder://runs/{run_id}/analysis/{path} a file's analysis (Markdown)
papercoder://runs/{run_id}/files/{path}    a file's code
papercoder://runs/{run_id}/calls           the LLM call log with tokens and cost (JSON)
"""

from __future__ import annotations

import json
from collections.abc import Callable

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError

from papercoder_mcp.errors import PaperCoderError
from papercoder_mcp.paper.models import Paper
from papercoder_mcp.pipeline.status import is_complete, run_status
from papercoder_mcp.server.offload import off_loop
from papercoder_mcp.store import Store


async def _guard(fn: Callable[[], str]) -> str:
    """Read in a worker thread (the store may wait on another process's lock; the manifest computes
    the run's status), so a resource read never holds up the server's other clients."""
    try:
        return await off_loop(fn)
    except PaperCoderError as exc:
        raise ResourceNotFoundError(str(exc)) from exc


def register(server: MCPServer, store: Store) -> None:
    @server.resource(
        "papercoder://runs", name="runs", description="Every run in the store", mime_type="application/json"
    )
    async def runs() -> str:
        def build() -> str:
            rows = [
                {
                    "run_id": r.id,
                    "title": r.title,
                    "status": r.status,
                    "complete": is_complete(store, r.id),
                    "created_at": r.created_at,
                    "cost_usd": store.total_cost(r.id),
                }
                for r in store.list_runs()
            ]
            return json.dumps(rows, indent=2)

        return await _guard(build)

    @server.resource(
        "papercoder://runs/{run_id}",
        name="run",
        mime_type="application/json",
        description="A run's manifest: every step with its status (done, stale, missing) and version, and cost",
    )
    async def manifest(run_id: str) -> str:
        def build() -> str:
            status = run_status(store, run_id)
            data = status.model_dump()
            data["artifacts"] = [
                {
                    "kind": a.kind,
                    "key": a.key,
                    "version": a.version,
                    "format": a.format,
                    "created_at": a.created_at,
                }
                for a in store.list_artifacts(run_id)
                if a.kind != "answer"  # clients' raw answers are bookkeeping, not artifacts to read
            ]
            data["cost"] = store.cost_summary(run_id).model_dump()
            return json.dumps(data, indent=2)

        return await _guard(build)

    @server.resource(
        "papercoder://runs/{run_id}/paper",
        name="paper",
        mime_type="text/markdown",
        description="The parsed paper as Markdown (references included)",
    )
    async def paper(run_id: str) -> str:
        return await _guard(
            lambda: Paper.model_validate_json(store.get_artifact(run_id, "paper").content).to_markdown()
        )

    for kind, description in [
        ("plan", "The overall implementation plan"),
        ("architecture", "The software design: files, class diagram, sequence diagram"),
        ("file_order", "Packages, per-file logic and dependencies, dependency order"),
        ("verification", "The latest verification of the generated files: findings with file, line, kind"),
        ("coverage", "The paper's components and results mapped to the code, each checked against it"),
    ]:
        _json_artifact(server, store, kind, description)

    @server.resource(
        "papercoder://runs/{run_id}/config",
        name="config",
        mime_type="application/yaml",
        description="config.yaml with the paper's hyperparameters",
    )
    async def config(run_id: str) -> str:
        return await _guard(lambda: store.get_artifact(run_id, "config").content)

    @server.resource(
        "papercoder://runs/{run_id}/analysis/{+path}",
        name="analysis",
        mime_type="text/markdown",
        description="The logic analysis of one file",
    )
    async def analysis(run_id: str, path: str) -> str:
        return await _guard(lambda: store.get_artifact(run_id, "analysis", path).content)

    @server.resource(
        "papercoder://runs/{run_id}/files/{+path}",
        name="file",
        mime_type="text/plain",
        description="The generated code of one file",
    )
    async def code(run_id: str, path: str) -> str:
        return await _guard(lambda: store.get_artifact(run_id, "code", path).content)

    @server.resource(
        "papercoder://runs/{run_id}/calls",
        name="calls",
        mime_type="application/json",
        description="Every LLM call of the run: stage, file, sampler, model, tokens, cache tokens, cost, errors",
    )
    async def calls(run_id: str) -> str:
        def build() -> str:
            store.get_run(run_id)
            return json.dumps([c.model_dump() for c in store.calls(run_id)], indent=2)

        return await _guard(build)


def _json_artifact(server: MCPServer, store: Store, kind: str, description: str) -> None:
    async def read(run_id: str) -> str:
        return await _guard(lambda: store.get_artifact(run_id, kind).content)

    read.__name__ = kind
    server.resource(
        f"papercoder://runs/{{run_id}}/{kind}",
        name=kind,
        mime_type="application/json",
        description=description,
    )(read)
