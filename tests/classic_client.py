"""A classic-sampling client: the Python mcp 1.x SDK over stdio, run in its own virtual environment.

Usage: python classic_client.py SERVER_CMD DB PAPER GATE_DIR OUT_DIR  (prints one JSON line)

It answers the server's `sampling/createMessage` requests with the planted fake model. When
the repair request arrives it writes GATE_DIR/asked and waits for GATE_DIR/go, so the test
can look at every status surface while the defect is still in the store.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CreateMessageRequestParams, CreateMessageResult, TextContent

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from fake_model import stage_of  # noqa: E402
from planted import PlantedModel, is_repair  # noqa: E402


async def main(server: str, db: str, paper: str, gate: Path, out: str) -> dict[str, Any]:
    model = PlantedModel()
    asked: list[str] = []
    progress: list[float] = []

    async def sample(context: Any, params: CreateMessageRequestParams) -> CreateMessageResult:
        first = params.messages[0].content
        text = first.text if isinstance(first, TextContent) else ""
        asked.append(stage_of(text))
        if is_repair(text) and not (gate / "asked").exists():
            (gate / "asked").write_text("repair requested\n")
            deadline = time.monotonic() + 120
            while not (gate / "go").exists() and time.monotonic() < deadline:
                await anyio.sleep(0.05)
        answer, _ = model.answer(stage_of(text), text)
        return CreateMessageResult(
            role="assistant", content=TextContent(type="text", text=answer), model="classic-client"
        )

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "PAPERCODER_"))}
    params = StdioServerParameters(command=server, args=["--db", db, "serve"], env=env)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, sampling_callback=sample) as session:
            init = await session.initialize()
            parsed = await session.call_tool("parse_paper", {"path": paper})
            run_id = parsed.structuredContent["run_id"]  # type: ignore[index]
            statuses = []
            for _ in range(5):
                result = await session.call_tool(
                    "run_pipeline", {"run_id": run_id}, progress_callback=on_progress
                )
                statuses.append((result.structuredContent or {}).get("status"))
                if statuses[-1] == "verified":
                    break
            report = (await session.call_tool("get_run", {"run_id": run_id})).structuredContent
            exported = await session.call_tool("export_repo", {"run_id": run_id, "out_dir": out})
    return {
        "protocol": str(init.protocolVersion),
        "run_id": run_id,
        "statuses": statuses,
        "get_run": report,
        "export_error": exported.isError,
        "asked": asked,
        "progress": progress,
    }


if __name__ == "__main__":
    server, db, paper, gate, out = sys.argv[1:6]
    print(json.dumps(anyio.run(main, server, db, paper, Path(gate), out)))
