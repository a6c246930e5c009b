"""tools of the papercoder-mcp MCP server."""
