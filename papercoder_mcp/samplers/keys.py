"""The server's Anthropic key as configured: absent, a copied placeholder, or something to try.

A placeholder pasted from documentation (`sk-...`) is not absent, so without this check it would win
over client sampling and handoff, and every stage would fail on HTTP 401 after its retries.
"""

from __future__ import annotations

import os

KEY_ENV = "ANTHROPIC_API_KEY"


def configured_key() -> str:
    return os.environ.get(KEY_ENV, "").strip()


def placeholder_problem(key: str) -> str:
    """Why `key` is a placeholder rather than a key ('' when it may be real)."""
    if "..." in key or "…" in key or " " in key or key.lower() in {"sk-", "your-key", "<key>", "changeme"}:
        return (
            f"{KEY_ENV} holds a placeholder ({key[:12]!r}), not a key: put your real key there, or remove it "
            "to let the MCP client's model or the calling agent (handoff) do the work"
        )
    return ""
