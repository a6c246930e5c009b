"""The run lease and the in-flight call log, with real processes: two `full` on one run, a kill -9
mid-call, and what `cost` says afterwards."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from papercoder_mcp.cli import app
from papercoder_mcp.errors import RunBusy
from papercoder_mcp.store import Store
from papercoder_mcp.store.lease import RunLease, current_holder

from fake_anthropic import FakeAnthropic
from fake_model import fake_model_responder
from pipeline_helpers import cli_process

PAPER_MD = """# Tiny Attention

## Abstract

We propose tiny attention, trained with learning rate 1e-4 for 10 epochs.

## 1 Method

Attention is softmax(QK^T / sqrt(d)) V.
"""


class TestLeaseInOneProcess:
    def test_a_second_holder_is_refused_with_the_holder_named(self, tmp_path: Path) -> None:
        with Store(tmp_path / "s.db") as store:
            run = store.create_run(title="t")
            with RunLease(store, run.id, "first"):
                with pytest.raises(RunBusy) as err:
                    RunLease(store, run.id, "second").acquire()
                message = str(err.value)
                assert (
                    f"pid {os.getpid()} on {socket.gethostname()} (first)" in message and "since" in message
                )
            assert current_holder(store, run.id) is None  # released on exit
            with RunLease(store, run.id, "third"):  # and free again
                pass

    def test_a_lease_without_heartbeat_expires(self, tmp_path: Path) -> None:
        with Store(tmp_path / "s.db") as store:
            run = store.create_run(title="t")
            lease = RunLease(store, run.id, "hung", heartbeat_s=60).acquire()
            with pytest.raises(RunBusy):
                RunLease(store, run.id, "early", stale_after_s=5).acquire()
            time.sleep(0.3)
            with RunLease(store, run.id, "later", stale_after_s=0.2):
                assert current_holder(store, run.id).purpose == "later"  # type: ignore[union-attr]
            lease._stop.set()

    def test_waiting_gets_the_lease_when_the_holder_lets_go(self, tmp_path: Path) -> None:
        import threading

        with Store(tmp_path / "s.db") as store:
            run = store.create_run(title="t")
            first = RunLease(store, run.id, "first").acquire()
            threading.Timer(0.5, first.release).start()
            with RunLease(store, run.id, "waiter", wait_s=10):
                assert current_holder(store, run.id).purpose == "waiter"  # type: ignore[union-attr]


class TestTwoProcesses:
    def test_second_full_is_refused_then_a_killed_holder_frees_the_run_and_cost_shows_the_lost_call(
        self, tmp_path: Path
    ) -> None:
        paper = tmp_path / "paper.md"
        paper.write_text(PAPER_MD)
        db = tmp_path / "lease.db"
        responder = fake_model_responder()
        with FakeAnthropic(responder) as fake:
            hold = {"on": True}

            def slow(body: dict) -> object:  # type: ignore[type-arg]
                if len(fake.requests) > 2 and hold["on"]:
                    time.sleep(30)
                return responder(body)

            fake.responder = slow
            env = {
                **os.environ,
                "ANTHROPIC_API_KEY": "test",
                "ANTHROPIC_BASE_URL": fake.base_url,
                "PAPERCODER_DB": str(db),
            }
            first = cli_process(
                "full", str(paper), "--out", str(tmp_path / "repo"), "--concurrency", "1", env=env
            )
            deadline = time.monotonic() + 60
            while len(fake.requests) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(fake.requests) >= 3, "the first run never reached its third call"

            second = cli_process("full", str(paper), "--out", str(tmp_path / "repo2"), env=env)
            _, err = second.communicate(timeout=60)
            assert second.returncode == 1
            assert f"is being worked on by pid {first.pid} on {socket.gethostname()}" in err, err
            assert "papercoder-mcp full" in err and "since" in err

            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
            with Store(db) as store:
                (run,) = store.list_runs()
                lost = [c for c in store.calls(run.id) if c.status == "in_flight"]
                assert len(lost) == 1 and lost[0].input_tokens == 0 and lost[0].cost_usd is None
                assert store.cost_summary(run.id).unfinished_calls == 1

            cost = CliRunner().invoke(app, ["--db", str(db), "cost", run.id], env={"COLUMNS": "200"})
            assert cost.exit_code == 0, cost.output
            assert "Unfinished calls" in cost.output and "in-flight" in cost.output
            assert "1 call(s) unfinished" in cost.output

            hold["on"] = False  # the dead holder's pid is gone: the next run takes the lease at once
            third = cli_process("full", str(paper), "--out", str(tmp_path / "repo"), env=env)
            _, err = third.communicate(timeout=120)
            assert third.returncode == 0, err
            assert (tmp_path / "repo" / "main.py").exists()
        with Store(db) as store:
            assert current_holder(store, run.id) is None


@pytest.mark.anyio
class TestMcpRunPipeline:
    async def test_run_pipeline_is_refused_while_another_pipeline_holds_the_run(self, tmp_path: Path) -> None:
        from mcp import Client

        from papercoder_mcp.server.build import build_server

        paper = tmp_path / "paper.md"
        paper.write_text(PAPER_MD)
        store = Store(tmp_path / "s.db")
        async with Client(build_server(store)) as client:
            parsed = await client.call_tool("parse_paper", {"path": str(paper)})
            run_id = parsed.structured_content["run_id"]  # type: ignore[index]
            with RunLease(store, run_id, "papercoder-mcp full"):
                busy = await client.call_tool("run_pipeline", {"run_id": run_id})
                assert busy.is_error
                text = busy.content[0].text  # type: ignore[union-attr]
                assert f"is being worked on by pid {os.getpid()}" in text and "(papercoder-mcp full)" in text
            free = await client.call_tool("run_pipeline", {"run_id": run_id})
            assert not free.is_error and current_holder(store, run_id) is None


@pytest.mark.anyio
class TestCallsInFlight:
    async def test_a_cancelled_call_is_logged_as_interrupted_and_a_finished_one_once(
        self, tmp_path: Path
    ) -> None:
        import anyio

        from papercoder_mcp.stages import MAKE_PLAN, run_stage

        from fake_model import FakeSampler
        from pipeline_helpers import new_run

        slow = FakeSampler(seconds_per_output_token=1.0)
        ctx = new_run(tmp_path, slow)
        with anyio.move_on_after(0.5):
            await run_stage(MAKE_PLAN, ctx)
        (call,) = ctx.store.calls(ctx.run_id)
        assert call.status == "interrupted" and call.input_tokens == 0 and call.cost_usd is None
        assert ctx.store.cost_summary(ctx.run_id).unfinished_calls == 1
        ctx.sampler = FakeSampler()
        await run_stage(MAKE_PLAN, ctx)
        done = [c for c in ctx.store.calls(ctx.run_id) if c.status == "done"]
        assert len(done) == 1 and done[0].input_tokens > 0  # the in-flight row was completed, not duplicated
