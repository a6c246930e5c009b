"""What every client reads first: a `tools/list` small enough for an agent's context whose output
schemas still describe the results truthfully, described prompt arguments, and prompts that lead
through verification and point at the resources they need."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from mcp import Client
from mcp.types import CallToolResult

from papercoder_mcp.server.build import build_server
from papercoder_mcp.store import Store

from fake_model import FakeModel
from mcp_helpers import PAPER_MD

pytestmark = pytest.mark.anyio

# About 6,000 tokens: what tools/list costs every agent's context once (it was ~71 KB).
MAX_TOOLS_LIST_BYTES = 25_000


@pytest.fixture
def paper(tmp_path: Path) -> Path:
    p = tmp_path / "paper.md"
    p.write_text(PAPER_MD)
    return p


def structured(result: CallToolResult) -> dict:  # type: ignore[type-arg]
    assert not result.is_error, result.content[0].text if result.content else result  # type: ignore[union-attr]
    assert result.structured_content is not None
    return result.structured_content


class TestToolsList:
    async def test_tools_list_is_under_25_kb_on_the_wire(self, tmp_path: Path) -> None:
        async with Client(build_server(Store(tmp_path / "s.db"))) as client:
            listed = await client.list_tools()
        wire = listed.model_dump_json(by_alias=True, exclude_none=True)
        assert len(wire.encode()) < MAX_TOOLS_LIST_BYTES, len(wire.encode())
        assert len(listed.tools) >= 16
        for tool in listed.tools:
            assert tool.description and not tool.description.startswith(" "), tool.name
            assert "$defs" not in json.dumps(tool.output_schema or {}), tool.name

    async def test_structured_results_validate_against_the_published_schemas(
        self, tmp_path: Path, paper: Path
    ) -> None:
        fake = FakeModel()
        async with Client(build_server(Store(tmp_path / "s.db"))) as client:
            schemas = {t.name: t.output_schema for t in (await client.list_tools()).tools}
            seen: dict[str, dict] = {}  # type: ignore[type-arg]

            async def call(name: str, args: dict) -> dict:  # type: ignore[type-arg]
                out = structured(await client.call_tool(name, args))
                schema = schemas[name]
                assert schema is not None, name
                jsonschema.validate(out, schema)
                seen[name] = out
                return out

            run_id = (await call("parse_paper", {"path": str(paper)}))["run_id"]
            handed = await call("make_plan", {"run_id": run_id})
            assert handed["status"] == "handoff" and handed["handoff"]["handoff_id"]
            answer, _ = fake.answer("make_plan", handed["handoff"]["prompt"])
            await call("submit_artifact", {"handoff_id": handed["handoff"]["handoff_id"], "content": answer})
            await call("get_run", {"run_id": run_id})
            await call("list_runs", {})
            await call("run_pipeline", {"run_id": run_id})
            await call("edit_artifact", {"run_id": run_id, "kind": "plan", "content": answer})
        assert set(seen) == {
            "parse_paper",
            "make_plan",
            "submit_artifact",
            "get_run",
            "list_runs",
            "run_pipeline",
            "edit_artifact",
        }


class TestPrompts:
    async def test_every_prompt_argument_is_described(self, tmp_path: Path) -> None:
        async with Client(build_server(Store(tmp_path / "s.db"))) as client:
            listed = await client.list_prompts()
        args = [(p.name, a) for p in listed.prompts for a in (p.arguments or [])]
        assert args
        for name, arg in args:
            assert arg.description, f"{name}({arg.name}) has no description"

    async def test_reproduce_paper_verifies_and_repairs_before_export(self, tmp_path: Path) -> None:
        async with Client(build_server(Store(tmp_path / "s.db"))) as client:
            got = await client.get_prompt("reproduce_paper", {"paper_path": "/p.pdf"})
        text = got.messages[0].content.text  # type: ignore[union-attr]
        verify = text.index("`verify_repo`")
        repair = text.index("`repair_file`", verify)
        assert verify < repair < text.index("`export_repo`")

    async def test_a_handoff_points_at_its_resources_instead_of_text_above(
        self, tmp_path: Path, paper: Path
    ) -> None:
        async with Client(build_server(Store(tmp_path / "s.db"))) as client:
            run_id = structured(await client.call_tool("parse_paper", {"path": str(paper)}))["run_id"]
            listed = structured(await client.call_tool("make_plan", {"run_id": run_id}))["handoff"]
            inlined = structured(
                await client.call_tool("make_plan", {"run_id": run_id, "include_context": True})
            )["handoff"]
        assert listed["context"] == "" and listed["context_resources"] == [
            f"papercoder://runs/{run_id}/paper"
        ]
        assert listed["prompt"].startswith('The shared context this prompt refers to as "above"')
        assert "context_resources" in listed["prompt"].split("\n\n")[0]
        assert inlined["context"] and "context_resources" not in inlined["prompt"]
