"""`papercoder-mcp serve`: the MCP server over stdio (default) or streamable HTTP on 127.0.0.1."""

from __future__ import annotations

import hmac
import logging
import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from papercoder_mcp.cli.app import app, db_path, fail, info

if TYPE_CHECKING:
    from papercoder_mcp.server.app import SamplerMode

TOKEN_ENV = "PAPERCODER_TOKEN"


class BearerAuth:
    """Refuses HTTP requests without `Authorization: Bearer <token>` (a pure ASGI wrapper, stream-safe)."""

    def __init__(self, app: object, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: dict, receive: object, send: object) -> None:
        if scope["type"] == "http":
            got = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(got, self.expected):
                from starlette.responses import JSONResponse

                response = JSONResponse(
                    {"error": "missing or wrong bearer token"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)  # type: ignore[arg-type]
                return
        await self.app(scope, receive, send)  # type: ignore[operator]


@app.command()
def serve(
    http: Annotated[bool, typer.Option("--http", help="Serve streamable HTTP instead of stdio")] = False,
    host: Annotated[str, typer.Option(help="HTTP address to bind (loopback by default)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port")] = 8765,
    token: Annotated[
        str | None,
        typer.Option(help=f"Require this bearer token over HTTP (or set ${TOKEN_ENV})", show_default=False),
    ] = None,
    sampler: Annotated[
        str,
        typer.Option(help="auto (API key, else client sampling, else handoff), anthropic, sampling, handoff"),
    ] = "auto",
    model: Annotated[str | None, typer.Option(help="Anthropic model id for the server-side API")] = None,
) -> None:
    """Run the MCP server (stdio for Claude Desktop / Claude Code; --http for streamable HTTP)."""
    from papercoder_mcp.samplers.keys import configured_key, placeholder_problem
    from papercoder_mcp.server.build import build_server

    if problem := placeholder_problem(configured_key()):
        fail(problem)
    if sampler not in ("auto", "anthropic", "sampling", "handoff"):
        fail(f"--sampler must be auto, anthropic, sampling or handoff, not {sampler!r}")
    if sampler == "anthropic" and not os.environ.get("ANTHROPIC_API_KEY"):
        fail("--sampler anthropic needs ANTHROPIC_API_KEY in the environment")
    # stdout is the protocol channel on stdio: logs go to stderr only.
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    mode: SamplerMode = sampler  # type: ignore[assignment]
    server = build_server(db_path(), sampler=mode, model=model)
    if not http:
        server.run("stdio")
        return
    import uvicorn

    token = token or os.environ.get(TOKEN_ENV)
    if host not in ("127.0.0.1", "localhost", "::1") and not token:
        fail(f"binding {host} exposes the server beyond this machine; set --token (or ${TOKEN_ENV}) too")
    # A loopback host turns on the SDK's DNS-rebinding protection (Host/Origin checks).
    asgi = server.streamable_http_app(host=host)
    info(f"papercoder-mcp on http://{host}:{port}/mcp" + (" (bearer token required)" if token else ""))
    uvicorn.run(BearerAuth(asgi, token) if token else asgi, host=host, port=port, log_level="warning")
