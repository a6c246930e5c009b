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
# A token guessable in reach of a network attacker protects nothing; 32 characters is what
# `secrets.token_urlsafe(24)` gives.
MIN_TOKEN_CHARS = 32
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class BearerAuth:
    """Refuses HTTP requests without `Authorization: Bearer <token>` (a pure ASGI wrapper, stream-safe).

    The scheme is case-insensitive (RFC 9110), and a request with more than one Authorization header
    is refused outright: which one a proxy or framework reads is not something to guess."""

    def __init__(self, app: object, token: str) -> None:
        self.app = app
        self.expected = token.encode()

    def problem(self, headers: list[tuple[bytes, bytes]]) -> tuple[int, str] | None:
        values = [v for k, v in headers if k.lower() == b"authorization"]
        if len(values) > 1:
            return 400, "more than one Authorization header; send exactly one"
        scheme, _, credentials = (values[0] if values else b"").strip().partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(credentials.strip(), self.expected):
            return 401, "missing or wrong bearer token"
        return None

    async def __call__(self, scope: dict, receive: object, send: object) -> None:
        if scope["type"] == "http":
            refused = self.problem(list(scope["headers"]))
            if refused is not None:
                from starlette.responses import JSONResponse

                status, message = refused
                response = JSONResponse(
                    {"error": message}, status_code=status, headers={"WWW-Authenticate": "Bearer"}
                )
                await response(scope, receive, send)  # type: ignore[arg-type]
                return
        await self.app(scope, receive, send)  # type: ignore[operator]


def token_problem(host: str, token: str | None) -> str | None:
    """Why serving HTTP on `host` with `token` is refused, or None."""
    if host in LOOPBACK_HOSTS:
        return None
    if not token:
        return f"binding {host} exposes the server beyond this machine; set --token (or ${TOKEN_ENV}) too"
    if len(token) < MIN_TOKEN_CHARS:
        return (
            f"binding {host} needs a token of at least {MIN_TOKEN_CHARS} characters (MIN_TOKEN_CHARS), "
            f"not {len(token)}; make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return None


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
    token = token or os.environ.get(TOKEN_ENV)
    refused = token_problem(host, token) if http else None
    if refused:
        fail(refused)
    # stdout is the protocol channel on stdio: logs go to stderr only.
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    mode: SamplerMode = sampler  # type: ignore[assignment]
    server = build_server(db_path(), sampler=mode, model=model)
    if not http:
        server.run("stdio")
        return
    import uvicorn

    # A loopback host turns on the SDK's DNS-rebinding protection (Host/Origin checks).
    asgi = server.streamable_http_app(host=host)
    info(f"papercoder-mcp on http://{host}:{port}/mcp" + (" (bearer token required)" if token else ""))
    uvicorn.run(BearerAuth(asgi, token) if token else asgi, host=host, port=port, log_level="warning")
