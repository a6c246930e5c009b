"""Structured ids as small typed records: handoff ids and sampling request keys.

An id travels through a client (an agent copies a handoff id into submit_artifact,
a client echoes request keys back with its answers), so it is encoded as URL-safe
base64 of compact JSON behind a short tag: any run id, stage name or file path
(one with `|`, spaces or quotes included) survives the trip unchanged, and a
garbled id is refused with a clear error instead of being split wrongly.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import ClassVar, TypeVar

from pydantic import BaseModel, ValidationError

from papercoder_mcp.errors import StageError

T = TypeVar("T", bound="EncodedId")
DIGEST_CHARS = 16


class EncodedId(BaseModel, frozen=True):
    tag: ClassVar[str] = ""
    what: ClassVar[str] = "id"

    def encode(self) -> str:
        raw = json.dumps(self.model_dump(mode="json"), separators=(",", ":"), sort_keys=True)
        return f"{self.tag}_" + base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls: type[T], value: str) -> T:
        prefix, _, body = value.partition("_")
        try:
            if prefix != cls.tag:
                raise ValueError(prefix)
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            return cls.model_validate_json(raw)
        except (ValueError, binascii.Error, ValidationError):
            raise StageError(
                f"{value[:80]!r} is not a {cls.what}; use the {cls.what} a tool returned"
            ) from None


class HandoffId(EncodedId, frozen=True):
    """A handed-off step: which run, stage and file, and the hash of the inputs its prompt was made from."""

    tag: ClassVar[str] = "h1"
    what: ClassVar[str] = "handoff id"
    run_id: str
    stage: str
    key: str = ""
    digest: str
    by_question: bool = False  # a step the scheduler validates itself: the answer is kept by its question


class RequestKey(EncodedId, frozen=True):
    """A sampling request of a round: the step, and the hash of the whole conversation it asks about."""

    tag: ClassVar[str] = "r1"
    what: ClassVar[str] = "request key"
    stage: str
    key: str = ""
    digest: str
    attempt: int = 0
