"""The artifact store: one SQLite file that is the single source of truth for every run.

Why it is shaped this way:

- WAL mode lets readers (an MCP server serving resources) run beside a writer
  (a CLI run) without blocking each other.
- Every write is one `BEGIN IMMEDIATE` transaction. A deferred transaction that
  reads and then writes can fail at once with SQLITE_BUSY when another process
  wrote in between (the busy handler is not consulted for that upgrade); taking
  the write lock up front makes SQLite wait on `busy_timeout` instead, so two
  processes writing at once queue rather than surface "database is locked".
- Versions are assigned inside that transaction, so two writers of the same
  artifact get consecutive versions and neither is lost.
- An artifact carries the hash of the inputs it was made from; the orchestrator
  compares it to decide whether a stage is already done.
- One `Store` may be shared by threads (e.g. work sent to `anyio.to_thread`):
  every use of its single connection holds a lock, so one thread's transaction
  never swallows another thread's statements.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import platformdirs
import sqlite_utils

from papercoder_mcp.errors import ArtifactNotFound, RunNotFound, StoreError
from papercoder_mcp.store.migrations import migrate
from papercoder_mcp.store.records import Artifact, CallRecord, CostSummary, Run, StageCost

BUSY_TIMEOUT_MS = 30_000
# Beyond busy_timeout, a few whole-transaction retries cover the rare SQLITE_BUSY
# that SQLite returns without waiting (e.g. during WAL recovery by another process).
WRITE_RETRIES = 8


def default_db_path() -> Path:
    env = os.environ.get("PAPERCODER_DB")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("papercoder-mcp", appauthor=False)) / "store.db"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def canonical_hash(value: Any) -> str:
    """SHA-256 of canonical JSON (sorted keys, compact), the identity of a stage's inputs."""
    data = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(data.encode()).hexdigest()


def new_run_id() -> str:
    return "run-" + secrets.token_hex(4)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    msg = str(exc).lower()
    return "locked" in msg or "busy" in msg


