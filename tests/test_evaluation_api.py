"""`papercoder-mcp eval` end to end through the real SDK against the fake Messages API."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import anyio
from typer.testing import CliRunner

from papercoder_mcp.cli import app
from papercoder_mcp.pipeline.orchestrator import run_pipeline
from papercoder_mcp.store import Store

from fake_anthropic import FakeAnthropic, request_text
from fake_model import FakeSampler
from pipeline_helpers import new_run

JUDGE = {
    "components": [{"name": "tiny attention", "implemented": "partial", "files": ["model.py"], "note": "ok"}],
    "critiques": [
        {"severity": "medium", "component": "tiny attention", "location": "model.py:3", "text": "no softmax"}
    ],
    "score": 4,
    "summary": "Mostly there.",
}


def judge_or_grade(body: dict[str, Any]) -> Any:
    text = request_text(body)
    if "# Stage: judge the repository" in text:
        return JUDGE
    ids = re.findall(r"^- id: `([^`]+)`", text.split("# Stage: grade the repository", 1)[1], re.MULTILINE)
    return {"grades": [{"id": i, "score": 1 if i == "a" else 0, "justification": "model.py:1"} for i in ids]}


def finished_store(tmp_path: Path) -> tuple[Path, str]:
    sampler = FakeSampler()
    ctx = new_run(tmp_path, sampler)
    anyio.run(run_pipeline, ctx.store, ctx.run_id, sampler)
    return ctx.store.path, ctx.run_id


def test_judge_and_rubric_through_the_api(tmp_path: Path) -> None:
    db, run_id = finished_store(tmp_path)
    rubric = tmp_path / "rubric.json"
    leaf = {"requirements": "r", "weight": 1, "sub_tasks": [], "task_category": "Code Development"}
    rubric.write_text(
        json.dumps(
            {
                "id": "root",
                "requirements": "all",
                "weight": 1,
                "sub_tasks": [{**leaf, "id": "a", "weight": 3}, {**leaf, "id": "b"}],
            }
        )
    )
    with FakeAnthropic(judge_or_grade) as fake:
        env = {"ANTHROPIC_API_KEY": "test", "ANTHROPIC_BASE_URL": fake.base_url, "COLUMNS": "200"}
        runner = CliRunner()
        judged = runner.invoke(app, ["--db", str(db), "eval", run_id, "--samples", "3", "--json"], env=env)
        assert judged.exit_code == 0, judged.output
        graded = runner.invoke(
            app,
            ["--db", str(db), "eval", run_id, "--mode", "rubric", "--rubric", str(rubric), "--json"],
            env=env,
        )
        assert graded.exit_code == 0, graded.output
    judge = json.loads(judged.stdout[judged.stdout.index("{") :])
    assert judge["scores"] == [4, 4, 4] and judge["mean"] == 4.0 and judge["stdev"] == 0.0
    rubric_result = json.loads(graded.stdout[graded.stdout.index("{") :])
    assert rubric_result["score_percent"] == 75.0
    with Store(db) as store:
        stages = {c.stage for c in store.calls(run_id)}
        assert {"evaluate_judge", "evaluate_rubric"} <= stages
        assert json.loads(store.get_artifact(run_id, "evaluation", "judge").content)["mean"] == 4.0
        # Judge samples share the cached prefix: later samples read it.
        judge_calls = [c for c in store.calls(run_id) if c.stage == "evaluate_judge"]
        assert sum(c.cache_read_tokens for c in judge_calls) > 0
