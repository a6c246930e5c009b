"""The MCP server through the real SDK client, in process: tools, resources, prompts, three samplers."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult, CreateMessageResult, InputRequiredResult, TextContent

from papercoder_mcp.errors import PaperCoderError
from papercoder_mcp.ids import RequestKey
from papercoder_mcp.pipeline.status import run_status
from papercoder_mcp.samplers.anthropic import AnthropicSampler
from papercoder_mcp.server.build import build_server
from papercoder_mcp.store import Store

from fake_anthropic import FakeAnthropic
from fake_model import fake_model_responder
from mcp_helpers import PAPER_MD, ModelCallback

pytestmark = pytest.mark.anyio

STAGE_TOOLS = [
    "make_plan",
    "design_architecture",
    "order_files",
    "write_config",
    "analyze_file",
    "generate_file",
]


@pytest.fixture
def paper(tmp_path: Path) -> Path:
    p = tmp_path / "paper.md"
    p.write_text(PAPER_MD)
    return p


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "server.db")


def data(result: CallToolResult) -> dict:  # type: ignore[type-arg]
    assert not result.is_error, result.content[0].text if result.content else result
    assert result.structured_content is not None
    return result.structured_content


def error_text(result: CallToolResult) -> str:
    assert result.is_error, result.structured_content
    return result.content[0].text  # type: ignore[union-attr]


async def start(client: Client, paper: Path) -> str:
    return str(data(await client.call_tool("parse_paper", {"path": str(paper)}))["run_id"])


async def finish(client: Client, run_id: str) -> None:
    for _ in range(5):
        if data(await client.call_tool("run_pipeline", {"run_id": run_id}))["status"] == "verified":
            return
    raise AssertionError("run_pipeline did not complete in 5 calls")


class TestListing:
    async def test_tools_resources_and_prompts_are_offered(self, store: Store) -> None:
        async with Client(build_server(store), raise_exceptions=True) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert set(tools) == {
                *STAGE_TOOLS,
                "parse_paper",
                "run_pipeline",
                "submit_artifact",
                "edit_artifact",
                "get_run",
                "list_runs",
                "export_repo",
                "verify_repo",
                "repair_file",
                "check_coverage",
                "evaluate_repo",
            }
            assert tools["get_run"].annotations.read_only_hint is True
            assert tools["make_plan"].annotations.open_world_hint is True
            assert tools["export_repo"].annotations.destructive_hint is True
            assert tools["make_plan"].output_schema is not None
            assert "guidance" in tools["make_plan"].input_schema["properties"]
            templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
            assert "papercoder://runs/{run_id}/files/{+path}" in templates
            assert "papercoder://runs/{run_id}/plan" in templates
            prompts = {p.name for p in (await client.list_prompts()).prompts}
            assert prompts == {"reproduce_paper", "review_artifact", "explain_run"}


class TestClientSampling:
    async def test_every_stage_tool_through_the_clients_model(self, store: Store, paper: Path) -> None:
        callback = ModelCallback()
        async with Client(build_server(store), sampling_callback=callback) as client:
            run_id = await start(client, paper)
            for tool in STAGE_TOOLS[:4]:
                result = data(await client.call_tool(tool, {"run_id": run_id}))
                assert result["status"] == "done" and result["sampler"] == "mcp-sampling"
            for tool in ["analyze_file", "generate_file"]:
                for path in [
                    "utils.py",
                    "model.py",
                    "dataset.py",
                    "trainer.py",
                    "evaluation.py",
                    "tests/test_model.py",
                    "main.py",
                ]:
                    result = data(await client.call_tool(tool, {"run_id": run_id, "path": path}))
                    assert result["status"] == "done"
            # After the last file comes verification, never export; then the coverage check.
            assert result["next"][0] == f"verify_repo(run_id={run_id!r})"
            assert not run_status(store, run_id).complete
            verified = data(await client.call_tool("verify_repo", {"run_id": run_id}))
            assert verified["passed"] and verified["next"] == [f"check_coverage(run_id={run_id!r})"]
            result = data(await client.call_tool("check_coverage", {"run_id": run_id}))
            assert result["status"] == "done" and result["resource"] == f"papercoder://runs/{run_id}/coverage"
            assert result["next"] == [f"export_repo(run_id={run_id!r}, out_dir=...)"]
            again = data(await client.call_tool("make_plan", {"run_id": run_id}))
            assert again["status"] == "reused"
        assert run_status(store, run_id).complete
        assert len(callback.asked) == 4 + 2 * 7 + 1
        assert {c.sampler for c in store.calls(run_id)} == {"mcp-sampling"}

    async def test_run_pipeline_batches_rounds_and_reasks(self, store: Store, paper: Path) -> None:
        callback = ModelCallback(bad_first={"design_architecture"})
        async with Client(build_server(store), sampling_callback=callback) as client:
            run_id = await start(client, paper)
            statuses = []
            for _ in range(3):
                result = data(await client.call_tool("run_pipeline", {"run_id": run_id}))
                statuses.append(result["status"])
                if result["status"] == "verified":
                    break
        # 11 rounds of work (planning 4 + a re-ask, all analyses at once, 4 levels of code, coverage) fit
        # in two calls.
        assert statuses == ["partial", "verified"]
        assert len(callback.asked) == 4 + 1 + 2 * 7 + 1
        assert run_status(store, run_id).complete
        errors = [c.error for c in store.calls(run_id) if c.error]
        assert len(errors) == 1 and "invalid" in errors[0]

    async def test_round_budget_gives_a_partial_result_and_a_second_call_finishes(
        self, tmp_path: Path, paper: Path
    ) -> None:
        store = Store(tmp_path / "rounds.db")
        async with Client(build_server(store, max_rounds=3), sampling_callback=ModelCallback()) as client:
            run_id = await start(client, paper)
            first = data(await client.call_tool("run_pipeline", {"run_id": run_id}))
            assert first["status"] == "partial"
            assert "call run_pipeline again" in first["message"]
            assert 0 < first["done"] < first["total"]
            second = data(await client.call_tool("run_pipeline", {"run_id": run_id}))
            while second["status"] == "partial":
                second = data(await client.call_tool("run_pipeline", {"run_id": run_id}))
            assert second["status"] == "verified"


class TestHandoff:
    async def test_a_client_without_sampling_drives_everything_by_submit_artifact(
        self, store: Store, paper: Path, tmp_path: Path
    ) -> None:
        from fake_model import FakeModel, stage_of

        fake = FakeModel()
        async with Client(build_server(store)) as client:
            run_id = await start(client, paper)
            first = data(await client.call_tool("make_plan", {"run_id": run_id}))
            assert first["status"] == "handoff"
            assert "does not declare the sampling capability" in first["note"]
            assert first["handoff"]["context_resources"] == [f"papercoder://runs/{run_id}/paper"]
            # The agent reads the context resource, writes each answer, submits it.
            paper_md = await client.read_resource(f"papercoder://runs/{run_id}/paper")
            assert "Tiny Attention" in paper_md.contents[0].text  # type: ignore[union-attr]
            for _ in range(20):
                step = data(await client.call_tool("run_pipeline", {"run_id": run_id}))
                if step["status"] == "verified":
                    break
                assert step["status"] == "handoff" and step["handoffs"]
                for h in step["handoffs"]:
                    answer, _ = fake.answer(stage_of(h["prompt"]), h["prompt"])
                    stored = data(
                        await client.call_tool(
                            "submit_artifact", {"handoff_id": h["handoff_id"], "content": answer}
                        )
                    )
                    assert stored["status"] == "done" and stored["sampler"] == "agent"
                    # Not echoed: the agent has it, and the resource holds what was stored.
                    assert stored["content"] == "" and stored["resource"] in stored["note"]
            assert step["status"] == "verified"
            exported = data(
                await client.call_tool("export_repo", {"run_id": run_id, "out_dir": str(tmp_path / "repo")})
            )
            assert "main.py" in exported["files"] and "tests/test_model.py" in exported["files"]

    async def test_coverage_by_handoff_and_what_it_finds_missing_is_offered_as_repairs(
        self, store: Store, paper: Path
    ) -> None:
        async with Client(build_server(store), sampling_callback=ModelCallback()) as client:
            run_id = await start(client, paper)
            await finish(client, run_id)
        async with Client(build_server(store)) as client:
            asked = data(await client.call_tool("check_coverage", {"run_id": run_id, "force": True}))
            assert asked["status"] == "handoff"
            assert "## The repository as written" in asked["handoff"]["prompt"]
            assert "def trainer_step() -> int" in asked["handoff"]["prompt"]  # interfaces, from the code
            answer = {
                "items": [
                    {"name": "core layer", "kind": "component", "file": "model.py", "symbol": "model_step"},
                    {"name": "scheduler", "kind": "component", "file": "trainer.py", "symbol": "Scheduler"},
                ]
            }
            stored = data(
                await client.call_tool(
                    "submit_artifact",
                    {"handoff_id": asked["handoff"]["handoff_id"], "content": json.dumps(answer)},
                )
            )
            assert stored["warnings"] == [
                "trainer.py: scheduler is mapped to code that does not exist: trainer.py defines no Scheduler"
            ]
            again = data(await client.call_tool("check_coverage", {"run_id": run_id}))
            assert again["status"] == "reused"
            assert again["next"][0] == f"repair_file(run_id={run_id!r}, path='trainer.py')"
            report = json.loads(
                (await client.read_resource(f"papercoder://runs/{run_id}/coverage")).contents[0].text  # type: ignore[union-attr]
            )
            assert [i["status"] for i in report["items"]] == ["implemented", "not_found"]

    async def test_an_invalid_submission_gets_every_problem_back_and_stores_nothing(
        self, store: Store, paper: Path
    ) -> None:
        async with Client(build_server(store)) as client:
            run_id = await start(client, paper)
            handoff = data(await client.call_tool("make_plan", {"run_id": run_id}))["handoff"]
            bad = await client.call_tool(
                "submit_artifact", {"handoff_id": handoff["handoff_id"], "content": '{"summary": "x"}'}
            )
            assert "methodology" in error_text(bad) and "fix these problems" in error_text(bad)
            assert store.find_artifact(run_id, "plan") is None


class TestServerSideApi:
    async def test_stage_tools_and_pipeline_through_the_fake_anthropic_api(
        self, store: Store, paper: Path
    ) -> None:
        with FakeAnthropic(fake_model_responder()) as fake:
            sampler = AnthropicSampler(api_key="test", base_url=fake.base_url, backoff_base=0.01)
            progress: list[tuple[float, float | None, str | None]] = []

            async def on_progress(p: float, total: float | None, message: str | None) -> None:
                progress.append((p, total, message))

            async with Client(
                build_server(store, anthropic_sampler=sampler), sampling_callback=ModelCallback()
            ) as client:
                run_id = await start(client, paper)
                plan = data(await client.call_tool("make_plan", {"run_id": run_id}))
                assert plan["sampler"] == "anthropic" and plan["cost_usd"] > 0
                result = data(
                    await client.call_tool("run_pipeline", {"run_id": run_id}, progress_callback=on_progress)
                )
                assert result["status"] == "verified"
            await sampler.aclose()
        assert len(fake.requests) == 4 + 2 * 7 + 1
        assert progress and progress[-1][0] == progress[-1][1]


class TestErrors:
    async def test_unknown_run_out_of_order_stage_and_unsafe_path(self, store: Store, paper: Path) -> None:
        async with Client(build_server(store)) as client:
            assert "no run with id 'nope'" in error_text(
                await client.call_tool("make_plan", {"run_id": "nope"})
            )
            run_id = await start(client, paper)
            text = error_text(await client.call_tool("order_files", {"run_id": run_id}))
            assert "call make_plan first" in text or "call design_architecture first" in text
            text = error_text(
                await client.call_tool("analyze_file", {"run_id": run_id, "path": "../../etc/passwd"})
            )
            assert "climbs out" in text
            text = error_text(
                await client.call_tool("parse_paper", {"path": str(paper.parent / "missing.pdf")})
            )
            assert "no such file" in text
            text = error_text(
                await client.call_tool("submit_artifact", {"handoff_id": "junk", "content": "x"})
            )
            assert "not a handoff id" in text

    async def test_forcing_a_sampler_that_is_not_there_says_why(self, store: Store, paper: Path) -> None:
        async with Client(build_server(store)) as client:
            run_id = await start(client, paper)
            text = error_text(await client.call_tool("make_plan", {"run_id": run_id, "sampler": "anthropic"}))
            assert "ANTHROPIC_API_KEY" in text
            text = error_text(await client.call_tool("make_plan", {"run_id": run_id, "sampler": "sampling"}))
            assert "sampling capability" in text


class TestEditAndResources:
    async def test_edit_makes_downstream_stale_and_resources_show_it(self, store: Store, paper: Path) -> None:
        async with Client(build_server(store), sampling_callback=ModelCallback()) as client:
            run_id = await start(client, paper)
            await finish(client, run_id)
            plan = json.loads(
                (await client.read_resource(f"papercoder://runs/{run_id}/plan")).contents[0].text
            )  # type: ignore[union-attr]
            plan["summary"] = "Edited by the user."
            edited = data(
                await client.call_tool(
                    "edit_artifact", {"run_id": run_id, "kind": "plan", "content": json.dumps(plan)}
                )
            )
            assert edited["version"] == 2
            report = data(await client.call_tool("get_run", {"run_id": run_id}))
            states = {(s["stage"], s["key"]): s["status"] for s in report["steps"]}
            assert states[("make_plan", "")] == "done"
            assert states[("design_architecture", "")] == "stale"
            assert report["complete"] is False and report["next_step"] == "design_architecture()"
            manifest = json.loads(
                (await client.read_resource(f"papercoder://runs/{run_id}")).contents[0].text
            )  # type: ignore[union-attr]
            assert manifest["complete"] is False
            code = await client.read_resource(f"papercoder://runs/{run_id}/files/main.py")
            assert code.contents[0].text.startswith('"""main.py')  # type: ignore[union-attr]
            calls = json.loads(
                (await client.read_resource(f"papercoder://runs/{run_id}/calls")).contents[0].text
            )  # type: ignore[union-attr]
            assert len(calls) == 4 + 2 * 7 + 1
            config = await client.read_resource(f"papercoder://runs/{run_id}/config")
            assert config.contents[0].mime_type == "application/yaml"
            bad = await client.call_tool(
                "edit_artifact", {"run_id": run_id, "kind": "code", "path": "main.py", "content": "def (:"}
            )
            assert "SyntaxError" in error_text(bad)

    async def test_prompts_render(self, store: Store, paper: Path) -> None:
        async with Client(build_server(store), sampling_callback=ModelCallback()) as client:
            run_id = await start(client, paper)
            data(await client.call_tool("make_plan", {"run_id": run_id}))
            got = await client.get_prompt("reproduce_paper", {"paper_path": "/p.pdf"})
            assert "parse_paper" in got.messages[0].content.text  # type: ignore[union-attr]
            got = await client.get_prompt("review_artifact", {"run_id": run_id, "kind": "plan"})
            assert "severity" in got.messages[0].content.text  # type: ignore[union-attr]
            got = await client.get_prompt("explain_run", {"run_id": run_id})
            assert "make_plan: done" in got.messages[0].content.text  # type: ignore[union-attr]


