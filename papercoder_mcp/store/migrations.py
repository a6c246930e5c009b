"""Schema migrations: an append-only list of small functions; `PRAGMA user_version` counts those applied.

Never edit a shipped migration; add a new one at the end.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils

from papercoder_mcp.errors import StoreError


def m001_initial(db: sqlite_utils.Database) -> None:
    db.table("runs").create(
        {
            "id": str,
            "title": str,
            "source": str,
            "source_hash": str,
            "status": str,
            "settings": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"id", "status", "created_at", "updated_at"},
    )
    db.table("runs").create_index(["source_hash"])
    db.table("artifacts").create(
        {
            "id": int,
            "run_id": str,
            "kind": str,
            "key": str,
            "version": int,
            "content": str,
            "format": str,
            "input_hash": str,
            "metadata": str,
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
        not_null={"run_id", "kind", "key", "version", "content", "created_at"},
    )
    db.table("artifacts").create_index(["run_id", "kind", "key", "version"], unique=True)
    db.table("calls").create(
        {
            "id": int,
            "run_id": str,
            "stage": str,
            "key": str,
            "sampler": str,
            "model": str,
            "input_tokens": int,
            "output_tokens": int,
            "cache_read_tokens": int,
            "cache_write_tokens": int,
            "cost_usd": float,
            "latency_s": float,
            "stop_reason": str,
            "attempt": int,
            "error": str,
            "request_hash": str,
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("calls").create_index(["run_id", "stage"])


def m002_call_status_and_leases(db: sqlite_utils.Database) -> None:
    """A call is logged before its request is sent (`in_flight`) and completed after, so a killed run
    still shows what it may have been billed for; `leases` lets one pipeline at a time work on a run."""
    db.execute("alter table calls add column status text not null default 'done'")
    db.table("leases").create(
        {
            "run_id": str,
            "token": str,
            "pid": int,
            "host": str,
            "purpose": str,
            "since": str,
            "heartbeat_at": float,
        },
        pk="run_id",
        not_null={"run_id", "token", "pid", "host", "since", "heartbeat_at"},
    )


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [m001_initial, m002_call_status_and_leases]


def migrate(db: sqlite_utils.Database) -> int:
    """Apply pending migrations, each in its own transaction; return the schema version reached."""
    current = db.execute("PRAGMA user_version").fetchone()[0]
    if current > len(MIGRATIONS):
        raise StoreError(
            f"store schema version {current} is newer than this papercoder-mcp knows ({len(MIGRATIONS)}); "
            "upgrade papercoder-mcp"
        )
    for index in range(current, len(MIGRATIONS)):
        conn = db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the write lock.
            if conn.execute("PRAGMA user_version").fetchone()[0] > index:
                conn.execute("COMMIT")
                continue
            MIGRATIONS[index](db)
            conn.execute(f"PRAGMA user_version = {index + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)
