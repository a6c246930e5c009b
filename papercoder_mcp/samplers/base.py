"""The one interface between stages and models: a request goes in, a completion comes out.

A stage never talks to a vendor SDK. It builds a `SampleRequest` whose first
user content is an ordered list of `prefix` blocks (system prompt aside, these
are paper, plan, architecture, ... in a fixed order so every per-file call
shares them byte for byte and a provider can cache them) followed by the
per-call `prompt`. Re-asks after a validation error append turns in `followups`.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

Effort = Literal["low", "medium", "high", "xhigh", "max"]


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    text: str


# What a PDF page costs as a document in the Messages API: its text (1,500-3,000 tokens per page by
# Anthropic's PDF-support guide) plus the page image. The high end, so budgets err on the safe side.
PDF_TOKENS_PER_PAGE = 3_000


class Document(BaseModel):
    """The paper as typeset (its PDF), sent beside the Markdown prefix by samplers that can read it.

    The bytes are filled in from the store just before such a sampler is called (`data`), never kept in
    a prepared request: requests are rendered for every freshness check and must stay cheap."""

    media_type: Literal["application/pdf"] = "application/pdf"
    sha256: str
    pages: int
    title: str = ""
    visual_pages: list[int] = Field(
        default_factory=list, description="1-based pages with tables, figures and display equations"
    )
    data: str = Field("", exclude=True, description="the PDF in base64, only while being sent")

    def token_estimate(self) -> int:
        return self.pages * PDF_TOKENS_PER_PAGE


class SampleRequest(BaseModel):
    stage: str
    key: str = ""
    system: str
    prefix: list[str] = Field(
        default_factory=list, description="shared leading user-content blocks, cached by providers that can"
    )
    documents: list[Document] = Field(
        default_factory=list,
        description="the original paper, read before the prefix (cached with it) by samplers that take documents",
    )
    prompt: str = Field(description="the per-call tail of the first user message")
    followups: list[Turn] = Field(
        default_factory=list, description="assistant answer / user correction turns after a failed validation"
    )
    output_schema: dict[str, Any] | None = Field(
        None, description="JSON schema of the structured answer; None for free text / code answers"
    )
    schema_name: str = "answer"
    max_tokens: int = 8192
    effort: Effort | None = None
    temperature: float | None = None

    def user_text(self) -> str:
        """The first user message flattened, for samplers that cannot send content blocks."""
        return "\n\n".join([*self.prefix, self.prompt])

    def transcript(self) -> list[Turn]:
        return [Turn(role="user", text=self.user_text()), *self.followups]


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


class FailedAttempt(BaseModel):
    """An attempt that failed before a usable answer came back (kept for the call log)."""

    attempt: int
    error: str
    latency_s: float = 0.0
    usage: Usage = Field(default_factory=Usage)
    stop_reason: str = ""
    cost_usd: float | None = 0.0


class Completion(BaseModel):
    text: str = ""
    structured: Any | None = Field(None, description="the parsed JSON when the provider enforced the schema")
    usage: Usage = Field(default_factory=Usage)
    stop_reason: str = "end_turn"
    model: str = ""
    sampler: str = ""
    cost_usd: float | None = None
    latency_s: float = 0.0
    attempt: int = 1
    failed_attempts: list[FailedAttempt] = Field(default_factory=list)
    logged: bool = Field(
        False, description="already in the call log (a client's answer replayed in a re-ask)"
    )


@runtime_checkable
class Sampler(Protocol):
    """Anything that can answer a `SampleRequest`: the Anthropic API, an MCP client, a scripted fake."""

    name: str
    model: str

    async def sample(self, request: SampleRequest) -> Completion: ...
