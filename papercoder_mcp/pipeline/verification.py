"""Verification keyed by what it checked, and where a repair loop stands.

A stored verification names exactly what it checked: the version of every code
file, of the config, the file order and the requirements, the Python it assumed,
and (for a smoke run) the options and interpreter. It is reused only when that
key is the current one, so a plain check after a smoke run, or a check after a
file changed, never returns an older result, and repair is only ever fed the
findings of the files as they are now.

The repair loop keeps no state of its own between calls (a round may wait for a
client's or an agent's answer): a verification made right after files changed
only by repairs is the next round of the one before it, so the round number and
the problem count it started from are derived from the store.
"""

from __future__ import annotations

import platform
import sys

from pydantic import BaseModel, Field

from papercoder_mcp.store import Store, canonical_hash
from papercoder_mcp.store.records import Artifact
from papercoder_mcp.verify.models import Verification

# Kinds whose versions a verification depends on.
CHECKED_KINDS = ("code", "config", "file_order", "requirements")


class SmokeOptions(BaseModel, frozen=True):
    unsandboxed: bool = False
    interpreter: str = Field(default_factory=lambda: sys.executable)
    execution: str = Field(
        "", description="hash of what the executed run depends on (verify/smoke.execution_key)"
    )


class VerificationKey(BaseModel, frozen=True):
    files: dict[str, int] = Field(description="version of every checked artifact, by 'kind:key'")
    python: str = Field(default_factory=lambda: ".".join(platform.python_version_tuple()[:2]))
    smoke: SmokeOptions | None = None

    def digest(self) -> str:
        return canonical_hash(self.model_dump(mode="json"))


class StoredVerification(BaseModel):
    verification: Verification
    key: VerificationKey
    problems: int = Field(0, description="findings a repair round works on")
    round: int = Field(0, description="repair rounds that led to these files (0: not after a repair)")
    problems_before: int | None = Field(None, description="problems of the verification this round repaired")
    version: int


def current_files(store: Store, run_id: str) -> dict[str, int]:
    arts = store.list_artifacts(run_id)
    return {f"{a.kind}:{a.key}": a.version for a in arts if a.kind in CHECKED_KINDS}


def key_for(
    store: Store, run_id: str, *, smoke: bool = False, unsandboxed: bool = False, execution: str = ""
) -> VerificationKey:
    return VerificationKey(
        files=current_files(store, run_id),
        smoke=SmokeOptions(unsandboxed=unsandboxed, execution=execution) if smoke else None,
    )


def _load(art: Artifact) -> StoredVerification | None:
    raw = art.metadata.get("checked")
    if raw is None:
        return None  # written before verifications carried their key: never current
    return StoredVerification(
        verification=Verification.model_validate_json(art.content),
        key=VerificationKey.model_validate(raw),
        problems=int(art.metadata.get("problems", 0)),
        round=int(art.metadata.get("round", 0)),
        problems_before=art.metadata.get("problems_before"),
        version=art.version,
    )


def latest(store: Store, run_id: str) -> StoredVerification | None:
    art = store.find_artifact(run_id, "verification")
    return _load(art) if art is not None else None


def current(store: Store, run_id: str, key: VerificationKey | None = None) -> StoredVerification | None:
    """The stored verification of the files as they are now (and, given a key, with exactly its options)."""
    found = latest(store, run_id)
    if found is None:
        return None
    if key is not None:
        return found if found.key == key else None
    return found if found.key.files == current_files(store, run_id) else None


def _round_of(store: Store, run_id: str, key: VerificationKey) -> tuple[int, int | None]:
    """(round, problems before it): the next round when only repairs changed files since the last check."""
    previous = latest(store, run_id)
    if previous is None:
        return 0, None
    changed = [k for k, v in key.files.items() if previous.key.files.get(k) != v]
    if any(k not in key.files for k in previous.key.files):
        return 0, None
    if not changed:  # the same files checked again (other options): still the same round
        return previous.round, previous.problems_before
    for name in changed:
        kind, _, path = name.partition(":")
        art = store.find_artifact(run_id, kind, path)
        repaired = art is not None and (art.metadata.get("repair") or art.metadata.get("source") == "carried")
        if kind != "code" or not repaired:
            return 0, None
    return previous.round + 1, previous.problems


def same_code(store: Store, run_id: str, old: VerificationKey, new: VerificationKey) -> bool:
    """Whether `new` checks exactly what `old` did: the same options, and every file whose version
    differs is code with the same content (a repair that kept the file as it was)."""
    if old.smoke != new.smoke or old.python != new.python or set(old.files) != set(new.files):
        return False
    for name, version in new.files.items():
        kind, _, path = name.partition(":")
        if old.files[name] != version and (
            kind != "code" or not store.same_content(run_id, kind, path, old.files[name], version)
        ):
            return False
    return True


def store_verification(
    store: Store,
    run_id: str,
    verification: Verification,
    key: VerificationKey,
    problems: int,
    carried_from: int | None = None,
) -> StoredVerification:
    round_, before = _round_of(store, run_id, key)
    art = store.put_artifact(
        run_id,
        "verification",
        verification.model_dump_json(indent=2),
        format="json",
        input_hash=key.digest(),
        metadata={
            "passed": verification.passed,
            "findings": len(verification.findings),
            "problems": problems,
            "checked": key.model_dump(mode="json"),
            "round": round_,
            "problems_before": before,
            **({"carried_from": carried_from} if carried_from is not None else {}),
        },
    )
    return StoredVerification(
        verification=verification,
        key=key,
        problems=problems,
        round=round_,
        problems_before=before,
        version=art.version,
    )
