"""Samplers whose answers do not arrive inside the call that asks: client rounds and agent handoff.

The scheduler asks every sampler the same way (`await sampler.sample(request)`).
An API or a classic-sampling client answers there and then. A 2026-07-28 client
answers in a later round of the tool call, and an agent answers by a later
`submit_artifact`: for those the sampler raises `AnswerDeferred`, the scheduler
records the step as waiting and goes on with every step that does not depend on
it, and the call returns what is waiting (a round of requests, or handoffs).

A client's answers are kept in the store, keyed by the hash of the whole
conversation they answer (prompt, inputs and any re-ask turns), not in the
round's `request_state`: an answer that arrives after the state expired or the
server restarted is still found the next time the scheduler asks the same
question, and one whose inputs have changed since is simply never asked for.
"""

from __future__ import annotations

from typing import Literal

from papercoder_mcp.ids import RequestKey
from papercoder_mcp.samplers.base import Completion, SampleRequest
from papercoder_mcp.store import Store, canonical_hash
from papercoder_mcp.store.records import Artifact

SAMPLER_NAME = "mcp-sampling"
HowDeferred = Literal["round", "handoff", "later"]


class AnswerDeferred(Exception):  # noqa: N818 (a signal to the scheduler, not an error)
    """The answer to `request` cannot arrive during this call; the step waits for it.

    Not a PaperCoderError on purpose: code that turns errors into "failed" steps must not
    swallow it, so it reaches the scheduler (or the tool) that knows how to hand it out."""

    def __init__(self, request: SampleRequest, how: HowDeferred, reason: str = "") -> None:
        super().__init__(reason or f"{request.stage} {request.key}: waiting for an answer ({how})")
        self.request, self.how, self.reason = request, how, reason


def conversation_hash(request: SampleRequest) -> str:
    """Identity of a question: what the model reads, re-ask turns included."""
    return canonical_hash(
        request.model_dump(include={"system", "prefix", "prompt", "output_schema", "followups"})
    )


def request_key_of(request: SampleRequest) -> RequestKey:
    return RequestKey(stage=request.stage, key=request.key, digest=conversation_hash(request)[:16])


class AnswerBook:
    """A run's client answers in the store (kind `answer`), one per question."""

    def __init__(self, store: Store, run_id: str) -> None:
        self.store, self.run_id = store, run_id

    def put(self, rkey: RequestKey, text: str, model: str = "", stop_reason: str = "") -> Artifact:
        return self.store.put_artifact(
            self.run_id,
            "answer",
            text,
            key=rkey.encode(),
            format="text",
            input_hash=rkey.digest,
            metadata={"stage": rkey.stage, "key": rkey.key, "model": model, "stop_reason": stop_reason},
        )

    def find(self, rkey: RequestKey) -> Artifact | None:
        return self.store.find_artifact(self.run_id, "answer", rkey.encode())

    def mark_used(self, art: Artifact) -> None:
        """The first use of an answer logs its call; later replays (a re-ask's history) must not."""
        self.store.put_artifact(
            self.run_id,
            "answer",
            art.content,
            key=art.key,
            format=art.format,
            input_hash=art.input_hash,
            metadata={**art.metadata, "used": True},
        )


class RoundSampler:
    """Answers from the store when the client already gave them; otherwise defers to the next round."""

    name = SAMPLER_NAME
    model = "client"
    defers = True  # answers come from earlier calls: reuse any fresh artifact, nothing is in flight

    def __init__(self, book: AnswerBook, only: set[RequestKey] | None = None) -> None:
        self.book = book
        self.only = only  # when set, answers given before this call are not taken (a forced new version)

    async def sample(self, request: SampleRequest) -> Completion:
        rkey = request_key_of(request)
        art = self.book.find(rkey) if self.only is None or rkey in self.only else None
        if art is None:
            raise AnswerDeferred(request, "round")
        used = bool(art.metadata.get("used"))
        if not used:
            self.book.mark_used(art)
        return Completion(
            text=art.content,
            model=str(art.metadata.get("model", "")),
            sampler=self.name,
            stop_reason=str(art.metadata.get("stop_reason", "")) or "end_turn",
            cost_usd=None,  # the client's model is billed to the client
            logged=used,
        )


class HandoffSampler(RoundSampler):
    """Every question goes to the calling agent, who answers with submit_artifact.

    A stage's answer is validated and stored by submit_artifact itself; the answer to a step
    that is not a stage of its own (refinement's critique and improvement) is kept by its
    question and taken here the next time the scheduler asks it."""

    name = "agent"
    model = "agent"

    def __init__(self, book: AnswerBook, reason: str = "") -> None:
        super().__init__(book)
        self.reason = reason

    async def sample(self, request: SampleRequest) -> Completion:
        try:
            return await super().sample(request)
        except AnswerDeferred:
            raise AnswerDeferred(request, "handoff", self.reason) from None
