"""Start-up cost of the CLI: CPU seconds of `papercoder-mcp --help` against `python -c "import typer"`.

Each command runs as a fresh process several times; the figure is the median of user+system CPU time
(what start-up costs on a loaded machine too), and the ratio to bare typer in the same run.

    python bench/startup.py [--repeat 9]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(sys.executable).parent / "papercoder-mcp"


def cpu_seconds(argv: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    commands = {
        'python -c "import typer"': [sys.executable, "-c", "import typer"],
        "papercoder-mcp --help": [str(SCRIPT), "--help"],
        "papercoder-mcp full --help": [str(SCRIPT), "full", "--help"],
        "python -c 'import papercoder_mcp.server.build' (the MCP stack, for scale)": [
            sys.executable,
            "-c",
            "import papercoder_mcp.server.build",
        ],
    }
    results = {
        name: statistics.median(cpu_seconds(argv) for _ in range(args.repeat))
        for name, argv in commands.items()
    }
    base = results['python -c "import typer"']
    print(f"| command | CPU s (median of {args.repeat}) | x typer |")
    print("|---|---:|---:|")
    for name, seconds in results.items():
        print(f"| `{name}` | {seconds:.3f} | {seconds / base:.1f} |")


if __name__ == "__main__":
    main()
