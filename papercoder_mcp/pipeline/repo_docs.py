"""The exported README.md and reproduce.sh, written from what the repository really holds.

Every command comes from the entry point's own argparse/click/typer definitions
(read with `ast`), so reproduce.sh never runs a command that exits with a usage
error; the assumptions and what the user must provide come from config.yaml's
values and comments; what is not implemented comes from the checked coverage
map. All of it is derived deterministically: the same run exports the same text.
"""

from __future__ import annotations

import shlex

from pydantic import BaseModel, Field

from papercoder_mcp.configfile import DEFAULT_MARK, config_entries
from papercoder_mcp.entry_point import EntryPointCli, read_cli, split_command
from papercoder_mcp.models import Architecture, CoverageReport, FileOrder, Plan, is_test_module
from papercoder_mcp.paper.models import Paper

TEST_COMMAND = "python -m pytest -q tests"


class RunCommand(BaseModel):
    command: str = Field(description="a shell line, quoted with shlex")
    label: str


class RunPlan(BaseModel):
    """The commands the repository offers, checked against its entry point."""

    usage: list[str] = Field(default_factory=list, description="one line per command the CLI defines")
    smoke: RunCommand | None = None
    experiments: list[RunCommand] = Field(default_factory=list)
    left_out: list[str] = Field(default_factory=list, description="commands not run, and why")
    has_tests: bool = False


def _line(command: str) -> str:
    return shlex.join(shlex.split(command))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def plan_commands(arch: Architecture, files: dict[str, str], coverage: CoverageReport | None) -> RunPlan:
    """The smoke command, then the experiments in the entry point's order of subcommands (the paper's
    within one), each only if it parses."""
    entry = arch.entry_point
    cli = read_cli(entry, files.get(entry, ""))
    plan = RunPlan(
        usage=cli.usage(entry) if cli.framework != "unknown" else [],
        has_tests=any(is_test_module(p) for p in files),
    )
    smoke_problem = cli.problem(arch.smoke_argv())
    if smoke_problem:
        plan.left_out.append(f"the smoke mode `{arch.smoke_command}`: {smoke_problem}")
    else:
        plan.smoke = RunCommand(command=_line(arch.smoke_command), label="smoke mode")
    seen: set[str] = {plan.smoke.command} if plan.smoke else set()
    for item in coverage.items if coverage else []:
        if not item.command:
            continue
        argv = split_command(item.command, entry)
        problem = "it does not run the entry point" if argv is None else cli.problem(argv)
        if problem:
            plan.left_out.append(f"{_one_line(item.name)} `{_one_line(item.command)}`: {problem}")
            continue
        line = _line(item.command)
        if line not in seen:
            seen.add(line)
            plan.experiments.append(RunCommand(command=line, label=_one_line(item.name)))
    if not plan.experiments:
        plan.experiments, unfilled = _from_cli(cli, entry, arch.smoke_argv())
        plan.left_out += unfilled
    # Commands run in the order the entry point defines its subcommands (pre-training before the
    # transfer that loads its checkpoint), and in the paper's order within one subcommand.
    position = {c.name: i for i, c in enumerate(cli.subcommands)}

    def defined_at(run: RunCommand) -> int:
        argv = split_command(run.command, entry) or []
        return position.get(argv[0], len(position)) if argv else len(position)

    plan.experiments.sort(key=defined_at)
    return plan


def _from_cli(cli: EntryPointCli, entry: str, smoke_argv: list[str]) -> tuple[list[RunCommand], list[str]]:
    """Without a coverage map: every subcommand that needs no argument we cannot know, in code order."""
    if cli.framework == "unknown":
        return [], [
            f"{entry}: its command line could not be read from the code; see the code for how to run it"
        ]
    if cli.subcommands:
        candidates = [[c.name] for c in cli.subcommands if c.name not in smoke_argv[:1]]
    else:  # a program without subcommands: its bare run is the experiment, unless that is the smoke
        candidates = [[]] if smoke_argv else []
    runs: list[RunCommand] = []
    unfilled: list[str] = []
    for argv in candidates:
        command = shlex.join(["python", entry, *argv])
        problem = cli.problem(argv)
        if problem:
            unfilled.append(f"`{command}`: {problem}")
        else:
            runs.append(
                RunCommand(command=command, label=f"the `{argv[0]}` command" if argv else "the experiments")
            )
    return runs, unfilled


def reproduce_sh(plan: RunPlan) -> str:
    lines = [
        "#!/usr/bin/env bash",
        "# Set up a virtual environment, run the smoke mode, then the experiments in order.",
        "set -euo pipefail",
        'cd "$(dirname "$0")"',
        "python3 -m venv .venv",
        ". .venv/bin/activate",
        "pip install -r requirements.txt",
    ]
    if plan.smoke:
        lines += [
            "",
            "# Smoke mode: every stage on tiny synthetic data and models (no download, no GPU).",
            plan.smoke.command,
        ]
    if plan.experiments:
        # One experiment may need a key or data the user has not provided yet: the others still run,
        # and the script ends by saying which failed (and fails), rather than stopping at the first.
        lines += [
            "",
            "# Each experiment runs even when an earlier one fails; the failures are listed at the end.",
            "set +e",
            "failed=()",
            "trap 'failed+=(\"line $LINENO: $BASH_COMMAND\")' ERR",
        ]
        for run in plan.experiments:
            lines += ["", f"# {run.label}", run.command]
        lines += [
            "",
            "trap - ERR",
            'if [ "${#failed[@]}" -gt 0 ]; then',
            '    printf "reproduce.sh: failed: %s\\n" "${failed[@]}" >&2',
            "    exit 1",
            "fi",
        ]
    if plan.left_out:
        lines += ["", "# Not run (they would not parse against the entry point, or need your input):"]
        lines += [f"# - {_one_line(reason)}" for reason in plan.left_out]
    return "\n".join(lines) + "\n"


