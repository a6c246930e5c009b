"""The exception hierarchy of papercoder-mcp.

Every error a user can cause or act on is one of these; its message says what
went wrong and what to do next. The CLI prints it as one line with a non-zero
exit, the MCP server returns it as a tool error.

    PaperCoderError
    ├── PaperParseError        the paper cannot be read (missing, corrupt, encrypted, scanned, empty)
    │   └── PaperFetchError    an arXiv paper could not be downloaded (unknown id, withdrawn, network, cap)
    ├── StoreError             the artifact store cannot do what was asked
    │   ├── RunNotFound        no run with that id
    │   ├── ArtifactNotFound   the run has no such artifact (or version)
    │   └── RunBusy            another pipeline holds the run's lease
    ├── StageError             a pipeline stage failed (bad answer after retries, missing inputs)
    │   ├── MissingInput       a stage was called before the artifacts it reads exist
    │   ├── ValidationFailed   an answer did not validate into its model
    │   │   └── LimitExceeded  an input went over a size or nesting cap (checked before parsing)
    │   └── RunIncomplete      a finished run was expected (export) and this one is not
    ├── SamplerError           the model provider failed after retries
    ├── BudgetExceeded         the next call would cross the run's cost budget
    ├── UnsafePath             a generated path breaks the path policy (paths.py)
    └── SandboxUnavailable     generated code would run, but no sandbox works on this machine
"""

from __future__ import annotations


class PaperCoderError(Exception):
    """Root of every error papercoder-mcp raises on purpose."""


class PaperParseError(PaperCoderError):
    """The paper could not be read or holds no usable text."""


class PaperFetchError(PaperParseError):
    """A paper named by an arXiv id or URL could not be downloaded."""


class StoreError(PaperCoderError):
    """The artifact store could not complete the operation."""


class RunNotFound(StoreError):
    def __init__(self, run_id: str) -> None:
        super().__init__(
            f"no run with id {run_id!r}; list runs with `papercoder-mcp runs` (or the list_runs tool)"
        )
        self.run_id = run_id


class ArtifactNotFound(StoreError):
    def __init__(self, run_id: str, kind: str, key: str = "", version: int | None = None) -> None:
        what = kind + (f" {key!r}" if key else "") + (f" version {version}" if version is not None else "")
        super().__init__(f"run {run_id!r} has no {what}")
        self.run_id, self.kind, self.key, self.version = run_id, kind, key, version


class RunBusy(StoreError):
    """Another process (or call) is working on the run; the message names the holder."""


class StageError(PaperCoderError):
    """A pipeline stage could not produce a valid artifact."""


class MissingInput(StageError):
    """A stage was called before an artifact it reads exists; the message names the stage to call first."""


class ValidationFailed(StageError):
    """A model's (or agent's) answer did not validate into the expected shape."""

    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class RunIncomplete(StageError):
    """The run is not complete by the one definition (every step fresh, current verification passed).

    The message says what is missing in the core's words; each adapter (CLI, MCP) adds how to
    continue in its own terms, so an MCP client never reads a command-line flag."""

    def __init__(self, run_id: str, problems: list[str], verification_only: bool = False) -> None:
        listed = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
        what = "fails verification" if verification_only else "is not complete"
        super().__init__(f"run {run_id} {what}, nothing was exported: {listed}")
        self.run_id, self.problems, self.verification_only = run_id, problems, verification_only


class LimitExceeded(ValidationFailed):
    """An input went over a cap (named in the message); re-asking would resend it, so no re-ask."""

    max_reasks = 0

    def __init__(self, message: str) -> None:
        super().__init__(message, [message])


class SamplerError(PaperCoderError):
    """The model provider failed after all retries."""


class BudgetExceeded(PaperCoderError):
    """The next call would take the run over its cost budget."""


class UnsafePath(PaperCoderError):
    """A generated file path breaks the path policy: it would escape the repository, or is not a
    name every file system and git can hold safely."""


class SandboxUnavailable(PaperCoderError):
    """Generated code was to be run, but no sandbox works here and running it unsandboxed was not asked for."""
