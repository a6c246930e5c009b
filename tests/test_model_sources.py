"""One pipeline for every model source: the same run, with a planted config-key defect, through all four.

The fake Messages API (the server's key), a 2026-07-28 client that samples inside the tool call, a
classic-sampling client (Python mcp 1.x over stdio, in its own virtual environment), and an agent
answering handoffs: each must end `verified` with the defect repaired by the pipeline's own repair
step, export must succeed, and while the defect is in the store every status surface must say the
run is not complete.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client import ClientRequestContext
from mcp.types import CallToolResult, CreateMessageRequestParams, CreateMessageResult, TextContent
from typer.testing import CliRunner

from papercoder_mcp.cli.app import app as cli_app
from papercoder_mcp.pipeline.status import run_status
from papercoder_mcp.samplers.anthropic import AnthropicSampler
from papercoder_mcp.server.build import build_server
from papercoder_mcp.store import Store

from fake_anthropic import FakeAnthropic, request_text
from fake_model import fake_model_responder, stage_of
from mcp_helpers import PAPER_MD
from planted import DEFECT_KEY, PlantedModel, is_repair

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).parent / "papercoder-mcp"
MCP1_VENV = ROOT / ".ci" / "mcp1-venv"
MCP1_PIN = "mcp==1.30.0"


def data(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text if result.content else result  # type: ignore[union-attr]
    assert result.structured_content is not None
    return result.structured_content


def error_text(result: CallToolResult) -> str:
    assert result.is_error, result.structured_content
    return result.content[0].text  # type: ignore[union-attr]


def text_of(result: Any) -> str:
    return str(result.contents[0].text)


@pytest.fixture
def paper(tmp_path: Path) -> Path:
    p = tmp_path / "paper.md"
    p.write_text(PAPER_MD)
    return p


async def assert_every_surface_says_incomplete(db: Path, run_id: str, out: Path) -> None:
    """get_run, list_runs, both run resources, `show` and export, read by an observer of the same store."""
    with Store(db) as store:
        status = run_status(store, run_id)
        assert not status.complete
        assert any(DEFECT_KEY in p for p in status.problems), status.problems
        async with Client(build_server(store)) as observer:
            report = data(await observer.call_tool("get_run", {"run_id": run_id}))
            assert report["complete"] is False and report["status"] not in ("verified", "exported")
            assert report["next_step"] == "repair_file('trainer.py')"
            (listed,) = data(await observer.call_tool("list_runs", {}))["runs"]
            assert listed["complete"] is False
            manifest = json.loads(text_of(await observer.read_resource(f"papercoder://runs/{run_id}")))
            assert manifest["complete"] is False
            runs = json.loads(text_of(await observer.read_resource("papercoder://runs")))
            assert runs[0]["complete"] is False
            refused = error_text(
                await observer.call_tool("export_repo", {"run_id": run_id, "out_dir": str(out)})
            )
            assert "fails verification" in refused and DEFECT_KEY in refused
            assert not re.search(r"--[a-z]", refused), refused  # no command-line flags in an MCP error
            assert "allow_findings=true" in refused
        assert not out.exists()
    shown = CliRunner().invoke(cli_app, ["--db", str(db), "show", run_id])
    assert shown.exit_code == 0 and "not complete" in shown.output


def assert_verified_and_repaired(db: Path, run_id: str) -> None:
    with Store(db) as store:
        assert run_status(store, run_id).complete
        assert store.get_run(run_id).status == "verified"
        history = store.history(run_id, "code", "trainer.py")
        assert DEFECT_KEY in history[0].content and DEFECT_KEY not in history[-1].content
        assert history[-1].metadata.get("repair") is True


async def export_through_mcp(db: Path, run_id: str, out: Path) -> None:
    with Store(db) as store:
        async with Client(build_server(store)) as client:
            exported = data(await client.call_tool("export_repo", {"run_id": run_id, "out_dir": str(out)}))
        assert "trainer.py" in exported["files"]
        assert store.get_run(run_id).status == "exported"
    assert '["epochs"]' in (out / "trainer.py").read_text()


async def start(client: Client, paper: Path) -> str:
    return str(data(await client.call_tool("parse_paper", {"path": str(paper)}))["run_id"])


class TestTheFakeMessagesApi:
    async def test_the_servers_key_runs_verifies_and_repairs(self, tmp_path: Path, paper: Path) -> None:
        db, out = tmp_path / "api.db", tmp_path / "repo"
        base = fake_model_responder(PlantedModel())
        asked, go = threading.Event(), threading.Event()

        def respond(body: dict[str, Any]) -> Any:
            if is_repair(request_text(body)) and not asked.is_set():
                asked.set()
                go.wait(60)  # the fake API holds the repair call while the test looks at the store
            return base(body)

        with FakeAnthropic(respond) as fake, Store(db) as store:
            sampler = AnthropicSampler(api_key="test", base_url=fake.base_url, backoff_base=0.01)
            async with Client(build_server(store, anthropic_sampler=sampler)) as client:
                run_id = await start(client, paper)
                results: list[dict[str, Any]] = []

                async def run() -> None:
                    results.append(data(await client.call_tool("run_pipeline", {"run_id": run_id})))

                async with anyio.create_task_group() as tg:
                    tg.start_soon(run)
                    assert await anyio.to_thread.run_sync(asked.wait, 60)
                    try:
                        await assert_every_surface_says_incomplete(db, run_id, out)
                    finally:
                        go.set()
            await sampler.aclose()
        assert results[0]["status"] == "verified", results[0]["message"]
        assert_verified_and_repaired(db, run_id)
        await export_through_mcp(db, run_id, out)


class TestA2026SamplingClient:
    async def test_rounds_inside_the_tool_call_verify_and_repair(self, tmp_path: Path, paper: Path) -> None:
        db, out = tmp_path / "rounds.db", tmp_path / "repo"
        model = PlantedModel()
        checked: list[bool] = []
        run: dict[str, str] = {}

        async def sample(
            context: ClientRequestContext, params: CreateMessageRequestParams
        ) -> CreateMessageResult:
            first = params.messages[0].content
            text = first.text if isinstance(first, TextContent) else ""
            if is_repair(text) and not checked:
                await assert_every_surface_says_incomplete(db, run["id"], out)
                checked.append(True)
            answer, _ = model.answer(stage_of(text), text)
            return CreateMessageResult(
                role="assistant", content=TextContent(type="text", text=answer), model="client-model"
            )

        with Store(db) as store:
            async with Client(build_server(store), sampling_callback=sample) as client:
                assert client.protocol_version >= "2026-07-28"
                run["id"] = await start(client, paper)
                statuses = []
                for _ in range(5):
                    statuses.append(
                        data(await client.call_tool("run_pipeline", {"run_id": run["id"]}))["status"]
                    )
                    if statuses[-1] == "verified":
                        break
        assert statuses[-1] == "verified" and set(statuses[:-1]) <= {"partial"}, statuses
        assert checked == [True]
        assert_verified_and_repaired(db, run["id"])
        await export_through_mcp(db, run["id"], out)


@pytest.fixture(scope="session")
def mcp1_python() -> Path:
    """A virtual environment with the Python mcp 1.x SDK (made by .ci/run; made here when missing)."""
    python = MCP1_VENV / "bin" / "python"
    if not python.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(MCP1_VENV)], check=True, timeout=120)
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", MCP1_PIN],
                check=True,
                timeout=600,
                capture_output=True,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            pytest.skip(f"cannot create a virtual environment with {MCP1_PIN} (offline?): {exc}")
    probe = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('mcp'))"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if probe.returncode != 0 or not probe.stdout.startswith("1."):
        pytest.skip(f"{MCP1_VENV} has no mcp 1.x: {probe.stdout or probe.stderr}")
    return python


class TestAClassicSamplingClient:
    async def test_python_mcp_1x_over_stdio_samples_mid_call(
        self, tmp_path: Path, paper: Path, mcp1_python: Path
    ) -> None:
        db, out, gate = tmp_path / "classic.db", tmp_path / "repo", tmp_path / "gate"
        gate.mkdir()
        driver = [str(mcp1_python), str(ROOT / "tests" / "classic_client.py"), str(CLI), str(db), str(paper)]
        driver += [str(gate), str(out)]
        finished: list[subprocess.CompletedProcess[str]] = []

        def drive() -> None:
            finished.append(subprocess.run(driver, capture_output=True, text=True, timeout=300))

        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.to_thread.run_sync, drive)
            with anyio.fail_after(240):
                while not (gate / "asked").exists():
                    if finished:
                        pytest.fail(f"the client ended before the repair: {finished[0].stderr[-3000:]}")
                    await anyio.sleep(0.05)
            try:
                with Store(db) as store:
                    (run,) = store.list_runs()
                await assert_every_surface_says_incomplete(db, run.id, out)
            finally:
                (gate / "go").write_text("go\n")
        proc = finished[0]
        assert proc.returncode == 0, proc.stderr[-3000:]
        outcome = json.loads(proc.stdout.strip().splitlines()[-1])
        assert outcome["protocol"] < "2026-07-28"
        assert outcome["statuses"][-1] == "verified" and set(outcome["statuses"][:-1]) <= {"partial"}
        assert "repair_file" in outcome["asked"]
        # Progress after every answer, strictly increasing, so a client's request timer can be kept alive.
        assert len(outcome["progress"]) >= len(outcome["asked"]) - 1
        assert outcome["progress"] == sorted(set(outcome["progress"]))
        assert outcome["get_run"]["complete"] is True and outcome["get_run"]["status"] == "verified"
        assert outcome["export_error"] is False
        assert '["epochs"]' in (out / "trainer.py").read_text()
        with Store(db) as store:
            assert run_status(store, outcome["run_id"]).complete
            assert store.get_run(outcome["run_id"]).status == "exported"
            history = store.history(outcome["run_id"], "code", "trainer.py")
            assert DEFECT_KEY in history[0].content and history[-1].metadata.get("repair") is True


class TestHandoff:
    async def test_the_agent_gets_the_repair_like_any_other_step(self, tmp_path: Path, paper: Path) -> None:
        db, out = tmp_path / "handoff.db", tmp_path / "repo"
        model = PlantedModel()
        with Store(db) as store:
            async with Client(build_server(store)) as client:
                run_id = await start(client, paper)
                handed: list[str] = []
                for _ in range(30):
                    step = data(await client.call_tool("run_pipeline", {"run_id": run_id}))
                    if step["status"] == "verified":
                        break
                    assert step["status"] == "handoff" and step["handoffs"], step
                    assert not any(n.startswith("export_repo") for n in step["next"])
                    for h in step["handoffs"]:
                        handed.append(h["stage"])
                        if h["stage"] == "repair_file":
                            assert h["output_schema"] is None and "fenced block" in h["output_contract"]
                            assert DEFECT_KEY in h["prompt"]
                            await assert_every_surface_says_incomplete(db, run_id, out)
                        answer, _ = model.answer(stage_of(h["prompt"]), h["prompt"])
                        data(
                            await client.call_tool(
                                "submit_artifact", {"handoff_id": h["handoff_id"], "content": answer}
                            )
                        )
                assert step["status"] == "verified", step
                assert step["next"] == [f"export_repo(run_id={run_id!r}, out_dir=...)"]
        assert handed.count("repair_file") == 1
        assert_verified_and_repaired(db, run_id)
        await export_through_mcp(db, run_id, out)