class TestSubscriptions:
    async def test_subscribers_hear_when_an_artifact_changes(self, store: Store, paper: Path) -> None:
        async with Client(build_server(store), sampling_callback=ModelCallback()) as client:
            run_id = await start(client, paper)
            plan_uri = f"papercoder://runs/{run_id}/plan"
            heard: list[str] = []
            async with client.listen(resource_subscriptions=[plan_uri]) as events:
                data(await client.call_tool("make_plan", {"run_id": run_id}))
                with anyio.move_on_after(2):
                    async for event in events:
                        heard.append(str(event.uri))  # type: ignore[union-attr]
                        break
            assert heard == [plan_uri]


class TestLegacyClients:
    async def test_a_2025_client_with_sampling_samples_mid_call(self, store: Store, paper: Path) -> None:
        callback = ModelCallback()
        progress: list[tuple[float, float | None, str | None]] = []

        async def on_progress(p: float, total: float | None, message: str | None) -> None:
            progress.append((p, total, message))

        async with Client(build_server(store), sampling_callback=callback, mode="legacy") as client:
            assert client.protocol_version < "2026-07-28"
            run_id = await start(client, paper)
            result = data(await client.call_tool("make_plan", {"run_id": run_id}))
            assert result["status"] == "done" and result["sampler"] == "mcp-sampling"
            assert len(callback.asked) == 1
            forced = data(
                await client.call_tool("design_architecture", {"run_id": run_id, "sampler": "sampling"})
            )
            assert forced["status"] == "done"
            whole = data(
                await client.call_tool("run_pipeline", {"run_id": run_id}, progress_callback=on_progress)
            )
            assert whole["status"] == "verified", whole["message"]
        # One progress notification per answer, strictly increasing (the spec requires it).
        values = [p for p, _, _ in progress]
        assert values and values == sorted(set(values))
        assert run_status(store, run_id).complete


