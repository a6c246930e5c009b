"""A separate process that writes to a store, for the multi-process tests in test_store.py.

    python store_worker.py DB RUN_ID COUNT [--kind K] [--key K] [--size BYTES] [--name NAME] [--go FILE]

Writes COUNT versions of (RUN_ID, kind, key), each followed by one recorded call,
then prints "<name> wrote COUNT" and exits 0. COUNT 0 means: write until killed,
printing "<name> version N" after each committed version. Any "database is
locked" (or other store) error exits 3 with the message on stderr. With --go
the worker opens the store, prints "<name> ready" and waits for FILE to appear,
so several workers can be started together and then released at once.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from pathlib import Path

from papercoder_mcp.errors import StoreError
from papercoder_mcp.store import Store
from papercoder_mcp.store.records import CallRecord


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("run_id")
    parser.add_argument("count", type=int)
    parser.add_argument("--kind", default="code")
    parser.add_argument("--key", default="src/model.py")
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--name", default="worker")
    parser.add_argument(
        "--go", help="after opening the store print 'ready', then wait for this file to exist"
    )
    args = parser.parse_args()

    try:
        with Store(args.db) as store:
            if args.go:
                print(f"{args.name} ready", flush=True)
                go = Path(args.go)
                deadline = time.monotonic() + 30
                while not go.exists() and time.monotonic() < deadline:
                    time.sleep(0.002)
            i = 0
            while args.count == 0 or i < args.count:
                i += 1
                content = f"# {args.name} write {i}\n" + "x" * args.size
                art = store.put_artifact(
                    args.run_id,
                    args.kind,
                    content,
                    key=args.key,
                    format="python",
                    metadata={"writer": args.name},
                )
                store.record_call(
                    CallRecord(
                        run_id=args.run_id,
                        stage="generate_file",
                        key=args.key,
                        sampler="fake",
                        input_tokens=10,
                        output_tokens=5,
                        cost_usd=0.001,
                    )
                )
                if args.count == 0:
                    print(f"{args.name} version {art.version}", flush=True)
    except (sqlite3.OperationalError, StoreError) as exc:
        print(f"{args.name}: {exc}", file=sys.stderr, flush=True)
        return 3
    print(f"{args.name} wrote {i}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
