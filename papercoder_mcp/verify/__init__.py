"""Verification of a generated repository: static checks on the stored files, and executed verification in the sandbox."""

from __future__ import annotations

from papercoder_mcp.verify.models import Finding, FindingKind, Severity, SmokeResult, Verification
from papercoder_mcp.verify.requirements_map import import_to_distribution, normalize_distribution
from papercoder_mcp.verify.smoke import ExecutionOptions, execute_repository
from papercoder_mcp.verify.static import verify_files, verify_run

__all__ = [
    "ExecutionOptions",
    "execute_repository",
    "Finding",
    "FindingKind",
    "Severity",
    "SmokeResult",
    "Verification",
    "import_to_distribution",
    "normalize_distribution",
    "verify_files",
    "verify_run",
]