class TestVerifyAndRepairThroughMcp:
    async def test_an_agent_without_a_key_verifies_and_repairs_by_handoff(
        self, store: Store, paper: Path
    ) -> None:
        async with Client(build_server(store), sampling_callback=ModelCallback()) as client:
            run_id = await start(client, paper)
            await finish(client, run_id)
            clean = data(await client.call_tool("verify_repo", {"run_id": run_id}))
            assert clean["passed"] is True
            main = store.get_artifact(run_id, "code", "main.py").content
            broken = "from trainer import no_such_thing\n" + main
            data(
                await client.call_tool(
                    "edit_artifact", {"run_id": run_id, "kind": "code", "path": "main.py", "content": broken}
                )
            )
            found = data(await client.call_tool("verify_repo", {"run_id": run_id}))
            assert found["passed"] is False
            assert [f["kind"] for f in found["findings"] if f["severity"] == "error"] == ["undefined_name"]
            assert found["next"] == [f"repair_file(run_id={run_id!r}, path='main.py')"]
            handed = data(
                await client.call_tool(
                    "repair_file", {"run_id": run_id, "path": "main.py", "sampler": "handoff"}
                )
            )
            assert handed["status"] == "handoff" and "no_such_thing" in handed["handoff"]["prompt"]
            stored = data(
                await client.call_tool(
                    "submit_artifact",
                    {"handoff_id": handed["handoff"]["handoff_id"], "content": f"```python\n{main}```"},
                )
            )
            assert stored["version"] == 3
            again = data(await client.call_tool("verify_repo", {"run_id": run_id}))
            assert again["passed"] is True
            report = data(await client.call_tool("get_run", {"run_id": run_id}))
            assert report["complete"] is True


