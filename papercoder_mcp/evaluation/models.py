"""The evaluation's artifacts: what a judge sample or a rubric batch must answer, and the aggregates."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

Severity = Literal["high", "medium", "low"]
SEVERITIES: tuple[Severity, ...] = ("high", "medium", "low")
JudgeMode = Literal["reference-free", "reference-based"]


# -- Paper2Code-style judge --------------------------------------------------


class ComponentCheck(BaseModel):
    """One key component of the paper and whether the repository implements it."""

    name: str = Field(min_length=1, description="a key component of the paper's method or experiments")
    implemented: Literal["yes", "partial", "no"] = Field(description="how far the code implements it")
    files: list[str] = Field(default_factory=list, description="repository files where it is (or should be)")
    note: str = Field("", description="one sentence on what was checked")


class Critique(BaseModel):
    severity: Severity = Field(
        description="high: the method is wrong or missing; medium: a result would "
        "differ; low: a detail or style"
    )
    component: str = Field("", description="the component it concerns")
    location: str = Field("", description="where, as path:line or path:start-end")
    text: str = Field(min_length=1, description="what is wrong and what the paper says instead")


class JudgeAnswer(BaseModel):
    """One judge sample: components checked, critiques by severity, a 1-5 correctness score."""

    components: list[ComponentCheck] = Field(min_length=1)
    critiques: list[Critique] = Field(default_factory=list)
    score: int = Field(ge=1, le=5, description="1 (wrong or missing) to 5 (complete and faithful)")
    summary: str = Field("", description="two or three sentences justifying the score")

    @field_validator("score", mode="before")
    @classmethod
    def _whole_number(cls, value: object) -> object:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError("the score must be a whole number from 1 to 5")
        return value


class JudgeSample(BaseModel):
    index: int
    key: str
    version: int
    score: int
    components: list[ComponentCheck]
    critiques: list[Critique]
    summary: str = ""


class JudgeResult(BaseModel):
    """The n-sample judgement of a run: mean and spread of the scores, and every critique by severity."""

    measure: str = Field(description="what the score measures")
    samplers: list[str] = Field(description="where the judgements came from (anthropic, mcp-sampling, agent)")
    models: list[str] = Field(description="the models that judged, where known")
    run_id: str
    mode: JudgeMode
    reference: str | None = Field(
        None, description="the reference repository directory, when reference-based"
    )
    samples: list[JudgeSample]
    n: int
    scores: list[int]
    mean: float
    stdev: float | None = Field(
        description="sample standard deviation (n - 1 in the denominator); None for one sample, which has none"
    )
    min: int
    max: int
    critiques: dict[Severity, list[Critique]] = Field(description="every sample's critiques, by severity")
    critique_counts: dict[Severity, float] = Field(description="mean number of critiques per sample")
    components: list[str] = Field(description="the components the samples checked (union, first seen first)")
    files_included: list[str]
    files_left_out: list[str] = Field(description="files that did not fit the token budget")
    reference_left_out: list[str] = Field(default_factory=list)
    budget_tokens: int
    cost_usd: float | None = Field(
        None, description="cost of the calls made by this evaluation; None when unknown"
    )


# -- PaperBench-style rubric grading -----------------------------------------


class LeafGrade(BaseModel):
    id: str = Field(description="the requirement's id, exactly as given")
    score: Literal[0, 1] = Field(description="1 when the code satisfies the requirement, else 0")
    justification: str = Field(min_length=1, description="a short reason citing files and lines (path:line)")


class RubricAnswer(BaseModel):
    """One batch of leaves graded."""

    grades: list[LeafGrade] = Field(min_length=1)


class GradedLeaf(BaseModel):
    id: str
    requirements: str
    task_category: str
    weight: float
    score: int
    justification: str
    batch: str = Field(description="the key of the batch artifact it was graded in")


class NodeScore(BaseModel):
    id: str
    requirements: str
    weight: float
    score_percent: float | None = Field(
        description="weighted mean of its graded leaves; None when it has none"
    )
    graded_leaves: int


class RubricResult(BaseModel):
    """A run graded against a PaperBench rubric: the coverage of its chosen requirements, and where it came from."""

    measure: str = Field(description="what the score measures, e.g. 'Code-Dev coverage (read, not executed)'")
    samplers: list[str] = Field(description="where the grades came from (anthropic, mcp-sampling, agent)")
    models: list[str] = Field(description="the models that graded, where known")
    graded_leaves: int = Field(description="requirements graded: the rubric subset of the chosen categories")
    run_id: str
    rubric_id: str
    rubric_hash: str
    categories: list[str]
    score_percent: float = Field(
        description="weighted mean of the 0/1 grades up the tree, in percent: requirements the code was read to "
        "meet, not results reproduced"
    )
    top_level: list[NodeScore] = Field(description="each child of the root, with its own score")
    leaves: list[GradedLeaf]
    excluded_leaves: int = Field(description="leaves of other categories, left out of the score")
    batches: list[str]
    files_included: list[str]
    files_left_out: list[str]
    budget_tokens: int
    cost_usd: float | None = Field(
        None, description="cost of the calls made by this evaluation; None when unknown"
    )
