"""Evaluating a run: the judge's samples and the rubric's batches, through the store, MCP and the CLI."""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client import ClientRequestContext
from mcp.types import CallToolResult, CreateMessageRequestParams, CreateMessageResult, TextContent
from test_rubric import leaf, node
from typer.testing import CliRunner

from papercoder_mcp.cli import app as cli_app
from papercoder_mcp.errors import StageError
from papercoder_mcp.evaluation import (
    JUDGE_STAGE,
    RUBRIC_STAGE,
    JudgeResult,
    RubricResult,
    grade_run,
    judge_run,
)
from papercoder_mcp.evaluation.repo_context import RepoFile, key_terms, relevance, select_files
from papercoder_mcp.pipeline.orchestrator import run_pipeline
from papercoder_mcp.samplers.base import Completion, SampleRequest, Usage
from papercoder_mcp.server.build import build_server
from papercoder_mcp.stages import StageContext
from papercoder_mcp.store import Store

from fake_model import FakeSampler
from pipeline_helpers import new_run

pytestmark = pytest.mark.anyio

Reply = str | Callable[[SampleRequest], str]


def judgement(score: int, *critiques: tuple[str, str]) -> str:
    return json.dumps(
        {
            "components": [{"name": "core layer", "implemented": "yes", "files": ["model.py"], "note": "ok"}],
            "critiques": [
                {"severity": sev, "component": "core layer", "location": "model.py:3", "text": text}
                for sev, text in critiques
            ],
            "score": score,
            "summary": f"scored {score}",
        }
    )


def grades_for(prompt: str, scores: dict[str, int]) -> str:
    ids = re.findall(r"^- id: `([^`]+)`", prompt, re.MULTILINE)
    return json.dumps(
        {
            "grades": [
                {"id": i, "score": scores.get(i, 0), "justification": f"see model.py:{n + 1}"}
                for n, i in enumerate(ids)
            ]
        }
    )


@dataclass
class ScriptedJudge:
    """A Sampler with a queue of replies (text, or a function of the request) and a call history."""

    replies: list[Reply] = field(default_factory=list)
    name: str = "scripted"
    model: str = "judge-model"
    history: list[SampleRequest] = field(default_factory=list)

    async def sample(self, request: SampleRequest) -> Completion:
        self.history.append(request)
        reply = self.replies.pop(0)
        text = reply(request) if callable(reply) else reply
        return Completion(
            text=text,
            usage=Usage(
                input_tokens=len(request.user_text()) // 4, output_tokens=len(text) // 4, cache_read_tokens=7
            ),
            model=self.model,
            sampler=self.name,
            cost_usd=0.01,
        )


def finished_run(tmp_path: Path) -> StageContext:
    """A complete run made by the fake model: plan, config and six code files."""
    fake = FakeSampler()
    ctx = new_run(tmp_path, fake)
    anyio.run(run_pipeline, ctx.store, ctx.run_id, fake)
    return StageContext(store=ctx.store, run_id=ctx.run_id)


@pytest.fixture
def done(tmp_path: Path) -> StageContext:
    return finished_run(tmp_path)


def rubric_tree() -> dict[str, Any]:
    # Graded leaves (Code Development): m1, m2 under "model" (w3), t1 under "train" (w1); r1 is Result Analysis.
    return node(
        "root",
        1,
        node("model", 3, leaf("m1"), leaf("m2")),
        node("train", 1, leaf("t1"), leaf("t2", 1, "Code Execution")),
        node("results", 2, leaf("r1", 1, "Result Analysis")),
    )


