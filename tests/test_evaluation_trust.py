"""Evaluation that can be trusted: evidence checked against the files, provenance and a plain name on
every stored result, no spread from one sample, and handed-off grading that honours force, says where
the code is (with line numbers), sends the shared context once and points to the right next call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client
from mcp.types import CallToolResult
from test_evaluation import ScriptedJudge, finished_run, grades_for, judgement, rubric_tree

from papercoder_mcp.errors import StageError
from papercoder_mcp.evaluation import grade_run, judge_run
from papercoder_mcp.evaluation.evidence import bad_citations
from papercoder_mcp.server.build import build_server
from papercoder_mcp.stages import StageContext

pytestmark = pytest.mark.anyio


@pytest.fixture
def done(tmp_path: Path) -> StageContext:
    return finished_run(tmp_path)


def data(result: CallToolResult) -> dict:  # type: ignore[type-arg]
    assert not result.is_error, result.content[0].text  # type: ignore[union-attr]
    assert result.structured_content is not None
    return result.structured_content


def fake_citations(prompt: str) -> str:
    answer = json.loads(grades_for(prompt, {"m1": 1, "m2": 1, "t1": 1}))
    for g in answer["grades"]:
        g["justification"] = "implemented at nonexistent.py:99999"
    return json.dumps(answer)


class TestEvidence:
    def test_citations_are_checked_against_files_and_lines(self) -> None:
        lines = {"model.py": 20, "config.yaml": 5}
        assert bad_citations("see model.py:3 and `model.py:10-20`, config.yaml:5", lines) == []
        assert bad_citations("no code does this; lr is 1.5:1 of http://host:80", lines) == []
        assert bad_citations("torch.nn:1 as in paper.pdf:3; see ./model.py:4", lines) == []
        assert bad_citations("src/train.py:1", lines) == [
            "src/train.py:1 cites a file the repository does not have"
        ]
        assert bad_citations("at nonexistent.py:99999", lines) == [
            "nonexistent.py:99999 cites a file the repository does not have"
        ]
        assert bad_citations("model.py:21 and model.py:15-30", lines) == [
            "model.py:21 cites lines model.py does not have (it has 20)",
            "model.py:15-30 cites lines model.py does not have (it has 20)",
        ]

    async def test_a_grader_citing_missing_code_is_re_asked_then_refused(self, done: StageContext) -> None:
        judge = ScriptedJudge([lambda r: fake_citations(r.prompt)] * 3)
        done.sampler = judge
        with pytest.raises(
            StageError,
            match="did not validate.*m1: nonexistent.py:99999 cites a file the repository does not have",
        ):
            await grade_run(done, rubric_tree(), batch_size=10)
        assert len(judge.history) == 3  # asked, then re-asked twice with the problem named
        assert "nonexistent.py:99999 cites a file" in judge.history[1].followups[-1].text
        good = ScriptedJudge([lambda r: grades_for(r.prompt, {"m1": 1, "m2": 1, "t1": 1})])
        done.sampler = good
        result = await grade_run(done, rubric_tree(), batch_size=10)
        assert result.score_percent == 100.0

    async def test_a_handed_off_answer_citing_missing_code_is_refused(self, done: StageContext) -> None:
        async with Client(build_server(done.store)) as client:
            first = data(await client.call_tool("evaluate_repo", {"run_id": done.run_id, "samples": 1}))
            h = first["handoffs"][0]
            bad = json.loads(judgement(5, ("low", "x")))
            bad["critiques"][0]["location"] = "nonexistent.py:99999"
            refused = await client.call_tool(
                "submit_artifact", {"handoff_id": h["handoff_id"], "content": json.dumps(bad)}
            )
            assert refused.is_error
            assert "nonexistent.py:99999 cites a file" in refused.content[0].text  # type: ignore[union-attr]
            assert done.store.find_artifact(done.run_id, "evaluation", h["key"]) is None


class TestWhatIsStored:
    async def test_provenance_and_name_and_no_spread_for_one_sample(self, done: StageContext) -> None:
        done.sampler = ScriptedJudge([judgement(4)])
        one = await judge_run(done, samples=1)
        assert one.stdev is None and one.n == 1
        assert one.samplers == ["scripted"] and one.models == ["judge-model"]
        assert one.measure.startswith("Paper2Code-style") and "not executed" in one.measure
        done.sampler = ScriptedJudge([lambda r: grades_for(r.prompt, {"m1": 1})])
        graded = await grade_run(done, rubric_tree(), batch_size=10)
        assert graded.measure == "Code-Dev coverage (read, not executed)"
        assert graded.categories == ["Code Development"] and graded.graded_leaves == 3
        stored = done.store.get_artifact(done.run_id, "evaluation", "rubric")
        assert stored.metadata["measure"] == graded.measure and stored.metadata["models"] == ["judge-model"]
        assert stored.metadata["categories"] == ["Code Development"]
        assert "replication" not in stored.content


class TestHandedOff:
    async def test_force_next_line_numbers_and_context_once(self, done: StageContext) -> None:
        args = {"run_id": done.run_id, "samples": 2}
        async with Client(build_server(done.store)) as client:
            first = data(await client.call_tool("evaluate_repo", args))
            h = first["handoffs"][0]
            assert h["prompt"].startswith('The paper and the repository this prompt refers to as "above"')
            numbered = [u for u in h["context_resources"] if "/numbered/" in u]
            read = await client.read_resource(numbered[0])
            assert " 1 | " in read.contents[0].text  # type: ignore[union-attr]
            for h, score in zip(first["handoffs"], [3, 5], strict=True):
                stored = data(
                    await client.call_tool(
                        "submit_artifact", {"handoff_id": h["handoff_id"], "content": judgement(score)}
                    )
                )
                assert not any("export_repo" in n for n in stored["next"])
                assert any(n.startswith("evaluate_repo(") for n in stored["next"])
            assert data(await client.call_tool("evaluate_repo", args))["status"] == "done"
            # force: every sample is handed out again, once, however fresh the stored ones are.
            forced = data(await client.call_tool("evaluate_repo", {**args, "force": True}))
            assert forced["status"] == "handoff" and len(forced["handoffs"]) == 2
            for h in forced["handoffs"]:
                await client.call_tool(
                    "submit_artifact", {"handoff_id": h["handoff_id"], "content": judgement(4)}
                )
            final = data(await client.call_tool("evaluate_repo", {**args, "force": True}))
            assert final["status"] == "done" and final["judge"]["mean"] == 4.0
            once = data(
                await client.call_tool("evaluate_repo", {**args, "samples": 3, "include_context": True})
            )
        assert len(once["handoffs"]) == 1 and "### `model.py`" in once["context"]
        assert all(h["context"] == "" for h in once["handoffs"])
        assert "`context` field of the evaluate_repo result" in once["handoffs"][0]["prompt"]