class Store:
    """Runs, artifact versions and the LLM call log in one SQLite file."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_db_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                str(self.path),
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"cannot open the store at {self.path}: {exc}; pass --db to use another file"
            ) from exc
        self.db = sqlite_utils.Database(conn)
        self._lock = threading.RLock()
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._retry(lambda: conn.execute("PRAGMA journal_mode = WAL"))
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            self.schema_version = self._retry(lambda: migrate(self.db))
        except StoreError:
            conn.close()
            raise
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(f"{self.path} is not a usable papercoder store: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions -------------------------------------------------------

    def _query(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        """Rows as dicts, read completely while holding the connection lock."""
        with self._lock:
            return list(self.db.query(sql, params or []))

    def _scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        with self._lock:
            return self.db.execute(sql, params or []).fetchone()[0]

    def _retry(self, fn: Any) -> Any:
        for attempt in range(WRITE_RETRIES):
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or attempt == WRITE_RETRIES - 1:
                    raise
                time.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self.db.conn
        with self._lock:
            self._retry(lambda: conn.execute("BEGIN IMMEDIATE"))
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    # -- runs ---------------------------------------------------------------

    def create_run(
        self,
        title: str = "",
        source: str = "",
        source_hash: str = "",
        settings: dict[str, Any] | None = None,
        run_id: str | None = None,
    ) -> Run:
        now = now_iso()
        run = Run(
            id=run_id or new_run_id(),
            title=title,
            source=source,
            source_hash=source_hash,
            status="created",
            settings=settings or {},
            created_at=now,
            updated_at=now,
        )
        row = run.model_dump()
        row["settings"] = json.dumps(run.settings, sort_keys=True)
        with self._write():
            self.db.table("runs").insert(row)
        return run

    def get_run(self, run_id: str) -> Run:
        rows = self._query("select * from runs where id = ?", [run_id])
        if not rows:
            raise RunNotFound(run_id)
        return self._run(rows[0])

    def list_runs(self) -> list[Run]:
        return [self._run(r) for r in self._query("select * from runs order by created_at desc")]

    def find_runs_by_source(self, source_hash: str) -> list[Run]:
        rows = self._query("select * from runs where source_hash = ? order by created_at desc", [source_hash])
        return [self._run(r) for r in rows]

    def update_run(
        self,
        run_id: str,
        *,
        status: str | None = None,
        title: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> Run:
        self.get_run(run_id)
        updates: dict[str, Any] = {"updated_at": now_iso()}
        if status is not None:
            updates["status"] = status
        if title is not None:
            updates["title"] = title
        if settings is not None:
            updates["settings"] = json.dumps(settings, sort_keys=True)
        with self._write():
            self.db.table("runs").update(run_id, updates)
        return self.get_run(run_id)

    @staticmethod
    def _run(row: dict[str, Any]) -> Run:
        row = dict(row)
        row["settings"] = json.loads(row.get("settings") or "{}")
        return Run(**row)

    # -- artifacts ----------------------------------------------------------

    def put_artifact(
        self,
        run_id: str,
        kind: str,
        content: str,
        *,
        key: str = "",
        format: str = "text",
        input_hash: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> Artifact:
        """Store a new version of (kind, key) in the run; the newest version is the current one."""
        self.get_run(run_id)
        with self._write() as conn:
            (latest,) = conn.execute(
                "select coalesce(max(version), 0) from artifacts where run_id = ? and kind = ? and key = ?",
                [run_id, kind, key],
            ).fetchone()
            art = Artifact(
                run_id=run_id,
                kind=kind,
                key=key,
                version=latest + 1,
                content=content,
                format=format,
                input_hash=input_hash,
                metadata=metadata or {},
                created_at=now_iso(),
            )
            row = art.model_dump()
            row["metadata"] = json.dumps(art.metadata, sort_keys=True)
            self.db.table("artifacts").insert(row)
            conn.execute("update runs set updated_at = ? where id = ?", [art.created_at, run_id])
        return art

    def find_artifact(
        self, run_id: str, kind: str, key: str = "", version: int | None = None
    ) -> Artifact | None:
        if version is None:
            sql = "select * from artifacts where run_id = ? and kind = ? and key = ? order by version desc limit 1"
            params: list[Any] = [run_id, kind, key]
        else:
            sql = "select * from artifacts where run_id = ? and kind = ? and key = ? and version = ?"
            params = [run_id, kind, key, version]
        rows = self._query(sql, params)
        return self._artifact(rows[0]) if rows else None

    def find_artifact_metadata(self, run_id: str, kind: str, key: str = "") -> dict[str, Any] | None:
        """The current version's metadata without its content (originals are megabytes; callers need facts)."""
        rows = self._query(
            "select metadata from artifacts where run_id = ? and kind = ? and key = ? order by version desc limit 1",
            [run_id, kind, key],
        )
        return json.loads(rows[0]["metadata"] or "{}") if rows else None

    def current_version(self, run_id: str, kind: str, key: str = "") -> int | None:
        """The current version number of an artifact (None when there is none), without its content."""
        rows = self._query(
            "select max(version) as v from artifacts where run_id = ? and kind = ? and key = ?",
            [run_id, kind, key],
        )
        return int(rows[0]["v"]) if rows and rows[0]["v"] is not None else None

    def same_content(self, run_id: str, kind: str, key: str, a: int, b: int) -> bool:
        """Whether two versions of an artifact hold the same content (a repair or a carry can make a
        new version of the same code)."""
        if a == b:
            return True
        rows = self._query(
            "select count(distinct content) as n, count(*) as k from artifacts"
            " where run_id = ? and kind = ? and key = ? and version in (?, ?)",
            [run_id, kind, key, a, b],
        )
        return bool(rows) and rows[0]["k"] == 2 and rows[0]["n"] == 1

    def find_runs_by_source_name(self, source: str) -> list[Run]:
        """Runs started from this source (a path, or `arxiv:ID`), newest first."""
        rows = self._query("select * from runs where source = ? order by created_at desc", [source])
        return [self._run(r) for r in rows]

    def get_artifact(self, run_id: str, kind: str, key: str = "", version: int | None = None) -> Artifact:
        art = self.find_artifact(run_id, kind, key, version)
        if art is None:
            self.get_run(run_id)
            raise ArtifactNotFound(run_id, kind, key, version)
        return art

    def list_artifacts(self, run_id: str, kind: str | None = None) -> list[Artifact]:
        """The current (latest) version of every artifact of the run, optionally of one kind."""
        self.get_run(run_id)
        sql = """
            select a.* from artifacts a
            join (select kind, key, max(version) as v from artifacts where run_id = ? group by kind, key) m
              on a.kind = m.kind and a.key = m.key and a.version = m.v
            where a.run_id = ?
        """
        params: list[Any] = [run_id, run_id]
        if kind is not None:
            sql += " and a.kind = ?"
            params.append(kind)
        sql += " order by a.id"
        return [self._artifact(r) for r in self._query(sql, params)]

    def history(self, run_id: str, kind: str, key: str = "") -> list[Artifact]:
        rows = self._query(
            "select * from artifacts where run_id = ? and kind = ? and key = ? order by version",
            [run_id, kind, key],
        )
        return [self._artifact(r) for r in rows]

    @staticmethod
    def _artifact(row: dict[str, Any]) -> Artifact:
        row = dict(row)
        row.pop("id", None)
        row["metadata"] = json.loads(row.get("metadata") or "{}")
        row["input_hash"] = row.get("input_hash") or ""
        row["format"] = row.get("format") or "text"
        return Artifact(**row)

    # -- calls and cost -----------------------------------------------------

    def record_call(self, call: CallRecord) -> CallRecord:
        self.get_run(call.run_id)
        row = call.model_dump(exclude={"id"})
        row["created_at"] = call.created_at or now_iso()
        with self._write():
            self.db.table("calls").insert(row)
            row_id = self._scalar("select last_insert_rowid()")
        return call.model_copy(update={"id": row_id, "created_at": row["created_at"]})

    def finish_call(self, call_id: int, call: CallRecord) -> CallRecord:
        """Complete a call logged as `in_flight` with what came back (or how it ended)."""
        row = call.model_dump(exclude={"id", "created_at", "run_id"})
        with self._write():
            self.db.table("calls").update(call_id, row)
        return call.model_copy(update={"id": call_id})

    def forget_call(self, call_id: int) -> None:
        """Drop a call logged in flight whose request was never sent (its answer comes later)."""
        with self._write() as conn:
            conn.execute("delete from calls where id = ? and status = 'in_flight'", [call_id])

    def calls(self, run_id: str, stage: str | None = None) -> list[CallRecord]:
        sql, params = "select * from calls where run_id = ?", [run_id]
        if stage is not None:
            sql += " and stage = ?"
            params.append(stage)
        return [CallRecord(**r) for r in self._query(sql + " order by id", params)]

    def cost_summary(self, run_id: str) -> CostSummary:
        self.get_run(run_id)
        rows = self._query(
            """
                select stage, count(*) as calls,
                       sum(input_tokens) as input_tokens, sum(output_tokens) as output_tokens,
                       sum(cache_read_tokens) as cache_read_tokens, sum(cache_write_tokens) as cache_write_tokens,
                       coalesce(sum(cost_usd), 0.0) as cost_usd,
                       sum(case when cost_usd is null and status = 'done' then 1 else 0 end) as unpriced_calls,
                       sum(case when status != 'done' then 1 else 0 end) as unfinished_calls
                from calls where run_id = ? group by stage order by min(id)
                """,
            [run_id],
        )
        stages = [StageCost(**{k: (v or 0) for k, v in r.items()}) for r in rows]
        return CostSummary(
            run_id=run_id,
            total_usd=sum(s.cost_usd for s in stages),
            calls=sum(s.calls for s in stages),
            unpriced_calls=sum(s.unpriced_calls for s in stages),
            unfinished_calls=sum(s.unfinished_calls for s in stages),
            by_stage=stages,
        )

    def total_cost(self, run_id: str) -> float:
        total = self._scalar("select coalesce(sum(cost_usd), 0.0) from calls where run_id = ?", [run_id])
        return float(total)

    # -- maintenance --------------------------------------------------------

    def integrity_check(self) -> str:
        """'ok' when SQLite finds the file consistent, else its first complaint."""
        return str(self._scalar("PRAGMA integrity_check"))
