"""`python -m papercoder_mcp`: the same command line as the `papercoder-mcp` script."""

from __future__ import annotations

from papercoder_mcp.cli import main

if __name__ == "__main__":
    main()
