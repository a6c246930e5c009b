"""The pipeline stages, one module each; every caller (MCP tool, orchestrator, script) uses these."""

from __future__ import annotations

from papercoder_mcp.stages.analyze_file import STAGE as ANALYZE_FILE
from papercoder_mcp.stages.analyze_file import analyze_file
from papercoder_mcp.stages.base import (
    Stage,
    StageContext,
    StageResult,
    StageSettings,
    accept_answer,
    run_stage,
    set_guidance,
)
from papercoder_mcp.stages.check_coverage import STAGE as CHECK_COVERAGE
from papercoder_mcp.stages.check_coverage import check_coverage
from papercoder_mcp.stages.design_architecture import STAGE as DESIGN_ARCHITECTURE
from papercoder_mcp.stages.design_architecture import design_architecture
from papercoder_mcp.stages.generate_file import STAGE as GENERATE_FILE
from papercoder_mcp.stages.generate_file import generate_file
from papercoder_mcp.stages.make_plan import STAGE as MAKE_PLAN
from papercoder_mcp.stages.make_plan import make_plan
from papercoder_mcp.stages.order_files import STAGE as ORDER_FILES
from papercoder_mcp.stages.order_files import order_files
from papercoder_mcp.stages.repair_file import STAGE as REPAIR_FILE
from papercoder_mcp.stages.write_config import STAGE as WRITE_CONFIG
from papercoder_mcp.stages.write_config import write_config

PLANNING_STAGES: list[Stage] = [MAKE_PLAN, DESIGN_ARCHITECTURE, ORDER_FILES, WRITE_CONFIG]
STAGES: dict[str, Stage] = {
    s.name: s for s in [*PLANNING_STAGES, ANALYZE_FILE, GENERATE_FILE, REPAIR_FILE, CHECK_COVERAGE]
}

__all__ = [
    "ANALYZE_FILE",
    "CHECK_COVERAGE",
    "DESIGN_ARCHITECTURE",
    "GENERATE_FILE",
    "MAKE_PLAN",
    "ORDER_FILES",
    "PLANNING_STAGES",
    "REPAIR_FILE",
    "STAGES",
    "WRITE_CONFIG",
    "Stage",
    "StageContext",
    "StageResult",
    "StageSettings",
    "accept_answer",
    "analyze_file",
    "check_coverage",
    "design_architecture",
    "generate_file",
    "make_plan",
    "order_files",
    "run_stage",
    "set_guidance",
    "write_config",
]
