"""Clients for server tests: a sampling callback that answers like a model (FakeModel)."""

from __future__ import annotations

from typing import Any

from mcp.client import ClientRequestContext
from mcp.types import CreateMessageRequestParams, CreateMessageResult, TextContent

from fake_model import FakeModel, stage_of

PAPER_MD = """# Tiny Attention

## Abstract

We propose tiny attention, trained with learning rate 1e-4 for 10 epochs.

## 1 Method

Attention is softmax(QK^T / sqrt(d)) V.

## 2 Experiments

We report accuracy on a toy benchmark.

## References

- [1] Someone. Attention. 2017.
"""


class ModelCallback:
    """A sampling_callback answering each stage's prompt like FakeModel, recording what it was asked."""

    def __init__(self, fake: FakeModel | None = None, bad_first: set[str] | None = None) -> None:
        self.fake = fake or FakeModel()
        self.asked: list[CreateMessageRequestParams] = []
        self.bad_first = set(bad_first or ())

    async def __call__(self, context: ClientRequestContext, params: CreateMessageRequestParams) -> Any:
        self.asked.append(params)
        first = params.messages[0].content_as_list
        text = "\n\n".join(b.text for b in first if isinstance(b, TextContent))
        stage = stage_of(text)
        if stage in self.bad_first:
            self.bad_first.discard(stage)
            answer = "Sorry, here is some prose instead of JSON."
        else:
            answer, _ = self.fake.answer(stage, text)
        return CreateMessageResult(
            role="assistant",
            content=TextContent(type="text", text=answer),
            model="client-model",
            stop_reason="endTurn",
        )