def answer_round(requests: dict[str, object]) -> dict[str, CreateMessageResult]:
    """What a client's model would answer to every request of a round (the fake model)."""
    from fake_model import FakeModel, stage_of

    fake, out = FakeModel(), {}
    for key, request in requests.items():
        text = request.params.messages[0].content.text  # type: ignore[attr-defined]
        answer, _ = fake.answer(stage_of(text), text)
        out[key] = CreateMessageResult(
            role="assistant", content=TextContent(type="text", text=answer), model="client-model"
        )
    return out


class TestResumableRounds:
    async def test_answers_after_the_state_expired_or_a_restart_are_kept(
        self, store: Store, paper: Path
    ) -> None:
        async with Client(build_server(store), sampling_callback=ModelCallback()) as client:
            run_id = await start(client, paper)
            first = await client.session.call_tool(
                "run_pipeline", {"run_id": run_id}, allow_input_required=True
            )
            assert isinstance(first, InputRequiredResult)
            assert [RequestKey.decode(k).stage for k in first.input_requests] == ["make_plan"]
        answers = answer_round(first.input_requests)  # type: ignore[arg-type]
        # A new server (a restart: its request_state key is gone), and the client sends no state at all.
        async with Client(build_server(store), sampling_callback=ModelCallback()) as client:
            second = await client.session.call_tool(
                "run_pipeline", {"run_id": run_id}, input_responses=answers, allow_input_required=True
            )
        assert isinstance(second, InputRequiredResult)
        assert [RequestKey.decode(k).stage for k in second.input_requests] == ["design_architecture"]
        plan = store.get_artifact(run_id, "plan")
        assert plan.metadata["source"] == "mcp-sampling"
        assert [c.stage for c in store.calls(run_id)] == ["make_plan"]

    async def test_an_answer_to_a_question_whose_inputs_changed_is_not_used(
        self, store: Store, paper: Path
    ) -> None:
        async with Client(build_server(store), sampling_callback=ModelCallback()) as client:
            run_id = await start(client, paper)
            first = await client.session.call_tool(
                "run_pipeline", {"run_id": run_id}, allow_input_required=True
            )
            assert isinstance(first, InputRequiredResult)
            data(
                await client.call_tool(
                    "edit_artifact",
                    {"run_id": run_id, "kind": "paper", "content": PAPER_MD + "\n## 3 More\n\nNew.\n"},
                )
            )
            again = await client.session.call_tool(
                "run_pipeline",
                {"run_id": run_id},
                input_responses=answer_round(first.input_requests),  # type: ignore[arg-type]
                allow_input_required=True,
            )
        assert isinstance(again, InputRequiredResult)
        assert [RequestKey.decode(k).stage for k in again.input_requests] == ["make_plan"]
        assert set(again.input_requests) != set(first.input_requests)
        assert store.find_artifact(run_id, "plan") is None