class TestRepositoryInPrompt:
    async def test_empty_repository_is_refused(self, tmp_path: Path) -> None:
        ctx = new_run(tmp_path, ScriptedJudge())
        with pytest.raises(
            StageError, match=f"run {ctx.run_id} has no generated code to evaluate; run the pipeline first"
        ):
            await judge_run(ctx, samples=2)
        with pytest.raises(StageError, match="no generated code to evaluate"):
            await grade_run(ctx, rubric_tree())
        assert ctx.store.list_artifacts(ctx.run_id, "evaluation") == []

    async def test_prefix_is_paper_then_numbered_repository_and_shared(self, done: StageContext) -> None:
        sampler = ScriptedJudge([judgement(4), judgement(4), lambda r: grades_for(r.prompt, {})])
        done.sampler = sampler
        await judge_run(done, samples=2)
        await grade_run(done, rubric_tree(), batch_size=10)
        first, second, rubric = sampler.history
        assert "Tiny Attention" in first.prefix[0] and len(first.prefix) == 2
        repo = first.prefix[1]
        assert "# The repository under evaluation" in repo
        assert "### `model.py`" in repo and "  1 | " in repo and "### `config.yaml`" in repo
        # One cached prefix for every sample and every rubric batch; the prompts differ only at the tail.
        assert first.prefix == second.prefix == rubric.prefix
        assert first.prompt == second.prompt and "# Stage: judge the repository" in first.prompt
        assert (
            "- id: `m1`" in rubric.prompt and "context: requirement root > requirement model" in rubric.prompt
        )
        assert "`r1`" not in rubric.prompt and "`t2`" not in rubric.prompt

    def test_selection_keeps_relevant_files_and_reports_the_rest(self, done: StageContext) -> None:
        weights = key_terms(done)  # from the plan: "core layer", softmax, ...
        files = [
            RepoFile(path="config.yaml", text="train:\n  lr: 1e-4\n"),
            RepoFile(
                path="core_layer.py", text="def core_layer(q, k, v):\n    return softmax(q @ k.T) @ v\n"
            ),
            RepoFile(path="plotting.py", text="import matplotlib\n" + "x = 1\n" * 400),
            RepoFile(path="notes.py", text="pass\n"),
        ]
        assert relevance(files[1], weights) > relevance(files[2], weights)
        budget = files[0].tokens + files[1].tokens + files[3].tokens + 5
        chosen = select_files(files, weights, budget)
        assert chosen.paths == ["config.yaml", "core_layer.py", "notes.py"]
        assert chosen.left_out == ["plotting.py"]

    async def test_left_out_files_are_named_in_the_prompt_and_the_result(self, done: StageContext) -> None:
        done.store.put_artifact(done.run_id, "code", "import matplotlib\n" + "y = 2\n" * 3000, key="plots.py")
        sampler = ScriptedJudge([judgement(3)])
        done.sampler = sampler
        result = await judge_run(done, samples=1, budget_tokens=6_000)
        assert result.files_left_out == ["plots.py"]
        assert "main.py" in result.files_included and result.budget_tokens == 6_000
        assert "Left out to fit the token budget" in sampler.history[0].prefix[1]
        assert "`plots.py`" in sampler.history[0].prefix[1]


