"""End to end through the real anthropic SDK against the fake Messages API: faults, costs, caching,
and a real `papercoder-mcp full` process killed mid-run and resumed."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from papercoder_mcp.pipeline.orchestrator import PipelineOptions, run_pipeline
from papercoder_mcp.samplers.anthropic import AnthropicSampler
from papercoder_mcp.store import Store

from fake_anthropic import FakeAnthropic, Fault, request_text
from fake_model import fake_model_responder, stage_of
from pipeline_helpers import cli_process, new_run

pytestmark = pytest.mark.anyio

PAPER_MD = """# Tiny Attention

## Abstract

We propose tiny attention, trained with learning rate 1e-4 for 10 epochs.

## 1 Method

Attention is softmax(QK^T / sqrt(d)) V.

## 2 Experiments

We report accuracy on a toy benchmark.

## References

- [1] Someone. Attention. 2017.
"""


class TestThroughTheSdk:
    async def test_full_run_survives_every_fault(self, tmp_path: Path) -> None:
        with FakeAnthropic(fake_model_responder(bad_first={"design_architecture"})) as fake:
            sampler = AnthropicSampler(
                model="claude-sonnet-5-5",
                api_key="test",
                base_url=fake.base_url,
                backoff_base=0.01,
                backoff_cap=0.05,
                timeout=1.0,
            )
            fake.fail_next(
                Fault.rate_limit(retry_after=0.01),
                Fault.overloaded(),
                Fault.server_error(500),
                Fault.drop(),
                Fault.slow(2.0),
                Fault.truncate(),
            )
            ctx = new_run(tmp_path, sampler)
            result = await run_pipeline(ctx.store, ctx.run_id, sampler, PipelineOptions(concurrency=4))
            await sampler.aclose()
        assert result.status == "verified", result.message
        calls = ctx.store.calls(ctx.run_id)
        errors = [c.error for c in calls if c.error]
        # Six transport faults and one invalid answer, each logged as a failed attempt.
        assert len(errors) == 7, "\n".join(errors)
        assert any(e.startswith("invalid answer") for e in errors)
        assert ctx.store.cost_summary(ctx.run_id).total_usd > 0
        # Per-file calls share the cached prefix: they read it instead of paying full price.
        per_file = [c for c in calls if c.stage in ("analyze_file", "generate_file") and not c.error]
        assert sum(c.cache_read_tokens for c in per_file) > sum(c.input_tokens for c in per_file)
        # The last prefix block carries cache_control, and the system prompt is the same everywhere.
        body = fake.requests[-1]
        first_user = body["messages"][0]["content"]
        marked = [i for i, b in enumerate(first_user) if b.get("cache_control")]
        assert marked == [len(first_user) - 3, len(first_user) - 2]
        assert len({str(r["system"]) for r in fake.requests}) == 1

    async def test_structured_stages_use_the_schema(self, tmp_path: Path) -> None:
        with FakeAnthropic(fake_model_responder()) as fake:
            sampler = AnthropicSampler(api_key="test", base_url=fake.base_url, backoff_base=0.01)
            ctx = new_run(tmp_path, sampler)
            await run_pipeline(ctx.store, ctx.run_id, sampler)
            await sampler.aclose()
        plan_request = next(r for r in fake.requests if stage_of(request_text(r)) == "make_plan")
        assert plan_request["output_config"]["format"]["type"] == "json_schema"
        code_request = next(r for r in fake.requests if stage_of(request_text(r)) == "generate_file")
        assert "format" not in (code_request.get("output_config") or {})


class TestKillAndResume:
    def test_killed_run_resumes_to_the_same_repository_paying_nothing_twice(self, tmp_path: Path) -> None:
        paper = tmp_path / "paper.md"
        paper.write_text(PAPER_MD)
        db = tmp_path / "kill.db"
        slow_after = 7  # requests answered at once; then each answer takes long enough to kill mid-call

        responder = fake_model_responder()
        with FakeAnthropic(responder) as fake:

            def slow_responder(body: dict) -> object:  # type: ignore[type-arg]
                if len(fake.requests) > slow_after:
                    time.sleep(30)
                return responder(body)

            fake.responder = slow_responder
            env = {
                **os.environ,
                "ANTHROPIC_API_KEY": "test",
                "ANTHROPIC_BASE_URL": fake.base_url,
                "PAPERCODER_DB": str(db),
            }
            proc = cli_process(
                "full", str(paper), "--out", str(tmp_path / "repo"), "--concurrency", "2", env=env
            )
            deadline = time.monotonic() + 60
            while len(fake.requests) <= slow_after + 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            assert proc.returncode == -signal.SIGKILL

            with Store(db) as store:
                (run,) = store.list_runs()
                finished = {(a.kind, a.key) for a in store.list_artifacts(run.id)}
                paid_before = len(store.calls(run.id))
            assert ("config", "") in finished and paid_before >= 5

            fake.responder = responder
            first_requests = len(fake.requests)
            proc = cli_process("full", str(paper), "--out", str(tmp_path / "repo"), env=env)
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            assert "resuming run" in err
            resumed = fake.requests[first_requests:]

        kinds = {
            "make_plan": "plan",
            "design_architecture": "architecture",
            "order_files": "file_order",
            "write_config": "config",
            "analyze_file": "analysis",
            "generate_file": "code",
            "check_coverage": "coverage",
        }
        from fake_model import path_of

        redone = {(kinds[stage_of(request_text(r))], path_of(request_text(r))) for r in resumed}
        assert not (redone & finished), f"finished steps were paid again: {redone & finished}"
        repo = tmp_path / "repo"
        assert (repo / "main.py").read_text().startswith('"""main.py')
        assert (repo / "config.yaml").exists() and (
            repo / "requirements.txt"
        ).read_text() == "pyyaml>=6\npytest\n"
