"""The artifact store: the SQLite database (`db`), its migrations, and its rows as pydantic records."""

from __future__ import annotations

from papercoder_mcp.store.db import Store, canonical_hash, default_db_path, now_iso

__all__ = ["Store", "canonical_hash", "default_db_path", "now_iso"]