class TestJudge:
    async def test_mean_and_spread_of_the_samples(self, done: StageContext) -> None:
        sampler = ScriptedJudge(
            [
                judgement(3, ("high", "the attention is not scaled")),
                judgement(4, ("medium", "lr differs")),
                judgement(5),
                judgement(4, ("low", "naming"), ("medium", "no warmup")),
            ]
        )
        done.sampler = sampler
        result = await judge_run(done, samples=4)
        assert sorted(result.scores) == [3, 4, 4, 5] and result.n == 4
        assert result.mean == 4.0
        # stdev is the sample standard deviation (n - 1): sqrt(((3-4)^2 + 0 + (5-4)^2 + 0) / 3)
        assert result.stdev == pytest.approx((2 / 3) ** 0.5) == pytest.approx(statistics.stdev([3, 4, 5, 4]))
        assert (result.min, result.max) == (3, 5)
        assert [c.text for c in result.critiques["high"]] == ["the attention is not scaled"]
        assert sorted(c.text for c in result.critiques["medium"]) == ["lr differs", "no warmup"]
        assert result.critique_counts == {"high": 0.25, "medium": 0.5, "low": 0.25}
        assert result.components == ["core layer"] and result.mode == "reference-free"
        assert result.cost_usd == pytest.approx(0.04)

    async def test_scores_and_critiques_round_trip_through_the_store(self, done: StageContext) -> None:
        done.sampler = ScriptedJudge([judgement(2, ("high", "missing loss")), judgement(5)])
        result = await judge_run(done, samples=2)
        stored = done.store.get_artifact(done.run_id, "evaluation", "judge")
        assert stored.format == "json" and stored.metadata["mean"] == 3.5
        assert JudgeResult.model_validate_json(stored.content) == result
        samples = {a.key: json.loads(a.content) for a in done.store.list_artifacts(done.run_id, "evaluation")}
        assert {k for k in samples if k.startswith("judge:")} == {"judge:ref-free:0", "judge:ref-free:1"}
        assert sorted(samples[k]["score"] for k in ("judge:ref-free:0", "judge:ref-free:1")) == [2, 5]
        assert [s.score for s in result.samples] == [samples[s.key]["score"] for s in result.samples]
        calls = done.store.calls(done.run_id, "evaluate_judge")
        assert len(calls) == 2 and all(c.input_tokens > 0 and c.cache_read_tokens == 7 for c in calls)
        assert {c.key for c in calls} == {"judge:ref-free:0", "judge:ref-free:1"}

    async def test_stored_samples_are_reused(self, done: StageContext) -> None:
        sampler = ScriptedJudge([judgement(4), judgement(4)])
        done.sampler = sampler
        await judge_run(done, samples=2)
        again = await judge_run(done, samples=2)
        assert len(sampler.history) == 2 and again.mean == 4.0
        assert len(done.store.history(done.run_id, "evaluation", "judge")) == 1

    async def test_an_invalid_sample_is_reasked_not_dropped(self, done: StageContext) -> None:
        sampler = ScriptedJudge([judgement(7), "no json here", judgement(2), judgement(4)])
        done.sampler = sampler
        result = await judge_run(done, samples=2)
        assert sorted(result.scores) == [2, 4] and result.mean == 3.0
        reask = sampler.history[1]
        assert reask.followups and "score" in reask.followups[-1].text
        errors = [c.error for c in done.store.calls(done.run_id, "evaluate_judge") if c.error]
        assert len(errors) == 2 and all(e.startswith("invalid answer") for e in errors)

    async def test_a_sample_that_never_validates_fails_the_evaluation(self, done: StageContext) -> None:
        done.sampler = ScriptedJudge([judgement(0)] * 3)
        with pytest.raises(StageError, match="did not validate after 2 re-asks"):
            await judge_run(done, samples=2)
        assert done.store.find_artifact(done.run_id, "evaluation", "judge") is None

    async def test_reference_based(self, done: StageContext, tmp_path: Path) -> None:
        ref = tmp_path / "reference"
        (ref / "src").mkdir(parents=True)
        (ref / "src" / "attention.py").write_text("def attention(q, k, v):\n    return q\n")
        (ref / "weights.bin").write_bytes(b"\0\1\2")
        sampler = ScriptedJudge([judgement(5)])
        done.sampler = sampler
        result = await judge_run(done, samples=1, reference_dir=ref)
        assert result.mode == "reference-based" and result.reference == str(ref)
        request = sampler.history[0]
        assert len(request.prefix) == 3 and "### `src/attention.py`" in request.prefix[2]
        assert "weights.bin" not in request.prefix[2] and "reference implementation" in request.prompt
        assert result.samples[0].key.startswith("judge:ref-") and "ref-free" not in result.samples[0].key
        with pytest.raises(StageError, match="not a directory"):
            await judge_run(done, samples=1, reference_dir=tmp_path / "missing")


