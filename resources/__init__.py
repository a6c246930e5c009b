"""resources of the papercoder-mcp MCP server."""
