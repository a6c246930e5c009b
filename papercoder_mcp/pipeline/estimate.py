"""Cost before spending: the calls a run will make, with estimated tokens and dollars (`--dry-run`)."""

from __future__ import annotations

from pydantic import BaseModel

from papercoder_mcp import prompts
from papercoder_mcp.paper.models import Paper
from papercoder_mcp.paper.render import estimate_tokens
from papercoder_mcp.samplers.pricing import price_for
from papercoder_mcp.stages.base import EXPECTED_OUTPUT_TOKENS

# Without a design we cannot know the file count; PaperCoder's repositories average 6-10 files.
ASSUMED_FILES = 8
# Size of a dependency file's code in a generate prompt, as tokens (about 150 lines of Python).
DEP_CODE_TOKENS = 1_500


class PlannedCall(BaseModel):
    stage: str
    key: str = ""
    input_tokens: int
    cached_input_tokens: int = 0
    output_tokens: int
    cost_usd: float | None


class CostEstimate(BaseModel):
    model: str
    files: int
    files_assumed: bool
    calls: list[PlannedCall]
    total_usd: float | None
    baseline_usd: float | None = None  # the same calls with no prompt caching


def _cost(model: str, fresh: int, cached_read: int, cached_write: int, out: int) -> float | None:
    price = price_for(model)
    if price is None:
        return None
    rate = price.band(fresh + cached_read + cached_write)
    usd = (
        fresh * rate.input
        + cached_read * rate.cache_read
        + cached_write * rate.cache_write
        + out * rate.output
    )
    return round(usd / 1_000_000, 6)


def estimate_run(paper: Paper, model: str, files: int | None = None) -> CostEstimate:
    """Every call of a full run, priced with the shared prefix written to cache once and read after."""
    n = files or ASSUMED_FILES
    out = EXPECTED_OUTPUT_TOKENS
    system = estimate_tokens(prompts.load("system"))
    paper_tokens = estimate_tokens(paper.to_markdown(include_references=False))
    # Planning: each stage's prefix is the paper plus earlier artifacts (answers of about `out` tokens).
    planning = [
        ("make_plan", 0),
        ("design_architecture", out["make_plan"]),
        ("order_files", out["make_plan"] + out["design_architecture"]),
        ("write_config", out["make_plan"] + out["design_architecture"] + out["order_files"]),
    ]
    calls: list[PlannedCall] = []
    baseline = 0.0
    priced = price_for(model) is not None
    for stage, earlier in planning:
        tail = estimate_tokens(prompts.load(stage)) + 1_000  # the schema
        prefix = system + paper_tokens + earlier
        # The paper part was cached by the first call; the rest is new to the cache.
        read = system + paper_tokens if stage != "make_plan" else 0
        write = prefix - read
        calls.append(
            PlannedCall(
                stage=stage,
                input_tokens=prefix + tail,
                cached_input_tokens=read,
                output_tokens=out[stage],
                cost_usd=_cost(model, tail, read, write, out[stage]),
            )
        )
        baseline += _cost(model, prefix + tail, 0, 0, out[stage]) or 0.0
    shared = system + paper_tokens + sum(out[s] for s, _ in planning)
    for i in range(n):
        key = f"file {i + 1}"
        for stage, extra in (("analyze_file", 300), ("generate_file", out["analyze_file"] + DEP_CODE_TOKENS)):
            tail = estimate_tokens(prompts.load(stage)) + extra
            first = i == 0 and stage == "analyze_file"
            read, write = (0, shared) if first else (shared, 0)
            calls.append(
                PlannedCall(
                    stage=stage,
                    key=key,
                    input_tokens=shared + tail,
                    cached_input_tokens=read,
                    output_tokens=out[stage],
                    cost_usd=_cost(model, tail, read, write, out[stage]),
                )
            )
            baseline += _cost(model, shared + tail, 0, 0, out[stage]) or 0.0
    total = sum(c.cost_usd or 0.0 for c in calls) if priced else None
    return CostEstimate(
        model=model,
        files=n,
        files_assumed=files is None,
        calls=calls,
        total_usd=total,
        baseline_usd=round(baseline, 6) if priced else None,
    )


def cache_savings(model: str, cache_read_tokens: int, cache_write_tokens: int) -> float | None:
    """Dollars saved by caching: reads billed below the input rate, minus the write premium."""
    price = price_for(model)
    if price is None:
        return None
    saved = cache_read_tokens * (price.input - price.cache_read) - cache_write_tokens * (
        price.cache_write - price.input
    )
    return round(saved / 1_000_000, 6)
