"""A run lease: one pipeline at a time works on a run, and a lease left by a dead process expires.

Why it is shaped this way:

- The lease is a row in the store (`leases`, one per run), taken inside a `BEGIN IMMEDIATE`
  transaction, so two processes racing for it are serialised by SQLite itself.
- The holder refreshes `heartbeat_at` from a daemon thread every `HEARTBEAT_S`; a lease whose
  heartbeat is older than `STALE_AFTER_S` is stale (the holder hung or its host died). On the same
  host a holder whose pid no longer exists is stale at once, so `kill -9` does not block the next run.
- A second pipeline is refused (or waits up to `wait_s`) with a message naming the holder, so two
  `full` runs on one run id cannot pay for every call twice.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from types import TracebackType

from pydantic import BaseModel

from papercoder_mcp.errors import RunBusy
from papercoder_mcp.store.db import Store, now_iso

HEARTBEAT_S = 5.0
STALE_AFTER_S = 30.0
_POLL_S = 0.5


class LeaseHolder(BaseModel):
    run_id: str
    token: str
    pid: int
    host: str
    purpose: str = ""
    since: str
    heartbeat_at: float

    def describe(self) -> str:
        age = max(0.0, time.time() - self.heartbeat_at)
        what = f" ({self.purpose})" if self.purpose else ""
        return f"pid {self.pid} on {self.host}{what}, since {self.since}, last heartbeat {age:.0f}s ago"


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists on this host and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            state = fh.read().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def is_stale(holder: LeaseHolder, *, now: float | None = None, stale_after_s: float = STALE_AFTER_S) -> bool:
    if holder.host == socket.gethostname() and not pid_alive(holder.pid):
        return True
    return (time.time() if now is None else now) - holder.heartbeat_at > stale_after_s


def current_holder(store: Store, run_id: str) -> LeaseHolder | None:
    rows = store._query("select * from leases where run_id = ?", [run_id])
    return LeaseHolder(**rows[0]) if rows else None


class RunLease:
    """Holds the lease on one run while the `with` block runs; heartbeats in the background."""

    def __init__(
        self,
        store: Store,
        run_id: str,
        purpose: str = "",
        *,
        wait_s: float = 0.0,
        heartbeat_s: float = HEARTBEAT_S,
        stale_after_s: float = STALE_AFTER_S,
    ) -> None:
        self.store, self.run_id, self.purpose = store, run_id, purpose
        self.wait_s, self.heartbeat_s, self.stale_after_s = wait_s, heartbeat_s, stale_after_s
        self.token = secrets.token_hex(8)
        self.lost = False  # set when another process took the lease after ours went stale
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> RunLease:
        self.store.get_run(self.run_id)
        deadline = time.monotonic() + self.wait_s
        while True:
            holder = self._try_take()
            if holder is None:
                break
            if time.monotonic() >= deadline:
                raise RunBusy(
                    f"run {self.run_id!r} is being worked on by {holder.describe()}; wait for it to finish "
                    f"(or stop it); a lease whose holder died expires on its own"
                )
            time.sleep(min(_POLL_S, max(0.0, deadline - time.monotonic())))
        self._thread = threading.Thread(target=self._beat, name=f"lease-{self.run_id}", daemon=True)
        self._thread.start()
        return self

    def _try_take(self) -> LeaseHolder | None:
        """Take the lease; return the live holder instead when someone else has it."""
        with self.store._write() as conn:
            rows = conn.execute("select * from leases where run_id = ?", [self.run_id]).fetchall()
            if rows:
                cols = [d[0] for d in conn.execute("select * from leases limit 0").description]
                holder = LeaseHolder(**dict(zip(cols, rows[0], strict=True)))
                if not is_stale(holder, stale_after_s=self.stale_after_s):
                    return holder
                conn.execute("delete from leases where run_id = ?", [self.run_id])
            conn.execute(
                "insert into leases (run_id, token, pid, host, purpose, since, heartbeat_at) "
                "values (?, ?, ?, ?, ?, ?, ?)",
                [
                    self.run_id,
                    self.token,
                    os.getpid(),
                    socket.gethostname(),
                    self.purpose,
                    now_iso(),
                    time.time(),
                ],
            )
        return None

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                with self.store._write() as conn:
                    cur = conn.execute(
                        "update leases set heartbeat_at = ? where run_id = ? and token = ?",
                        [time.time(), self.run_id, self.token],
                    )
                    if cur.rowcount == 0:
                        self.lost = True
                        return
            except Exception:  # a busy store now and then must not kill the heartbeat
                continue

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.heartbeat_s + 1)
        with self.store._write() as conn:
            conn.execute("delete from leases where run_id = ? and token = ?", [self.run_id, self.token])

    def __enter__(self) -> RunLease:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