def _default_reason(comment: str) -> str:
    """What a `# not in the paper: chosen default (why)` comment adds after the mark."""
    at = comment.lower().find(DEFAULT_MARK)
    rest = comment[at + len(DEFAULT_MARK) :] if at >= 0 else comment
    return _one_line(rest).strip(" :;,.-()")


def readme(
    *,
    paper: Paper,
    plan: Plan | None,
    arch: Architecture,
    order: FileOrder,
    run_id: str,
    config: str,
    commands: RunPlan,
    coverage: CoverageReport | None,
    coverage_note: str,
    data: list[str],
    problems: list[str],
) -> str:
    """The exported README; `data` are Markdown items, one per input the code reads that it does not make."""
    by = f" by {', '.join(paper.authors)}" if paper.authors else ""
    proof = " and ".join(
        what
        for what, present in (("the tests", commands.has_tests), ("the smoke mode", commands.smoke))
        if present
    )
    lines = [f"# {paper.title or 'Reproduction'}", ""]
    lines += [
        f"Code generated by papercoder-mcp (run `{run_id}`) from the paper{by}. Read it, then try it"
        + (f": start with {proof}, which need no data and no GPU." if proof else "."),
        "",
        "## How to run",
        "",
        "```bash",
        "pip install -r requirements.txt",
    ]
    if commands.has_tests:
        lines.append(f"{TEST_COMMAND}  # the tests")
    if commands.smoke:
        lines.append(f"{commands.smoke.command}  # smoke mode: tiny synthetic data and models, CPU only")
    lines += [f"{run.command}  # {run.label}" for run in commands.experiments]
    lines += [
        "```",
        "",
        "`reproduce.sh` does the same in a fresh virtual environment. Settings live in `config.yaml`.",
    ]
    if commands.usage:
        lines += ["", f"Commands of `{arch.entry_point}` (from its code):", ""]
        lines += [f"- `{u}`" for u in commands.usage]
    if commands.left_out:
        lines += ["", "Not in reproduce.sh:", ""]
        lines += [f"- {reason}" for reason in commands.left_out]
    entries = config_entries(config)
    defaults = [e for e in entries if e.is_default]
    if defaults:
        lines += [
            "",
            "## Assumptions",
            "",
            "The paper does not give these values; config.yaml sets a chosen default:",
            "",
        ]
        for e in defaults:
            why = _default_reason(e.comment)
            lines.append(f"- `{e.key}` = `{_one_line(str(e.value))}`" + (f" ({why})" if why else ""))
    provide = [e for e in entries if e.must_provide]
    if provide or data:
        lines += [
            "",
            "## What you must provide",
            "",
            "The code needs these; nothing in it creates or downloads them:",
            "",
        ]
        for e in provide:
            lines.append(f"- `{e.key}` in config.yaml: {_one_line(e.comment) or 'no description given'}")
        lines += [f"- {d}" for d in data]  # already Markdown: what each input is and how the code reads it
    optional = [e for e in entries if e.is_optional]
    if optional:
        lines += ["", "## Optional settings", "", "Null in config.yaml, and the code runs without them:", ""]
        lines += [f"- `{e.key}`: {_one_line(e.optional_note)}" for e in optional]
    lines += ["", "## Files", ""]
    lines += [f"- `{t.path}`: {t.purpose}" for t in order.files]
    if coverage is not None:
        missing = coverage.missing()
        if missing:
            lines += [
                "",
                "## Not implemented",
                "",
                "Parts of the paper the code does not implement (checked against the code):",
                "",
            ]
            for item in missing:
                ref = f" ({item.paper_reference})" if item.paper_reference else ""
                lines.append(f"- {_one_line(item.name)}{ref}: {_one_line(item.problem)}")
    elif coverage_note:
        lines += ["", "## Not implemented", "", coverage_note]
    if problems:
        lines += ["", "## Known problems", "", "Verification found these and they were not repaired:", ""]
        lines += [f"- {p}" for p in problems]
    # Each stage's questions under its own heading: the design's often answer the plan's (the
    # choice it made), and one flat list read as the same question asked twice.
    stages = [
        ("Reading the paper", plan.unclear if plan else []),
        ("Designing the code (with the choices made)", arch.open_questions),
        ("Ordering the files", order.open_questions),
    ]
    seen: set[str] = set()
    groups: list[tuple[str, list[str]]] = []
    for title, asked in stages:
        fresh = [q for q in dict.fromkeys(asked) if _one_line(q).lower() not in seen]
        seen.update(_one_line(q).lower() for q in fresh)
        if fresh:
            groups.append((title, fresh))
    if groups:
        lines += ["", "## Open questions"]
        for title, asked in groups:
            if len(groups) > 1:
                lines += ["", f"{title}:"]
            lines += [""] + [f"- {q}" for q in asked]
    return "\n".join(lines) + "\n"
