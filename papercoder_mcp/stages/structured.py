"""Stages whose answer is one JSON object validated into a pydantic model."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ValidationError

from papercoder_mcp.errors import ValidationFailed
from papercoder_mcp.stages.answers import extract_json
from papercoder_mcp.stages.base import Accepted, Stage, StageContext


def validation_messages(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        out.append(f"{loc}: {err['msg']}")
    return out


class StructuredStage(Stage):
    model: type[BaseModel]

    def schema(self) -> dict[str, Any]:
        return self.model.model_json_schema()

    def schema_text(self) -> str:
        return json.dumps(self.schema(), indent=1, sort_keys=True)

    def validation_context(self, ctx: StageContext) -> dict[str, Any]:
        return {}

    def accept(self, ctx: StageContext, key: str, text: str, structured: Any | None) -> Accepted:
        data = structured if structured is not None else extract_json(text)
        try:
            obj = self.model.model_validate(data, context=self.validation_context(ctx))
        except ValidationError as exc:
            msgs = validation_messages(exc)
            raise ValidationFailed(f"the {self.kind} does not validate: " + "; ".join(msgs), msgs) from exc
        return Accepted(content=obj.model_dump_json(indent=2), format="json")
