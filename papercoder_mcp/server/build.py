"""Assembling the MCP server: tools from `tools/`, resources from `resources/`, prompts from `prompts/`."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp.server import MCPServer
from mcp.types import EmptyResult, SubscribeRequestParams, UnsubscribeRequestParams

from papercoder_mcp import __version__
from papercoder_mcp.prompts import mcp_prompts
from papercoder_mcp.resources import register as register_resources
from papercoder_mcp.samplers.base import Sampler
from papercoder_mcp.server.app import DEFAULT_MAX_ROUNDS, App, SamplerMode
from papercoder_mcp.server.classic_sampling import DEFAULT_CALL_SECONDS
from papercoder_mcp.server.schemas import compact_input_schema, compact_output_schema
from papercoder_mcp.store import Store
from papercoder_mcp.tools import (
    analyze_file,
    check_coverage,
    design_architecture,
    edit_artifact,
    evaluate_repo,
    export_repo,
    generate_file,
    get_run,
    list_runs,
    make_plan,
    order_files,
    parse_paper,
    repair_file,
    run_pipeline,
    submit_artifact,
    verify_repo,
    write_config,
)

TOOL_MODULES = [
    parse_paper,
    make_plan,
    design_architecture,
    order_files,
    write_config,
    analyze_file,
    generate_file,
    run_pipeline,
    submit_artifact,
    edit_artifact,
    get_run,
    list_runs,
    verify_repo,
    repair_file,
    check_coverage,
    evaluate_repo,
    export_repo,
]

INSTRUCTIONS = """\
papercoder-mcp turns a machine-learning paper into a code repository (the PaperCoder method).
Start with parse_paper(path) to get a run id. Then either run_pipeline(run_id) for everything, or the
stages one by one: make_plan, design_architecture, order_files, write_config, analyze_file(path) for
every file, generate_file(path) in dependency order; get_run shows what is done and what to call next.
Read and correct artifacts between stages (resources papercoder://runs/{run_id}/..., edit_artifact).
When a result has status "handoff", write the answer yourself and send it with submit_artifact.
run_pipeline also verifies the files and repairs what verification finds, with any model source; a run
is complete ("verified") only when every step is fresh and the current verification passed. verify_repo
checks the files on its own, repair_file fixes one; check_coverage maps the paper's components and results to the code (what
is missing goes in the README); evaluate_repo scores them like Paper2Code (judge)
or PaperBench (rubric). Finish with export_repo(run_id, out_dir). Generated code is never executed unless a smoke run is asked for.
"""

log = logging.getLogger("papercoder_mcp")


def _lighten(server: MCPServer, name: str) -> None:
    """Publish a tool's schemas in their short form (see server/schemas.py); results are still validated
    against the full model. The SDK reads `fn_metadata.output_schema` live, so replacing it is enough."""
    tool = server._tool_manager.get_tool(name)  # MCPServer has no public accessor for a registered tool
    assert tool is not None
    tool.parameters = compact_input_schema(tool.parameters)
    tool.description = inspect.cleandoc(tool.description or "")
    if tool.fn_metadata.output_schema is not None:
        tool.fn_metadata.output_schema = compact_output_schema(tool.fn_metadata.output_schema)


def build_server(
    store: Store | str | Path | None = None,
    *,
    sampler: SamplerMode = "auto",
    model: str | None = None,
    max_rounds: int = DEFAULT_MAX_ROUNDS,
    anthropic_sampler: Sampler | None = None,
    call_seconds: float = DEFAULT_CALL_SECONDS,
) -> MCPServer:
    """The papercoder MCP server over one store; `anthropic_sampler` replaces the one made from the env."""
    if not isinstance(store, Store):
        store = Store(store)
    app = App(
        store=store,
        mode=sampler,
        model=model,
        max_rounds=max_rounds,
        anthropic_sampler=anthropic_sampler,
        call_seconds=call_seconds,
    )

    @asynccontextmanager
    async def lifespan(server: MCPServer) -> AsyncIterator[App]:
        log.info("papercoder-mcp serving store %s (sampler: %s)", store.path, sampler)
        try:
            yield app
        finally:
            await app.aclose()

    server = MCPServer(
        "papercoder-mcp",
        title="PaperCoder",
        instructions=INSTRUCTIONS,
        version=__version__,
        lifespan=lifespan,
        subscriptions=app.bus,
    )
    for module in TOOL_MODULES:
        name = module.__name__.rsplit(".", 1)[1]
        fn = getattr(module, name)
        server.tool(name=name, title=module.TITLE, annotations=module.ANNOTATIONS)(fn)
        _lighten(server, name)
    register_resources(server, store)
    mcp_prompts.register(server, store)
    _offer_legacy_subscriptions(server, app)
    return server


def _offer_legacy_subscriptions(server: MCPServer, app: App) -> None:
    """resources/subscribe for clients before 2026-07-28 (from then on, subscriptions/listen serves them).

    MCPServer registers only the modern form; the low-level server advertises `subscribe` on the
    older handshake as soon as the method is served."""

    async def subscribe(ctx: Any, params: SubscribeRequestParams) -> EmptyResult:
        sessions = app.legacy_subscribers.setdefault(str(params.uri), [])
        if ctx.session not in sessions:
            sessions.append(ctx.session)
        return EmptyResult()

    async def unsubscribe(ctx: Any, params: UnsubscribeRequestParams) -> EmptyResult:
        sessions = app.legacy_subscribers.get(str(params.uri), [])
        app.legacy_subscribers[str(params.uri)] = [s for s in sessions if s is not ctx.session]
        return EmptyResult()

    lowlevel = server._lowlevel_server  # noqa: SLF001 (MCPServer has no public hook for these two methods)
    lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, subscribe)
    lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, unsubscribe)
