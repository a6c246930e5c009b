"""Benchmark of the smoke sandbox: what confinement costs per command, against the same command run
unsandboxed (same limits and environment, no namespaces) in the same process.

Prints the median wall time of `python -c pass` and of a small import-and-test workload in both,
and their ratio. Needs bubblewrap; run as `python bench/sandbox.py [--repeats N]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from papercoder_mcp.verify.sandbox import Limits, Sandbox, Workspace

WORKLOAD = "import json, sqlite3, unittest\nassert json.loads(json.dumps([1, 2])) == [1, 2]\n"


def median_seconds(box: Sandbox, ws: Workspace, argv: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = box.run(argv, workspace=ws, limits=Limits(wall_seconds=60))
        times.append(time.perf_counter() - start)
        assert result.ok, result.output
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    confined, plain = Sandbox.detect(), Sandbox.detect(unsandboxed=True)
    ws = Workspace.create()
    try:
        (ws.repo / "work.py").write_text(WORKLOAD)
        python = os.path.realpath(sys.executable)  # the base interpreter: bound in the sandbox
        print("| command | unsandboxed (ms) | bwrap (ms) | ratio |\n|---|---|---|---|")
        for label, argv in (
            ("python -c pass", [python, "-c", "pass"]),
            ("import + asserts", [python, "work.py"]),
        ):
            a = median_seconds(plain, ws, argv, args.repeats)
            b = median_seconds(confined, ws, argv, args.repeats)
            print(f"| {label} | {a * 1000:.1f} | {b * 1000:.1f} | {b / a:.2f}x |")
    finally:
        ws.remove()


if __name__ == "__main__":
    main()