class TestClassicSamplingTime:
    async def test_a_slow_client_gets_a_partial_result_and_the_next_call_continues(
        self, tmp_path: Path, paper: Path
    ) -> None:
        store = Store(tmp_path / "slow.db")

        class Slow(ModelCallback):
            async def __call__(self, context, params):  # type: ignore[no-untyped-def]
                await anyio.sleep(0.05)
                return await super().__call__(context, params)

        async with Client(
            build_server(store, call_seconds=0.2), sampling_callback=Slow(), mode="legacy"
        ) as client:
            run_id = await start(client, paper)
            first = data(await client.call_tool("run_pipeline", {"run_id": run_id}))
            assert first["status"] == "partial" and "call run_pipeline again" in first["message"]
            assert 0 < first["done"] < first["total"]
            statuses = [first["status"]]
            for _ in range(40):
                statuses.append(data(await client.call_tool("run_pipeline", {"run_id": run_id}))["status"])
                if statuses[-1] == "verified":
                    break
        assert statuses[-1] == "verified" and set(statuses[:-1]) == {"partial"}


class TestIds:
    def test_a_path_with_a_bar_survives_handoff_ids_and_request_keys(self) -> None:
        from papercoder_mcp.ids import HandoffId

        hid = HandoffId(run_id="run-1", stage="generate_file", key="odd|name.py", digest="0" * 16)
        assert HandoffId.decode(hid.encode()) == hid
        rkey = RequestKey(stage="analyze_file", key="a|b|c.py", digest="f" * 16)
        assert RequestKey.decode(rkey.encode()) == rkey
        with pytest.raises(PaperCoderError, match="not a handoff id"):
            HandoffId.decode(rkey.encode())


