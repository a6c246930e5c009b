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
    "smoke_import",  # (smoke run) importing the module failed
    "smoke_run",  # (smoke run) the entry point failed, or timed out
]
Severity = Literal["error", "warning", "info"]


class Finding(BaseModel):
    file: str
    line: int | None = None
    kind: FindingKind
    severity: Severity
    message: str
    detail: str = Field("", description="a traceback or the offending text, when there is one")


class SmokeResult(BaseModel):
    ran: bool
    installed: bool = False
    seconds: float = 0.0
    timed_out: bool = False
    log: str = ""


class Verification(BaseModel):
    findings: list[Finding] = Field(default_factory=list)
    files_checked: int = 0
    lines_checked: int = 0
    data_to_provide: list[str] = Field(
        default_factory=list, description="paths the user must provide (they go into the exported README)"
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
