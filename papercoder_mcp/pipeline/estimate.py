"""Cost before spending: the calls a run will make, with estimated tokens and dollars (`--dry-run`)."""

from __future__ import annotations

from pydantic import BaseModel

from papercoder_mcp import prompts
from papercoder_mcp.paper.models import Paper
from papercoder_mcp.paper.render import estimate_tokens
from papercoder_mcp.samplers.base import PDF_TOKENS_PER_PAGE
from papercoder_mcp.samplers.pricing import price_for
from papercoder_mcp.stages.base import EXPECTED_OUTPUT_TOKENS

# Without a design we cannot know the file count; PaperCoder's repositories average 6-10 files, and
# the repository's own tests add about as many again.
ASSUMED_FILES = 12
# Size of a dependency file's code in a generate prompt, as tokens (about 150 lines of Python).
DEP_CODE_TOKENS = 1_500
# A critique answer (problems by severity and a score) is short beside the artifact it reviews.
CRITIQUE_OUTPUT_TOKENS = 1_200
# One earlier file's interface summary in a generate or coverage prompt (signatures, keys, files).
INTERFACE_TOKENS = 150


class PlannedCall(BaseModel):
    stage: str
    key: str = ""
    input_tokens: int
    cached_input_tokens: int = 0
    output_tokens: int
    cost_usd: float | None


class CostEstimate(BaseModel):
    model: str
    pdf_pages: int = 0
    files: int
    files_assumed: bool
    calls: list[PlannedCall]
    total_usd: float | None
    baseline_usd: float | None = None  # the same calls with no prompt caching
    # Repairs depend on what verification finds, so they are priced per file rather than put in `calls`.
    repair_rounds: int = 0
    repair_call_usd: float | None = None
    repair_note: str = ""


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


def estimate_run(
    paper: Paper,
    model: str,
    files: int | None = None,
    *,
    refine: bool = False,
    repair_rounds: int = 0,
    pdf_pages: int | None = None,
) -> CostEstimate:
    """Every call of a full run, priced with the shared prefix written to cache once and read after.

    With `refine`, each planning artifact and analysis adds a critique and an improvement call. Repairs
    cannot be known before verification runs: they are priced per call and bounded in `repair_note`.
    `pdf_pages`: pages of the original PDF the API reads as a document beside the Markdown (default: the
    paper's own page count when it was parsed from a PDF the API accepts; 0 for other sources)."""
    n = files or ASSUMED_FILES
    out = EXPECTED_OUTPUT_TOKENS
    system = estimate_tokens(prompts.load("system"))
    if pdf_pages is None:
        from papercoder_mcp.pipeline.originals import MAX_DOCUMENT_PAGES, documents_enabled

        sendable = (
            paper.source_format == "pdf" and paper.page_count <= MAX_DOCUMENT_PAGES and documents_enabled()
        )
        pdf_pages = paper.page_count if sendable else 0
    # The document sits in the cached prefix with the paper text, so it is priced like it.
    paper_tokens = estimate_tokens(paper.prompt_markdown()) + pdf_pages * PDF_TOKENS_PER_PAGE
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
        generate_extra = out["analyze_file"] + DEP_CODE_TOKENS + INTERFACE_TOKENS * i
        for stage, extra in (("analyze_file", 300), ("generate_file", generate_extra)):
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
    if refine:
        reviewed = [(stage, out[stage], "") for stage, _ in planning]
        reviewed += [("analyze_file", out["analyze_file"], f"file {i + 1}") for i in range(n)]
        critique_tail = estimate_tokens(prompts.load("critique"))
        improve_tail = estimate_tokens(prompts.load("improve"))
        for stage, artifact_tokens, key in reviewed:
            for name, tail, answer in (
                ("critique", critique_tail + artifact_tokens, CRITIQUE_OUTPUT_TOKENS),
                ("improve", improve_tail + artifact_tokens + CRITIQUE_OUTPUT_TOKENS, artifact_tokens),
            ):
                calls.append(
                    PlannedCall(
                        stage=f"{name} {stage}",
                        key=key,
                        input_tokens=shared + tail,
                        cached_input_tokens=shared,
                        output_tokens=answer,
                        cost_usd=_cost(model, tail, shared, 0, answer),
                    )
                )
                baseline += _cost(model, shared + tail, 0, 0, answer) or 0.0
    tail = estimate_tokens(prompts.load("check_coverage")) + 1_000 + INTERFACE_TOKENS * n
    calls.append(
        PlannedCall(
            stage="check_coverage",
            input_tokens=shared + tail,
            cached_input_tokens=shared,
            output_tokens=out["check_coverage"],
            cost_usd=_cost(model, tail, shared, 0, out["check_coverage"]),
        )
    )
    baseline += _cost(model, shared + tail, 0, 0, out["check_coverage"]) or 0.0
    total = sum(c.cost_usd or 0.0 for c in calls) if priced else None
    repair_usd: float | None = None
    note = ""
    if repair_rounds:
        # A repair prompt: the shared prefix, the file, its findings and its dependencies' interfaces.
        tail = estimate_tokens(prompts.load("repair_file")) + out["generate_file"] + DEP_CODE_TOKENS
        repair_usd = _cost(model, tail, shared, 0, out["generate_file"])
        coverage_usd = next((c.cost_usd for c in calls if c.stage == "check_coverage"), None)
        # Plus one coverage round: repairs of what the coverage map finds missing, and a second map.
        worst = (
            repair_usd * n * (repair_rounds + 1) + coverage_usd
            if repair_usd is not None and coverage_usd is not None
            else None
        )
        note = (
            f"Not in the total: verification repairs, one call per file with findings "
            f"(about {_usd(repair_usd)} each), in up to {repair_rounds} round(s), and one round of "
            f"coverage repairs with a second coverage map; at most {_usd(worst)} if all {n} files "
            "needed every round."
        )
    return CostEstimate(
        model=model,
        pdf_pages=pdf_pages,
        files=n,
        files_assumed=files is None,
        calls=calls,
        total_usd=total,
        baseline_usd=round(baseline, 6) if priced else None,
        repair_rounds=repair_rounds,
        repair_call_usd=repair_usd,
        repair_note=note,
    )


def _usd(usd: float | None) -> str:
    return "an unknown price" if usd is None else f"${usd:.2f}"


def cache_savings(model: str, cache_read_tokens: int, cache_write_tokens: int) -> float | None:
    """Dollars saved by caching: reads billed below the input rate, minus the write premium."""
    price = price_for(model)
    if price is None:
        return None
    saved = cache_read_tokens * (price.input - price.cache_read) - cache_write_tokens * (
        price.cache_write - price.input
    )
    return round(saved / 1_000_000, 6)