class TestLegacySubscriptions:
    @pytest.mark.filterwarnings("ignore:resources/subscribe is removed")
    async def test_an_older_client_can_subscribe_and_hears_changes(self, store: Store, paper: Path) -> None:
        heard: list[str] = []

        async def on_message(message: object) -> None:
            params = getattr(getattr(message, "root", message), "params", None)
            uri = getattr(params, "uri", None)
            if uri is not None:
                heard.append(str(uri))

        async with Client(
            build_server(store), sampling_callback=ModelCallback(), mode="legacy", message_handler=on_message
        ) as client:
            assert client.protocol_version < "2026-07-28"
            caps = client.server_capabilities
            assert caps is not None and caps.resources is not None and caps.resources.subscribe is True
            run_id = await start(client, paper)
            plan_uri = f"papercoder://runs/{run_id}/plan"
            await client.subscribe_resource(plan_uri)
            data(await client.call_tool("make_plan", {"run_id": run_id}))
            with anyio.move_on_after(2):
                while plan_uri not in heard:
                    await anyio.sleep(0.02)
        assert plan_uri in heard


class TestRefineEverywhere:
    async def test_an_agent_drives_refinement_by_handoff(self, store: Store, paper: Path) -> None:
        from fake_model import FakeModel, stage_of

        fake = FakeModel()
        async with Client(build_server(store)) as client:
            run_id = await start(client, paper)
            stages: list[str] = []
            for _ in range(40):
                step = data(await client.call_tool("run_pipeline", {"run_id": run_id, "refine": True}))
                if step["status"] == "verified":
                    break
                assert step["status"] == "handoff", step
                for h in step["handoffs"]:
                    stages.append(h["stage"])
                    if h["stage"] == "improve":
                        assert h["conversation"] and h["conversation"][-1]["role"] == "user"
                    answer, _ = fake.answer(stage_of(h["prompt"]), h["prompt"])
                    data(
                        await client.call_tool(
                            "submit_artifact", {"handoff_id": h["handoff_id"], "content": answer}
                        )
                    )
            assert step["status"] == "verified", step
        assert {"critique", "improve"} <= set(stages)
        assert store.get_artifact(run_id, "plan").metadata.get("refined") is True
        assert run_status(store, run_id).complete
