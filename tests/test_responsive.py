"""The server stays responsive: while one client's call does slow blocking work (a smoke run of a
module that takes seconds to import), a second client of the same server gets its answers."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest
from mcp import Client

from papercoder_mcp.pipeline.edits import edit_artifact
from papercoder_mcp.pipeline.orchestrator import PipelineOptions, run_pipeline
from papercoder_mcp.server.build import build_server

from fake_model import FakeSampler
from pipeline_helpers import new_run

pytestmark = pytest.mark.anyio

SLOW_IMPORT_S = 4.0


class TestASecondClientIsServed:
    async def test_list_runs_answers_while_another_client_verifies(self, tmp_path: Path) -> None:
        sampler = FakeSampler()
        ctx = new_run(tmp_path, sampler)
        await run_pipeline(ctx.store, ctx.run_id, sampler, PipelineOptions(verify=False))
        utils = ctx.store.get_artifact(ctx.run_id, "code", "utils.py").content
        # Importing utils.py now takes seconds: the smoke run (a subprocess) waits for it.
        edit_artifact(
            ctx.store, ctx.run_id, "code", f"import time\n\ntime.sleep({SLOW_IMPORT_S})\n" + utils, "utils.py"
        )
        server = build_server(ctx.store)
        slow: dict[str, float] = {}
        async with Client(server) as first, Client(server) as second:

            async def verify() -> None:
                started = time.monotonic()
                result = await first.call_tool("verify_repo", {"run_id": ctx.run_id, "smoke": True})
                assert not result.is_error, result.content
                slow["took"] = time.monotonic() - started
                slow["done_at"] = time.monotonic()

            async with anyio.create_task_group() as tg:
                tg.start_soon(verify)
                await anyio.sleep(1.0)  # the verification is now in its smoke run
                listed = await second.call_tool("list_runs", {})
                answered = time.monotonic()
                # The verification stores its result when it ends: it has not, so list_runs did not wait.
                assert ctx.store.find_artifact(ctx.run_id, "verification") is None, "list_runs waited"
                assert not listed.is_error and ctx.run_id in str(listed.structured_content)
        assert slow["took"] >= SLOW_IMPORT_S and answered < slow["done_at"]
        assert ctx.store.find_artifact(ctx.run_id, "verification") is not None