class TestRubricGrading:
    async def test_replication_score_by_hand(self, done: StageContext) -> None:
        scores = {"m1": 1, "m2": 0, "t1": 1}
        sampler = ScriptedJudge([lambda r: grades_for(r.prompt, scores)] * 2)
        done.sampler = sampler
        result = await grade_run(done, rubric_tree(), batch_size=2)
        # model = 0.5 (w3), train = t1 = 1 (w1; t2 is Code Execution), results has nothing graded.
        assert result.score_percent == pytest.approx(100 * (3 * 0.5 + 1) / 4)  # 62.5
        top = {n.id: n for n in result.top_level}
        assert top["model"].score_percent == 50.0 and top["train"].score_percent == 100.0
        assert top["results"].score_percent is None and top["results"].graded_leaves == 0
        assert result.excluded_leaves == 2 and result.categories == ["Code Development"]
        assert len(result.batches) == 2 and result.batches[0].endswith(":batch1")
        assert {g.id: g.score for g in result.leaves} == scores
        assert all("model.py:" in g.justification for g in result.leaves)
        stored = done.store.get_artifact(done.run_id, "evaluation", "rubric")
        assert RubricResult.model_validate_json(stored.content) == result
        assert len(done.store.calls(done.run_id, "evaluate_rubric")) == 2

    async def test_other_categories(self, done: StageContext) -> None:
        scores = {"m1": 1, "m2": 1, "t1": 1, "t2": 0, "r1": 0}
        done.sampler = ScriptedJudge([lambda r: grades_for(r.prompt, scores)])
        result = await grade_run(
            done, rubric_tree(), categories=["Code Development", "Code Execution", "Result Analysis"]
        )
        assert result.score_percent == pytest.approx(100 * (3 * 1 + 1 * 0.5 + 2 * 0) / 6)
        assert result.excluded_leaves == 0

    async def test_a_batch_missing_a_grade_is_reasked(self, done: StageContext) -> None:
        partial = json.dumps({"grades": [{"id": "m1", "score": 1, "justification": "model.py:1"}]})
        sampler = ScriptedJudge([partial, lambda r: grades_for(r.prompt, {"m1": 1})])
        done.sampler = sampler
        result = await grade_run(done, rubric_tree())
        assert "grades missing for: m2, t1" in sampler.history[1].followups[-1].text
        assert result.score_percent == pytest.approx(100 * (3 * 0.5 + 0) / 4)

    async def test_a_rubric_without_chosen_leaves_is_refused(self, done: StageContext) -> None:
        done.sampler = ScriptedJudge()
        with pytest.raises(StageError, match="no leaves of the categories Code Development"):
            await grade_run(done, node("root", 1, leaf("r", 1, "Result Analysis")))
        with pytest.raises(StageError, match="the rubric is malformed"):
            await grade_run(done, node("root", 1, leaf("r", -2)))


# -- MCP ---------------------------------------------------------------------------------


