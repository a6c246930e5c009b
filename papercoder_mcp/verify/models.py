"""What verification finds: typed findings with file, line, kind, severity and message."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

FindingKind = Literal[
    "syntax_error",  # a Python file does not compile
    "missing_module",  # imports a module that is neither generated nor a known package
    "undefined_name",  # `from m import x` where generated module m defines no top-level x
    "circular_import",  # generated modules import each other at import time
    "missing_requirement",  # third-party import not covered by requirements.txt
    "unused_requirement",  # requirements.txt lists a distribution nothing imports
    "missing_config_key",  # code reads a config key that config.yaml lacks
    "config_number_as_string",  # config.yaml holds a number PyYAML reads as a string (1e-5)
    "signature_mismatch",  # a call to a generated function/class does not fit its signature
    "no_entry_point",  # the design's entry point is missing, or has no `if __name__ == "__main__":`
    "placeholder",  # pass/... bodies, TODO, NotImplementedError where work is due
    "user_data",  # a path the code reads that nothing creates or downloads
    "smoke_import",  # (executed) importing the module failed
    "smoke_run",  # (executed) the entry point's smoke mode failed, or timed out
    "test_failure",  # (executed) a test of the repository failed; the finding is on a file in its traceback
    "no_smoke_mode",  # the design's smoke command is not in the entry point's CLI, or (executed) it refuses it
    "install_failed",  # (executed) the requirements could not be installed (wheels only)
    "test_weakened",  # a repaired test file has fewer tests or assertions than the generated one
    "requirement_unavailable",  # (executed) a listed requirement does not provide a module the code imports
    "unwired",  # a public function or class that nothing outside the tests uses
    "not_implemented",  # (coverage) a paper item is mapped to code or a command that does not exist
]
Severity = Literal["error", "warning", "info"]


InputKind = Literal["dataset", "checkpoint", "folder", "file", "environment variable"]


class UserInput(BaseModel):
    """Something the user must supply for the code to run, and how the code expects it."""

    name: str
    kind: InputKind
    how: str

    def markdown(self) -> str:
        return f"`{self.name}` ({self.kind}): {self.how}"


class Finding(BaseModel):
    file: str
    line: int | None = None
    kind: FindingKind
    severity: Severity
    message: str
    detail: str = Field("", description="a traceback or the offending text, when there is one")


class StepRun(BaseModel):
    """One executed step of verification (imports, tests, smoke mode) and how it ended."""

    name: str
    command: str
    returncode: int | None = None
    seconds: float = 0.0
    timed_out: bool = False


class SmokeResult(BaseModel):
    """Executed verification: what ran, where, and under which key it may be reused."""

    ran: bool
    installed: bool = False
    seconds: float = 0.0
    timed_out: bool = False
    log: str = ""
    sandbox: str = Field("", description="bwrap, or unsandboxed when the user asked for that")
    key: str = Field("", description="hash of what ran: files, requirements, interpreter, options")
    environment: str = Field(
        "", description="the cached environment's key (requirements hash and interpreter)"
    )
    steps: list[StepRun] = Field(default_factory=list)
    tests_passed: int = 0
    tests_failed: int = 0
    smoke_command: str = ""


class Verification(BaseModel):
    findings: list[Finding] = Field(default_factory=list)
    files_checked: int = 0
    lines_checked: int = 0
    data_to_provide: list[str] = Field(
        default_factory=list, description="paths the user must provide (they go into the exported README)"
    )
    inputs: list[UserInput] = Field(
        default_factory=list, description="what the user must provide (datasets, checkpoints, keys), and how"
    )
    smoke: SmokeResult | None = None

    @property
    def passed(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    def by_file(self) -> dict[str, list[Finding]]:
        out: dict[str, list[Finding]] = {}
        for f in self.findings:
            out.setdefault(f.file, []).append(f)
        return out
