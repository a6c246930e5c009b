"""Classic sampling: a `sampling/createMessage` request to the client in the middle of a tool call.

Clients before the 2026-07-28 revision (every TypeScript 1.x client, Python mcp 1.x,
VS Code, ...) cannot take sampling inside a tool *result*, but they answer a
server-to-client request sent while the tool call is open, over any connection
with a way back (stdio, stateful HTTP). This sampler sends one per question and
awaits it, so the pipeline runs exactly as with the API.

Two guards keep the client's own request timeout (60 s by default in the
TypeScript SDK) from cutting the call: a progress notification after every
answer (clients that reset their timer on progress keep waiting), and a time
budget after which no new question is sent: the pipeline returns `partial`
("call again to continue") with everything answered so far kept.
"""

from __future__ import annotations

import time

from mcp.server.mcpserver import Context
from mcp.shared.message import ServerMessageMetadata
from mcp.types import CreateMessageResult

from papercoder_mcp.errors import SamplerError
from papercoder_mcp.pipeline.answers import SAMPLER_NAME, AnswerDeferred
from papercoder_mcp.samplers.base import Completion, SampleRequest
from papercoder_mcp.server.client_sampling import _text_of, sampling_request, to_create_message
from papercoder_mcp.store import Store

DEFAULT_CALL_SECONDS = 45.0


class ClassicSampler:
    name = SAMPLER_NAME
    model = "client"

    def __init__(
        self,
        ctx: Context,
        *,
        seconds: float | None = DEFAULT_CALL_SECONDS,
        store: Store | None = None,
        run_id: str = "",
    ) -> None:
        self.ctx = ctx
        # With the store, requests carry the key pages of the original PDF as images.
        self.store, self.run_id = store, run_id
        self.deadline = None if seconds is None else time.monotonic() + seconds
        self.answers = 0

    async def sample(self, request: SampleRequest) -> Completion:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise AnswerDeferred(request, "later", "this call's time is up; call again to continue")
        started = time.monotonic()
        session = self.ctx.request_context.session
        try:
            # What ServerSession.create_message sends, tied to this tool call so that it travels on the
            # call's own stream (stateful HTTP) and the client relates it to the call.
            message = (
                await sampling_request(self.store, self.run_id, request)
                if self.store is not None
                else to_create_message(request)
            )
            result = await session.send_request(
                message,
                CreateMessageResult,
                metadata=ServerMessageMetadata(related_request_id=self.ctx.request_context.request_id),
            )
        except Exception as exc:  # the client refused or the connection failed: say so, as the API would
            raise SamplerError(f"the client's sampling request failed: {exc}") from exc
        text, model, stop = _text_of(result)
        self.answers += 1
        await self.ctx.report_progress(
            self.answers,
            None,
            f"answer {self.answers} from the client's model ({request.stage} {request.key})".strip(),
        )
        return Completion(
            text=text,
            model=model,
            sampler=self.name,
            stop_reason=stop or "end_turn",
            cost_usd=None,  # billed to the client
            latency_s=time.monotonic() - started,
        )
