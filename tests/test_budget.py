"""One honest budget: a cap of 0 is zero, an unknown price is refused under a cap, the reservation
covers every max_tokens regrowth, and resuming never passes one model's artifacts off as another's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client
from typer.testing import CliRunner

from papercoder_mcp.cli import app
from papercoder_mcp.errors import BudgetExceeded
from papercoder_mcp.pipeline.budget import Budget, UnknownPrice
from papercoder_mcp.pipeline.edits import edit_artifact
from papercoder_mcp.pipeline.orchestrator import PipelineOptions, run_pipeline
from papercoder_mcp.samplers import pricing
from papercoder_mcp.samplers.anthropic import AnthropicSampler
from papercoder_mcp.samplers.base import SampleRequest
from papercoder_mcp.server.build import build_server
from papercoder_mcp.stages.base import estimate_request_cost
from papercoder_mcp.store import Store

from fake_model import FakeSampler
from mcp_helpers import PAPER_MD
from pipeline_helpers import new_run

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def no_given_prices() -> Iterator[None]:
    yield
    pricing._GIVEN.clear()


class TestTheCap:
    def test_zero_means_zero_not_unlimited(self) -> None:
        budget = Budget(0.0)
        with pytest.raises(BudgetExceeded, match="past its budget"):
            budget.reserve(0.0001, "make_plan", "claude-sonnet-5-5")

    def test_an_unknown_price_is_refused_under_a_cap(self) -> None:
        with pytest.raises(UnknownPrice, match="price of model 'my-model' is unknown.*--price"):
            Budget(5.0).reserve(None, "make_plan", "my-model")

    async def test_a_pipeline_with_max_cost_0_makes_no_call(self, tmp_path: Path) -> None:
        sampler = FakeSampler(model="claude-sonnet-5-5")
        ctx = new_run(tmp_path, sampler)
        result = await run_pipeline(ctx.store, ctx.run_id, sampler, PipelineOptions(max_cost_usd=0))
        assert result.status == "budget_exceeded" and sampler.history == []

    async def test_an_unpriced_model_stops_under_a_cap_and_runs_without_one(self, tmp_path: Path) -> None:
        sampler = FakeSampler(model="my-own-model")
        ctx = new_run(tmp_path, sampler)
        capped = await run_pipeline(ctx.store, ctx.run_id, sampler, PipelineOptions(max_cost_usd=5))
        assert capped.status == "budget_exceeded" and sampler.history == []
        assert "price of model 'my-own-model' is unknown" in capped.steps[0].message
        pricing.set_price("my-own-model", 1.0, 5.0)
        priced = await run_pipeline(ctx.store, ctx.run_id, sampler, PipelineOptions(max_cost_usd=5))
        assert priced.status == "verified", priced.message

    def test_the_reservation_covers_every_regrowth_of_max_tokens(self) -> None:
        sampler = AnthropicSampler(model="claude-sonnet-5-5", api_key="unused", max_tokens_ceiling=64_000)
        request = SampleRequest(stage="generate_file", system="s", prompt="p", max_tokens=16_000)
        price = pricing.price_for("claude-sonnet-5-5")
        assert price is not None
        # 16k, then 32k, then 64k output tokens may all be billed before an answer fits.
        output_only = (16_000 + 32_000 + 64_000) * price.output / 1_000_000
        reserved = estimate_request_cost(sampler, request)
        assert reserved is not None and output_only <= reserved < output_only * 1.01


class TestResumeKnowsTheModel:
    async def test_another_model_redoes_the_work_the_same_model_reuses_it_edits_are_kept(
        self, tmp_path: Path
    ) -> None:
        first = FakeSampler(model="claude-sonnet-5-5")
        ctx = new_run(tmp_path, first)
        assert (await run_pipeline(ctx.store, ctx.run_id, first)).status == "verified"
        again = FakeSampler(model="claude-sonnet-5-5")
        await run_pipeline(ctx.store, ctx.run_id, again)
        assert again.history == []
        plan = ctx.store.get_artifact(ctx.run_id, "plan").content
        edit_artifact(ctx.store, ctx.run_id, "plan", plan)  # the user's own plan
        other = FakeSampler(model="claude-opus-5-5")
        result = await run_pipeline(ctx.store, ctx.run_id, other)
        assert result.status == "verified"
        redone = {r.stage for r in other.history}
        assert "make_plan" not in redone  # the edit stands
        assert {"design_architecture", "analyze_file", "generate_file"} <= redone
        code = ctx.store.get_artifact(ctx.run_id, "code", "main.py")
        assert code.metadata["answered_with"]["model"] == "claude-opus-5-5"


class TestSurfaces:
    def test_the_cli_refuses_a_cap_on_an_unpriced_model_before_spending(self, tmp_path: Path) -> None:
        paper = tmp_path / "paper.md"
        paper.write_text(PAPER_MD)
        args = ["full", str(paper), "--out", str(tmp_path / "repo"), "--model", "my-model", "--max-cost", "1"]
        result = CliRunner().invoke(app, args, env={"ANTHROPIC_API_KEY": "k"})
        assert result.exit_code == 1
        assert "price of model 'my-model' is not known" in result.output and "--price" in result.output
        bad = CliRunner().invoke(app, [*args, "--price", "three"], env={"ANTHROPIC_API_KEY": "k"})
        assert bad.exit_code == 1 and "--price" in bad.output and "INPUT/OUTPUT" in bad.output

    async def test_a_cap_is_refused_where_the_server_cannot_know_the_price(self, tmp_path: Path) -> None:
        paper = tmp_path / "paper.md"
        paper.write_text(PAPER_MD)
        store = Store(tmp_path / "s.db")
        async with Client(build_server(store)) as client:
            parsed = await client.call_tool("parse_paper", {"path": str(paper)})
            run_id = json.loads(parsed.content[0].text)["run_id"]  # type: ignore[union-attr]
            for tool in ("run_pipeline", "evaluate_repo"):
                result = await client.call_tool(tool, {"run_id": run_id, "max_cost_usd": 1.0})
                assert result.is_error
                text = result.content[0].text  # type: ignore[union-attr]
                assert "max_cost_usd cannot be enforced with sampler 'handoff'" in text, text

    async def test_a_stage_tool_with_the_servers_key_redoes_another_models_answer(
        self, tmp_path: Path
    ) -> None:
        paper = tmp_path / "paper.md"
        paper.write_text(PAPER_MD)
        store = Store(tmp_path / "s.db")
        statuses = []
        for model in ("claude-sonnet-5-5", "claude-sonnet-5-5", "claude-opus-5-5"):
            sampler = FakeSampler(model=model, structured=True)
            async with Client(build_server(store, anthropic_sampler=sampler)) as client:
                if not statuses:
                    parsed = await client.call_tool("parse_paper", {"path": str(paper)})
                    run_id = parsed.structured_content["run_id"]  # type: ignore[index]
                result = await client.call_tool("make_plan", {"run_id": run_id})
                statuses.append(result.structured_content["status"])  # type: ignore[index]
        assert statuses == ["done", "reused", "done"]
