"""Stage 4: config.yaml with the paper's hyperparameters (it must parse, numbers must be numbers).

Every key has a value so the code runs as written: the paper's, or a default marked as chosen;
null only for what the user must supply, with a comment saying how to get it."""

from __future__ import annotations

from typing import Any

from papercoder_mcp import prompts
from papercoder_mcp.configfile import check_config_rules, validate_config_yaml
from papercoder_mcp.errors import ValidationFailed
from papercoder_mcp.samplers.base import SampleRequest
from papercoder_mcp.stages import inputs
from papercoder_mcp.stages.answers import extract_code
from papercoder_mcp.stages.base import Accepted, Stage, StageContext, StageResult, guidance_block, run_stage


class WriteConfig(Stage):
    name = "write_config"
    kind = "config"

    def build_request(self, ctx: StageContext, key: str, guidance: str) -> SampleRequest:
        return SampleRequest(
            stage=self.name,
            system="",
            prefix=inputs.prefix(ctx, 3, self.name),
            prompt=prompts.render("write_config", guidance=guidance_block(guidance)),
        )

    def accept(self, ctx: StageContext, key: str, text: str, structured: Any | None) -> Accepted:
        body = extract_code(text)
        fixed, _data, notes = validate_config_yaml(body)
        problems = check_config_rules(fixed)
        if problems:
            raise ValidationFailed(
                "config.yaml leaves settings without a value: " + "; ".join(problems), problems
            )
        metadata: dict[str, Any] = {}
        if notes:
            metadata["rewritten_numbers"] = notes
        return Accepted(content=fixed, format="yaml", metadata=metadata)


STAGE = WriteConfig()


async def write_config(ctx: StageContext, *, force: bool = False) -> StageResult:
    return await run_stage(STAGE, ctx, force=force)
