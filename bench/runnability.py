"""Runnability of a repository, measured the same way for any repository, in the smoke sandbox.

    python bench/runnability.py REPO --venv VENV --smoke "python main.py smoke" [--json OUT]

VENV is a virtual environment with the repository's requirements installed (outside the sandbox:
`python -m venv VENV && VENV/bin/pip install torch==2.13.0 -r REPO/requirements.txt pytest`). The
repository is copied into a throwaway workspace and, with no network, this runs:

- its tests (`python -m pytest -q`), counting passed and failed;
- the smoke command given (the one its README names);
- every command its README and reproduce.sh document (`python ...` lines), with `--help` appended:
  a command that exists prints its usage and exits 0, one the entry point does not define exits
  with a usage error. The experiments themselves are not run (they need the data and the GPU).

Nothing here is specific to how the repository was written, so a pipeline's export and a repository
written by hand are measured alike.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
from pathlib import Path

from papercoder_mcp.verify.sandbox import Limits, Sandbox, Workspace

FENCE = re.compile(r"```[a-z]*\n(.*?)```", re.S)
PASSED = re.compile(r"(\d+) passed")
FAILED = re.compile(r"(\d+) (?:failed|error)")


def documented_commands(repo: Path) -> list[str]:
    """`python ...` commands of README.md's code blocks and of reproduce.sh, in order, once each."""
    lines: list[str] = []
    readme = repo / "README.md"
    if readme.is_file():
        for block in FENCE.findall(readme.read_text(encoding="utf-8", errors="replace")):
            lines += block.splitlines()
    script = repo / "reproduce.sh"
    if script.is_file():
        lines += script.read_text(encoding="utf-8", errors="replace").splitlines()
    out: list[str] = []
    for raw in lines:
        line = raw.strip().removeprefix("$ ").split(" #", 1)[0].strip().rstrip("\\").strip()
        # A template (`python main.py <stage>`, a shell loop's `"$stage"`) and environment set-up
        # (`-m venv`, `-m pip`) are not commands of the repository; README notation for an optional
        # part (`[--limit 50]`) is dropped, so the command itself is checked.
        line = re.sub(r"\s*\[[^\]]*\]", "", line.replace("${PY}", "python").replace("$PY", "python"))
        template = re.search(r"<[^>]+>|\$", line)
        if re.match(r"^python3? (\S+\.py|-m (?!venv|pip|pytest)\S+)", line) and not template:
            out.append(line)
    return list(dict.fromkeys(out))


def argv_of(command: str, python: str) -> list[str]:
    words = shlex.split(command)
    return [python, *words[1:]]


def measure(repo: Path, venv: Path, smoke: str, seconds: float) -> dict[str, object]:
    box = Sandbox.detect()
    ws = Workspace.create()
    try:
        shutil.copytree(
            repo, ws.repo, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".git", "venv", ".venv")
        )
        python = str(venv / "bin" / "python")
        ro = [venv.resolve()]
        limits = Limits(wall_seconds=seconds, memory_bytes=8 * 1024**3, processes=512)

        def run(argv: list[str]) -> tuple[bool, float, str]:
            result = box.run(argv, workspace=ws, limits=limits, readonly=ro, env={"OMP_NUM_THREADS": "1"})
            return result.ok, result.seconds, result.output

        ok, tests_s, output = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"])
        tail = output[-2000:]
        passed = int(m.group(1)) if (m := PASSED.search(tail)) else 0
        failed = sum(int(n) for n in FAILED.findall(tail))
        smoke_ok, smoke_s, smoke_out = run(argv_of(smoke, python))
        commands = {}
        for command in documented_commands(repo):
            ok_help, _, _ = run([*argv_of(command, python), "--help"])
            commands[command] = ok_help
        return {
            "tests_passed": passed,
            "tests_failed": failed,
            "tests_ok": ok,
            "tests_seconds": round(tests_s, 1),
            "smoke_ok": smoke_ok,
            "smoke_seconds": round(smoke_s, 1),
            "smoke_tail": "" if smoke_ok else smoke_out[-1500:],
            "commands": commands,
            "commands_ok": sum(commands.values()),
        }
    finally:
        ws.remove()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("--venv", type=Path, required=True)
    parser.add_argument("--smoke", required=True, help="the smoke command its README names")
    parser.add_argument("--seconds", type=float, default=600.0, help="time limit per command")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    # The venv is entered from the sandbox's work tree: a relative path would name nothing there.
    result = measure(args.repo.resolve(), args.venv.absolute(), args.smoke, args.seconds)
    text = json.dumps(result, indent=1)
    if args.json is not None:
        args.json.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
