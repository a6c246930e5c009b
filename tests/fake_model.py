"""A plausible fake model for pipeline tests and benchmarks: answers each stage from its prompt.

It reads which stage is asking from the prompt's "# Stage: ..." heading and the
file from its backticked path, and writes answers that validate: a plan, an
architecture over a configurable file graph (with a test module and a smoke
command, as the design rules require), a file order, a config.yaml (with `1e-4`
written the YAML 1.2 way, as papers do; defaults marked, null only for a path the
user supplies), analyses, Python code that imports exactly its dependencies (the
entry point an argparse CLI with `train`, `evaluate` and `smoke` subcommands),
and a coverage map onto that code.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

import anyio

from papercoder_mcp.samplers.base import Completion, SampleRequest, Usage

DEFAULT_FILES: dict[str, list[str]] = {
    "utils.py": [],
    "dataset.py": ["utils.py"],
    "model.py": ["utils.py"],
    "trainer.py": ["model.py", "dataset.py"],
    "evaluation.py": ["model.py", "dataset.py"],
    "main.py": ["trainer.py", "evaluation.py"],
    "tests/test_model.py": ["model.py"],
}
SMOKE_COMMAND = "python main.py smoke"


def stage_of(prompt: str) -> str:
    m = re.search(r"^# Stage: (.+)$", prompt, re.MULTILINE)
    heading = m.group(1) if m else ""
    for needle, stage in [
        ("critique of", "critique"),
        ("repair of", "repair_file"),
        ("overall plan", "make_plan"),
        ("software architecture", "design_architecture"),
        ("dependency order", "order_files"),
        ("config.yaml", "write_config"),
        ("coverage", "check_coverage"),
        ("logic analysis", "analyze_file"),
        ("code of", "generate_file"),
    ]:
        if needle in heading:
            return stage
    return "unknown"


def path_of(prompt: str) -> str:
    m = re.search(r"^# Stage: [^`]*`([^`]+)`", prompt, re.MULTILINE)
    return m.group(1) if m else ""


def topo_order(files: dict[str, list[str]]) -> list[str]:
    done: list[str] = []
    while len(done) < len(files):
        for path, deps in files.items():
            if path not in done and all(d in done for d in deps):
                done.append(path)
    return done


def module_fn(path: str) -> str:
    return path.removesuffix(".py").replace("/", "_") + "_step"


def is_test(path: str) -> bool:
    return path.startswith("tests/") and path.rsplit("/", 1)[-1].startswith("test_")


def with_a_test(files: dict[str, list[str]]) -> dict[str, list[str]]:
    """A design without a test module gets one for its first module (the architecture requires one)."""
    if any(is_test(p) for p in files):
        return files
    first = next(iter(files))
    return {**files, f"tests/test_{first.rsplit('/', 1)[-1]}": [first]}


@dataclass
class FakeModel:
    files: dict[str, list[str]] = field(default_factory=lambda: dict(DEFAULT_FILES))
    entry_point: str = "main.py"
    code_lines: int = 30
    # A file whose generated code has a runtime bug that compiles and passes every static check
    # (a variable used before assignment on the path every call takes); its repair is correct.
    planted_bug: str | None = None
    # The entry point's argparse CLI has the designed `smoke` subcommand; False plants its absence
    # (its repair adds it).
    smoke_mode: bool = True
    # Test files whose generated assertion is wrong (the test, not the code, must be repaired).
    wrong_tests: set[str] = field(default_factory=set)
    smoke_command: str = SMOKE_COMMAND
    # The design places the paper's core layer (`core_layer`) in the core file, whose generated code
    # leaves it out until it is repaired: only the coverage map against the code can see that.
    coverage_gap: bool = False

    def __post_init__(self) -> None:
        self.files = with_a_test(self.files)

    def answer(self, stage: str, prompt: str) -> tuple[str, Any | None]:
        """(text, structured payload) for a stage; structured stages answer with JSON."""
        if stage == "make_plan":
            return self._json(
                {
                    "summary": "A model trained with the method of the paper and evaluated on its benchmark.",
                    "methodology": [{"name": "core layer", "description": "y = softmax(QK^T / sqrt(d)) V"}],
                    "datasets": ["the paper's benchmark"],
                    "experimental_settings": ["train 10 epochs"],
                    "hyperparameters": [{"name": "learning rate", "value": "1e-4", "source": "Section 5"}],
                    "metrics": ["accuracy"],
                    "experiments": ["Table 1"],
                    "unclear": ["the batch size is not given"],
                }
            )
        if stage == "design_architecture":
            classes = "\n".join(f"    class {module_fn(p)}" for p in self.files)
            return self._json(
                {
                    "implementation_approach": "PyTorch, one module per concern.",
                    "files": [{"path": p, "purpose": f"{p} of the method"} for p in self.files],
                    "entry_point": self.entry_point,
                    # A model writes a shell line: an odd entry point comes quoted.
                    "smoke_command": self.smoke_command.replace("main.py", shlex.quote(self.entry_point)),
                    "class_diagram": "classDiagram\n" + classes,
                    "sequence_diagram": "sequenceDiagram\n    main->>trainer: train()",
                    "open_questions": [],
                    "plan_map": [
                        {"item": "C1", "files": [self.core_file()], "how": self.core_symbol()},
                        {
                            "item": "E1",
                            "files": [self.entry_point],
                            "how": f"python {self.entry_point} evaluate",
                        },
                    ],
                }
            )
        if stage == "order_files":
            return self._json(
                {
                    "required_packages": [{"name": "pyyaml", "version": ">=6"}, {"name": "pytest"}],
                    "files": [
                        {
                            "path": p,
                            "purpose": f"{p} purpose",
                            "logic": f"defines {module_fn(p)}()",
                            "depends_on": d,
                        }
                        for p, d in self.files.items()
                    ],
                    "order": topo_order(self.files),
                    "shared_knowledge": "config keys live under train:",
                    "open_questions": [],
                }
            )
        if stage == "write_config":
            return (
                "```yaml\ntrain:\n  learning_rate: 1e-4  # Section 5\n  epochs: 10  # Section 2\n"
                "  batch_size: 32  # not in the paper: chosen default\n"
                "data:\n  train_file: null  # path to the benchmark's training split: download it from its authors\n"
                "smoke:\n  steps: 2  # not in the paper: chosen default\n```",
                None,
            )
        if stage == "analyze_file":
            path = path_of(prompt)
            text = f"## Analysis of {path}\n\n" + (
                f"`{path}` defines `{module_fn(path)}()`, which reads `train.learning_rate` from config.yaml "
                "and combines the results of the functions of the files it depends on. " * 3
            )
            return text, None
        if stage in ("generate_file", "repair_file"):
            path = path_of(prompt)
            return f"```python\n{self.code_for(path, repaired=stage == 'repair_file')}```", None
        if stage == "check_coverage":
            return self._json(self.coverage(prompt))
        if stage == "critique":
            return self._json(
                {
                    "problems": [
                        {"severity": "high", "description": "the batch size is missing", "fix": "ask"}
                    ],
                    "score": 3,
                }
            )
        raise AssertionError(f"fake model cannot answer a prompt of stage {stage!r}")

    def core_file(self) -> str:
        return next((p for p in self.files if not is_test(p) and p != self.entry_point), self.entry_point)

    def core_symbol(self) -> str:
        return "core_layer" if self.coverage_gap else module_fn(self.core_file())

    def coverage(self, prompt: str = "") -> dict[str, Any]:
        core = self.core_file()
        # Mapped by what the code defines (the prompt's interface summary), as a model reads it.
        written = not self.coverage_gap or "def core_layer" in prompt
        return {
            "items": [
                {
                    "name": "core layer",
                    "kind": "component",
                    "paper_reference": "Section 1",
                    "file": core if written else "",
                    "symbol": self.core_symbol() if written else "",
                    "note": "" if written else "the core layer is not in the code",
                    "plan_item": "C1",
                },
                {
                    "name": "Table 1: accuracy on the benchmark",
                    "kind": "table",
                    "paper_reference": "Table 1",
                    "file": self.entry_point,
                    "symbol": "main",
                    "command": f"python {self.entry_point} evaluate",
                    "plan_item": "E1",
                },
            ]
        }

    def code_for(self, path: str, *, repaired: bool = False) -> str:
        deps = self.files.get(path, [])
        if is_test(path):
            return self._test_for(path, deps, wrong=path in self.wrong_tests and not repaired)
        lines = [f'"""{path}: generated by the fake model."""', ""]
        if path == self.entry_point:
            lines += ["import argparse", ""]
        lines += [f"from {d.removesuffix('.py').replace('/', '.')} import {module_fn(d)}" for d in deps]
        lines += ["", "", f"def {module_fn(path)}() -> int:", "    total = 1"]
        lines += [f"    total += {module_fn(d)}()" for d in deps]
        lines += [f"    total += {i}" for i in range(max(0, self.code_lines - 10 - len(deps)))]
        if self.coverage_gap and path == self.core_file() and repaired:
            lines += [
                "    total += int(core_layer(0.5))",
                "    return total",
                "",
                "",
                "def core_layer(x: float) -> float:",
                "    return 2 * x",
                "",
            ]
            return "\n".join(lines)
        if path == self.planted_bug and not repaired:
            lines += ["    if total < 0:", "        scale = 2", "    return total * scale", ""]
        else:
            lines += ["    return total", ""]
        if path == self.entry_point:
            smoke = ['    commands.add_parser("smoke")'] if self.smoke_mode or repaired else []
            lines += [
                "",
                "def main() -> None:",
                "    parser = argparse.ArgumentParser()",
                '    commands = parser.add_subparsers(dest="command", required=True)',
                '    commands.add_parser("train")',
                '    commands.add_parser("evaluate")',
                *smoke,
                "    parser.parse_args()",
                f"    print({module_fn(path)}())",
                "",
                "",
                'if __name__ == "__main__":',
                "    main()",
                "",
            ]
        return "\n".join(lines)

    @staticmethod
    def _test_for(path: str, deps: list[str], *, wrong: bool) -> str:
        lines = [
            f'"""{path}: generated by the fake model."""',
            "",
            "import pytest  # noqa: F401 - the runner",
            "",
        ]
        lines += [f"from {d.removesuffix('.py').replace('/', '.')} import {module_fn(d)}" for d in deps]
        for d in deps:
            check = "< 0" if wrong else "> 0"
            lines += ["", "", f"def test_{module_fn(d)}() -> None:", f"    assert {module_fn(d)}() {check}"]
        return "\n".join(lines) + "\n"

    @staticmethod
    def _json(obj: dict[str, Any]) -> tuple[str, Any]:
        return "```json\n" + json.dumps(obj, indent=1) + "\n```", obj


@dataclass
class FakeSampler:
    """A Sampler over FakeModel, with optional scripted overrides and a latency per output token."""

    fake: FakeModel = field(default_factory=FakeModel)
    name: str = "fake"
    model: str = "fake-model"
    seconds_per_output_token: float = 0.0
    structured: bool = False
    overrides: list[str] = field(default_factory=list, metadata={"doc": "replies used first, in order"})
    history: list[SampleRequest] = field(default_factory=list)

    async def sample(self, request: SampleRequest) -> Completion:
        self.history.append(request)
        stage = stage_of(request.prompt)
        if self.overrides:
            text, payload = self.overrides.pop(0), None
        else:
            text, payload = self.fake.answer(stage, request.prompt)
        out_tokens = max(1, len(text) // 4)
        if self.seconds_per_output_token:
            await anyio.sleep(out_tokens * self.seconds_per_output_token)
        return Completion(
            text=text,
            structured=payload if self.structured else None,
            usage=Usage(input_tokens=len(request.user_text()) // 4, output_tokens=out_tokens),
            model=self.model,
            sampler=self.name,
            cost_usd=0.0,
        )


STRUCTURED_STAGES = {"make_plan", "design_architecture", "order_files", "check_coverage"}


def fake_model_responder(fake: FakeModel | None = None, *, bad_first: set[str] | None = None):  # type: ignore[no-untyped-def]
    """A responder for tests/fake_anthropic.FakeAnthropic that answers like FakeModel.

    `bad_first` names stages whose first answer is invalid JSON (to exercise the re-ask path)."""
    from fake_anthropic import Reply, request_text

    model = fake or FakeModel()
    spoiled: set[str] = set()

    def respond(body: dict[str, Any]) -> Any:
        text = request_text(body)
        stage = stage_of(text)
        if bad_first and stage in bad_first and stage not in spoiled:
            spoiled.add(stage)
            return Reply(text='{"summary": "cut')
        answer, payload = model.answer(stage, text)
        return payload if stage in STRUCTURED_STAGES else answer

    return respond