def data(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text if result.content else result  # type: ignore[union-attr]
    assert result.structured_content is not None
    return result.structured_content


def answer_for(prompt: str, judge_scores: list[int]) -> str:
    if "# Stage: judge the repository" in prompt:
        return judgement(judge_scores.pop(0), ("medium", "lr"))
    return grades_for(prompt, {"m1": 1, "m2": 1, "t1": 0})


class JudgeCallback:
    def __init__(self, scores: list[int], bad_first: bool = False) -> None:
        self.scores = scores
        self.bad_first = bad_first
        self.asked: list[CreateMessageRequestParams] = []

    async def __call__(self, context: ClientRequestContext, params: CreateMessageRequestParams) -> Any:
        self.asked.append(params)
        first = params.messages[0].content
        text = first.text if isinstance(first, TextContent) else ""
        if self.bad_first:
            self.bad_first = False
            answer = "I think it is fine."
        else:
            answer = answer_for(text, self.scores)
        return CreateMessageResult(
            role="assistant",
            content=TextContent(type="text", text=answer),
            model="client-model",
            stop_reason="endTurn",
        )


class TestMcpTool:
    async def test_judge_and_rubric_through_the_clients_model(
        self, done: StageContext, tmp_path: Path
    ) -> None:
        from papercoder_mcp.resources.evaluation import register

        rubric = tmp_path / "rubric.json"
        rubric.write_text(json.dumps(rubric_tree()))
        server = build_server(done.store)
        register(server, done.store)
        callback = JudgeCallback([3, 5, 4], bad_first=True)
        async with Client(server, sampling_callback=callback) as client:
            judged = data(await client.call_tool("evaluate_repo", {"run_id": done.run_id, "samples": 2}))
            assert judged["status"] == "done" and judged["sampler"] == "mcp-sampling"
            # The first answer was prose: re-asked (score 3 went to the re-ask or the other sample), not dropped.
            assert judged["judge"]["n"] == 2 and len(callback.asked) == 3
            assert judged["resource"] == f"papercoder://runs/{done.run_id}/evaluation/judge"
            read = await client.read_resource(judged["resource"])
            assert json.loads(read.contents[0].text)["mean"] == judged["judge"]["mean"]  # type: ignore[union-attr]
            graded = data(
                await client.call_tool(
                    "evaluate_repo",
                    {"run_id": done.run_id, "mode": "rubric", "rubric_path": str(rubric), "batch_size": 2},
                )
            )
            assert graded["rubric"]["score_percent"] == pytest.approx(75.0)
            sample = await client.read_resource(
                f"papercoder://runs/{done.run_id}/evaluation/judge:ref-free:1"
            )
            assert "score" in json.loads(sample.contents[0].text)  # type: ignore[union-attr]
        assert {c.sampler for c in done.store.calls(done.run_id, "evaluate_judge")} == {"mcp-sampling"}

    async def test_handoff_to_the_agent(self, done: StageContext) -> None:
        async with Client(build_server(done.store)) as client:
            first = data(await client.call_tool("evaluate_repo", {"run_id": done.run_id, "samples": 2}))
            assert first["status"] == "handoff" and len(first["handoffs"]) == 2
            h = first["handoffs"][0]
            assert h["stage"] == "evaluate_judge" and h["key"] == "judge:ref-free:0"
            assert f"papercoder://runs/{done.run_id}/numbered/model.py" in h["context_resources"]
            bad = await client.call_tool(
                "submit_artifact", {"handoff_id": h["handoff_id"], "content": judgement(9)}
            )
            assert bad.is_error and "score" in bad.content[0].text  # type: ignore[union-attr]
            for h, score in zip(first["handoffs"], [2, 3], strict=True):
                stored = data(
                    await client.call_tool(
                        "submit_artifact", {"handoff_id": h["handoff_id"], "content": judgement(score)}
                    )
                )
                assert stored["status"] == "done" and stored["sampler"] == "agent"
            final = data(await client.call_tool("evaluate_repo", {"run_id": done.run_id, "samples": 2}))
            assert final["status"] == "done" and final["judge"]["mean"] == 2.5

    async def test_rubric_mode_needs_a_rubric_and_an_empty_run_is_refused(self, tmp_path: Path) -> None:
        ctx = new_run(tmp_path)
        async with Client(build_server(ctx.store)) as client:
            missing = await client.call_tool("evaluate_repo", {"run_id": ctx.run_id, "mode": "rubric"})
            assert missing.is_error and "rubric_path" in missing.content[0].text  # type: ignore[union-attr]
            empty = await client.call_tool("evaluate_repo", {"run_id": ctx.run_id})
            assert empty.is_error and "no generated code to evaluate" in empty.content[0].text  # type: ignore[union-attr]


# -- CLI ---------------------------------------------------------------------------------


class TestCli:
    def test_without_a_key_it_says_what_to_do(self, done: StageContext) -> None:
        result = CliRunner().invoke(cli_app, ["--db", str(done.store.path), "eval", done.run_id])
        assert result.exit_code == 1
        assert "ANTHROPIC_API_KEY is not set" in result.output and "evaluate_repo" in result.output

    def test_a_malformed_rubric_is_refused_before_the_key_is_needed(
        self, done: StageContext, tmp_path: Path
    ) -> None:
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(node("root", 1, leaf("x", -1))))
        args = ["--db", str(done.store.path), "eval", done.run_id, "--mode", "rubric"]
        result = CliRunner().invoke(cli_app, [*args, "--rubric", str(bad)])
        assert result.exit_code == 1 and "the rubric is malformed" in result.output and "'x'" in result.output
        result = CliRunner().invoke(cli_app, args)
        assert result.exit_code == 1 and "needs --rubric FILE" in result.output


def test_eval_stages_are_found_by_name_for_later_answers() -> None:
    import papercoder_mcp.tools.evaluate_repo  # noqa: F401  (registers the stages)
    from papercoder_mcp.server.client_sampling import find_stage

    assert find_stage("evaluate_judge") is JUDGE_STAGE and find_stage("evaluate_rubric") is RUBRIC_STAGE
    assert find_stage("make_plan") is not None and find_stage("nope") is None
    assert isinstance(Store, type)
