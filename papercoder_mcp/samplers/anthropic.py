"""The Anthropic Messages API as a `Sampler`, through the official `anthropic` SDK.

Why it is shaped this way:

- The shared prefix (the original PDF as a `document` block when there is one, then paper, plan,
  architecture, ... as text blocks) carries a cache breakpoint on its last block, so every per-file
  call after the first reads it from the prompt cache.
- The SDK's own retries are off (`max_retries=0`): we retry here so that every failed attempt, and what
  it cost, reaches the call log, and so that `retry-after` and the backoff are under our control.
- An answer cut at `max_tokens` is never returned: it is asked again with twice the budget, up to a
  ceiling. A truncated file or JSON document would otherwise be stored as if it were complete.
- Structured answers use the API's structured outputs (`output_config.format`); the forced-tool-call
  fallback exists for models or proxies without them.
- A request whose max_tokens could take longer than the SDK allows without streaming (it refuses
  such requests: "Streaming is required for operations that may take longer than 10 minutes") is
  streamed and read to its final message. Passing an explicit timeout would only silence that check
  and leave a long answer to die on the timeout.
- One call never retries for longer than `max_retry_time` seconds in total, whatever the retry
  count or the `retry-after` a server sends: a run that waits, waits for a bounded time.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import anthropic
import anyio

from papercoder_mcp.errors import ValidationFailed
from papercoder_mcp.limits import load_json
from papercoder_mcp.samplers.base import Completion, FailedAttempt, SampleRequest, Usage
from papercoder_mcp.samplers.pricing import canonical_model, cost_usd
from papercoder_mcp.samplers.retry import SamplerFailed, backoff_delay, retry_after_seconds

log = logging.getLogger(__name__)

# Current Sonnet in the SDK 2.14 model list (types/model_param.py), not in _data/deprecated_models.py.
DEFAULT_MODEL = "claude-sonnet-5-5"
DEFAULT_TIMEOUT_S = 600.0
# The API allows four cache breakpoints per request; two cover our prefix layout (see _params).
CACHE_BREAKPOINTS = 2

StructuredMode = Literal["output_config", "tool"]

# The SDK's rule for requests it refuses to send without streaming (`_calculate_nonstreaming_timeout`):
# an expected time of 3600 s * max_tokens / 128,000 above 600 s, i.e. more than 21,333 output tokens.
NONSTREAMING_MAX_TOKENS = 600 * 128_000 // 3600
# Models with a lower limit than that rule (the SDK's MODEL_NONSTREAMING_TOKENS).
_NONSTREAMING_LIMITS = {"claude-opus-4-0": 8_192, "claude-opus-4-1": 8_192, "claude-4-opus": 8_192}

# 408/409 are what the SDK itself retries besides 429 and 5xx; 529 is "overloaded".
_RETRYABLE_STATUS = frozenset({408, 409, 429})
# Retrying these cannot help, whatever headers say: the request or the key is wrong.
_NEVER_RETRY_STATUS = frozenset({400, 401, 402, 403, 404, 413, 422})

# Models whose migration guides say a forced `tool_choice` returns 400; the tool fallback asks them with
# `auto` from the start. Unlisted models that turn out to reject it are detected from the 400 (below).
_REJECT_FORCED_TOOL = frozenset(
    {"claude-sonnet-5-5", "claude-opus-5-5", "claude-fable-5-1", "claude-mythos-5-1"}
)

Sleep = Callable[[float], Awaitable[Any]]


@dataclass(frozen=True)
class RetryNotice:
    """A retry about to wait, for a progress display: which step, why, and for how long."""

    stage: str
    key: str
    reason: str
    attempt: int
    max_attempts: int
    wait_s: float


class AnthropicSampler:
    """Answers `SampleRequest`s with the Anthropic API; see the module docstring for the policies."""

    name = "anthropic"
    # run_stage fills in the original PDF's bytes only for samplers that say they read documents.
    reads_documents = True

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        api_key: str | None = None,
        base_url: str | None = None,
        max_retries: int = 6,
        timeout: float = DEFAULT_TIMEOUT_S,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        max_tokens_ceiling: int = 64000,
        max_retry_time: float = 900.0,
        *,
        structured_mode: StructuredMode = "output_config",
        sleep: Sleep | None = None,
        client: anthropic.AsyncAnthropic | None = None,
        on_retry: Callable[[RetryNotice], None] | None = None,
    ) -> None:
        self.model = model
        self.on_retry = on_retry
        self.max_retries = max_retries
        self.timeout = timeout
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_tokens_ceiling = max_tokens_ceiling
        self.max_retry_time = max_retry_time
        self.structured_mode: StructuredMode = structured_mode
        self._sleep: Sleep = sleep or anyio.sleep
        # Learned at run time when a model we did not list answers a forced tool_choice with 400.
        self._force_tool = canonical_model(model) not in _REJECT_FORCED_TOOL
        if client is None:
            try:
                client = anthropic.AsyncAnthropic(
                    api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout
                )
            except anthropic.AnthropicError as err:  # e.g. ANTHROPIC_PROFILE names a missing or unsafe config
                raise SamplerFailed(f"Anthropic credentials could not be loaded: {err}") from err
        self._client = client

    async def aclose(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> AnthropicSampler:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def billable_outputs(self, request: SampleRequest) -> list[int]:
        """The max_tokens of every attempt a cut answer can lead to: the budget reserves all of them."""
        budgets = [max(1, min(request.max_tokens, self.max_tokens_ceiling))]
        while budgets[-1] < self.max_tokens_ceiling:
            budgets.append(min(budgets[-1] * 2, self.max_tokens_ceiling))
        return budgets

    def needs_stream(self, max_tokens: int) -> bool:
        """True when the SDK would refuse this max_tokens without streaming."""
        limit = NONSTREAMING_MAX_TOKENS
        name = canonical_model(self.model)
        for prefix, lower in _NONSTREAMING_LIMITS.items():
            if name.startswith(prefix):
                limit = min(limit, lower)
        return max_tokens > limit

    async def _send(self, max_tokens: int, params: dict[str, Any]) -> Any:
        if not self.needs_stream(max_tokens):
            return await self._client.messages.create(
                model=self.model, max_tokens=max_tokens, timeout=self.timeout, **params
            )
        # Streamed: the timeout applies to each read, so a long answer that keeps arriving is not cut.
        async with self._client.messages.stream(
            model=self.model, max_tokens=max_tokens, timeout=self.timeout, **params
        ) as stream:
            message = await stream.get_final_message()
        if message.stop_reason is None:
            # The SDK hands back what arrived when the connection closes before message_stop; a partial
            # answer must never pass for a whole one.
            raise _StreamIncomplete("the stream ended before the answer was complete")
        return message

    async def sample(self, request: SampleRequest) -> Completion:
        """One answer to `request`, after as many retries as the failure kinds allow.

        Raises `SamplerFailed` (a `SamplerError`) carrying `failed_attempts` when it gives up."""
        failed: list[FailedAttempt] = []
        max_tokens = max(1, min(request.max_tokens, self.max_tokens_ceiling))
        transient_retries = 0
        attempt = 0
        slept: list[float] = []  # the waits before retries, counted against max_retry_time
        while True:
            attempt += 1
            shape = self._shape(request)
            params = self._params(request, shape)
            started = time.monotonic()
            try:
                message = await self._send(max_tokens, params)
            except anthropic.APIStatusError as err:
                latency = time.monotonic() - started
                status = err.status_code
                detail = _api_detail(err)
                failed.append(
                    FailedAttempt(attempt=attempt, error=f"HTTP {status}: {detail}", latency_s=latency)
                )
                if shape.tool_forced and status == 400 and "tool_choice" in detail:
                    # A model that rejects forced tool use: ask again with tool_choice auto, no wait.
                    log.info("model %s rejects a forced tool_choice; retrying with auto", self.model)
                    self._force_tool = False
                    continue
                if not _retryable_status(err):
                    raise SamplerFailed(_status_message(err, self.model), failed, status_code=status) from err
                if transient_retries >= self.max_retries:
                    raise SamplerFailed(
                        f"the Anthropic API kept failing ({attempt} attempts, last HTTP {status}: {detail}); "
                        "try again later or lower the concurrency",
                        failed,
                        status_code=status,
                        retryable=True,
                    ) from err
                transient_retries += 1
                await self._wait(
                    request, transient_retries, err.response.headers, f"HTTP {status}", slept, failed
                )
                continue
            except (anthropic.APIConnectionError, _StreamIncomplete) as err:  # includes APITimeoutError
                latency = time.monotonic() - started
                kind = "timed out" if isinstance(err, anthropic.APITimeoutError) else "connection failed"
                failed.append(FailedAttempt(attempt=attempt, error=f"{kind}: {err}", latency_s=latency))
                if transient_retries >= self.max_retries:
                    raise SamplerFailed(
                        f"the Anthropic API could not be reached ({attempt} attempts, last: {kind}); "
                        "check the network, or allow each request more time (`papercoder-mcp full --timeout SECONDS`)",
                        failed,
                        retryable=True,
                    ) from err
                transient_retries += 1
                await self._wait(request, transient_retries, None, kind, slept, failed)
                continue
            except TypeError as err:
                # The SDK raises TypeError before sending when it finds no credentials at all.
                if "authentication" not in str(err):
                    raise
                raise SamplerFailed(
                    "no Anthropic credentials: set ANTHROPIC_API_KEY (or pass api_key), "
                    "or use MCP sampling / handoff mode instead",
                    failed,
                ) from err
            except anthropic.AnthropicError as err:
                failed.append(
                    FailedAttempt(attempt=attempt, error=str(err), latency_s=time.monotonic() - started)
                )
                raise SamplerFailed(f"the Anthropic SDK failed: {err}", failed) from err
            except RecursionError as err:
                # A response body nested deeper than Python's JSON decoder can follow: refuse it
                # clearly instead of letting a bare RecursionError reach the caller.
                failed.append(
                    FailedAttempt(attempt=attempt, error="response nests too deeply", latency_s=0.0)
                )
                raise SamplerFailed(
                    "the Anthropic API's response nests too deeply to decode; refusing it", failed
                ) from err

            latency = time.monotonic() - started
            usage = _usage(message.usage)
            model = message.model or self.model
            cost = cost_usd(model, usage)
            stop = message.stop_reason or "end_turn"

            if stop == "max_tokens":
                failed.append(
                    FailedAttempt(
                        attempt=attempt,
                        error=f"answer cut at max_tokens={max_tokens}",
                        latency_s=latency,
                        usage=usage,
                        stop_reason=stop,
                        cost_usd=cost,
                    )
                )
                if max_tokens >= self.max_tokens_ceiling:
                    raise SamplerFailed(
                        f"the answer for {request.stage} {request.key!r} was still cut at max_tokens={max_tokens}, "
                        f"the ceiling; raise max_tokens_ceiling or ask for a shorter answer",
                        failed,
                    )
                max_tokens = min(max_tokens * 2, self.max_tokens_ceiling)
                log.info("answer cut at max_tokens; asking again with max_tokens=%d", max_tokens)
                continue
            if stop in ("refusal", "model_context_window_exceeded"):
                failed.append(
                    FailedAttempt(
                        attempt=attempt,
                        error=stop,
                        latency_s=latency,
                        usage=usage,
                        stop_reason=stop,
                        cost_usd=cost,
                    )
                )
                why = (
                    "the model declined to answer"
                    if stop == "refusal"
                    else "the prompt filled the model's context window; shorten the paper or the prefix"
                )
                raise SamplerFailed(f"{why} ({request.stage} {request.key!r})", failed)

            text, structured = _read_content(message.content, shape)
            return Completion(
                text=text,
                structured=structured,
                usage=usage,
                stop_reason=stop,
                model=model,
                sampler=self.name,
                cost_usd=cost,
                latency_s=latency,
                attempt=attempt,
                failed_attempts=failed,
            )

    async def _wait(
        self,
        request: SampleRequest,
        retry: int,
        headers: Any,
        why: str,
        slept: list[float],
        failed: list[FailedAttempt],
    ) -> None:
        """Sleep before a retry, or give up when the wait would take the call past `max_retry_time`."""
        asked = retry_after_seconds(headers) if headers is not None else None
        if asked is not None:
            delay = min(asked, self.backoff_cap)
        else:
            delay = backoff_delay(retry, base=self.backoff_base, cap=self.backoff_cap)
        spent = sum(slept) + sum(a.latency_s for a in failed)
        if spent + delay > self.max_retry_time:
            raise SamplerFailed(
                f"the Anthropic API kept failing ({why}); gave up after {spent:.0f}s of retries "
                f"({len(failed)} attempts), the limit for one call being {self.max_retry_time:.0f}s; "
                "try again later or lower the concurrency",
                failed,
                retryable=True,
            )
        log.info("%s; retry %d/%d in %.2fs", why, retry, self.max_retries, delay)
        if self.on_retry is not None:
            self.on_retry(RetryNotice(request.stage, request.key, why, retry, self.max_retries + 1, delay))
        slept.append(delay)
        await self._sleep(delay)

    def _shape(self, request: SampleRequest) -> _Shape:
        """How the structured answer is asked for on this attempt."""
        if request.output_schema is None:
            return _Shape(mode=None)
        if self.structured_mode == "output_config":
            try:
                schema = anthropic.transform_schema(request.output_schema)
            except (ValueError, TypeError) as err:
                # Structured outputs accept a subset of JSON Schema; a tool's input_schema is looser.
                log.warning(
                    "schema %s not usable as output_config.format (%s); using a tool",
                    request.schema_name,
                    err,
                )
            else:
                return _Shape(mode="output_config", schema=schema)
        name = _tool_name(request.schema_name)
        wrapped = request.output_schema.get("type") != "object"  # a tool's input must be an object
        return _Shape(mode="tool", tool_name=name, wrapped=wrapped, tool_forced=self._force_tool)

    def _params(self, request: SampleRequest, shape: _Shape) -> dict[str, Any]:
        # The original PDF leads the prefix (the model reads tables, equations and figures as typeset);
        # the Markdown after it stays, since stages select and cite sections by its headings.
        blocks: list[dict[str, Any]] = [
            {
                "type": "document",
                "source": {"type": "base64", "media_type": doc.media_type, "data": doc.data},
                **({"title": doc.title[:500]} if doc.title else {}),
            }
            for doc in request.documents
            if doc.data
        ]
        blocks += [{"type": "text", "text": p} for p in request.prefix if p]
        # Breakpoints on the last prefix blocks: the last caches the whole shared prefix; the one
        # before it marks the prefix the previous stage already wrote. The API's look-back usually
        # finds that entry anyway; marking it costs nothing and makes the hit explicit for a fan-out
        # of per-file calls that start together.
        for block in blocks[-CACHE_BREAKPOINTS:]:
            block["cache_control"] = {"type": "ephemeral"}
        blocks.append({"type": "text", "text": request.prompt})
        messages: list[dict[str, Any]] = [{"role": "user", "content": blocks}]
        for turn in request.followups:
            messages.append({"role": turn.role, "content": [{"type": "text", "text": turn.text}]})

        params: dict[str, Any] = {"messages": messages}
        if request.system:
            params["system"] = [{"type": "text", "text": request.system}]
        output_config: dict[str, Any] = {}
        if request.effort is not None:
            output_config["effort"] = request.effort
        if shape.mode == "output_config":
            output_config["format"] = {"type": "json_schema", "schema": shape.schema}
        elif shape.mode == "tool":
            assert request.output_schema is not None
            schema = request.output_schema
            if shape.wrapped:
                schema = {"type": "object", "properties": {"value": schema}, "required": ["value"]}
            params["tools"] = [
                {
                    "name": shape.tool_name,
                    "description": "Submit the final answer. Always answer by calling this tool exactly once.",
                    "input_schema": schema,
                }
            ]
            params["tool_choice"] = (
                {"type": "tool", "name": shape.tool_name} if shape.tool_forced else {"type": "auto"}
            )
        if output_config:
            params["output_config"] = output_config
        # request.temperature is not sent: the SDK 2.14 Messages API has no sampling parameters, and
        # current models answer a non-default temperature with 400.
        return params


class _StreamIncomplete(Exception):
    """A streamed answer whose connection closed before its last event."""


@dataclass(frozen=True)
class _Shape:
    """The structured-output plan for one attempt: none, `output_config.format`, or a tool call."""

    mode: Literal["output_config", "tool"] | None
    schema: dict[str, Any] | None = None
    tool_name: str = ""
    wrapped: bool = False  # a non-object schema wrapped as {"value": ...}, since tool input must be an object
    tool_forced: bool = False


def _read_content(content: list[Any], shape: _Shape) -> tuple[str, Any | None]:
    """The answer's text, and its parsed JSON when a structured answer was asked for.

    JSON that does not parse is left as text with `structured=None`: the stage validates it and re-asks,
    it is never patched into shape here."""
    text = "".join(getattr(block, "text", "") for block in content if getattr(block, "type", "") == "text")
    if shape.mode is None:
        return text, None
    if shape.mode == "tool":
        for block in content:
            if getattr(block, "type", "") == "tool_use" and block.name == shape.tool_name:
                data: Any = block.input
                if shape.wrapped and isinstance(data, dict):
                    data = data.get("value")
                return (text or json.dumps(data, ensure_ascii=False)), data
        # tool_choice auto: the model may have answered in plain JSON instead of calling the tool.
    try:
        # Behind the size and depth caps: a nesting bomb becomes "no structured payload", and the
        # stage's own validation then refuses the text with the cap it broke.
        return text, load_json(text)
    except (ValueError, ValidationFailed):
        return text, None


def _usage(raw: Any) -> Usage:
    return Usage(
        input_tokens=raw.input_tokens or 0,
        output_tokens=raw.output_tokens or 0,
        cache_read_tokens=raw.cache_read_input_tokens or 0,
        cache_write_tokens=raw.cache_creation_input_tokens or 0,
    )


def _tool_name(schema_name: str) -> str:
    name = re.sub(r"[^a-zA-Z0-9_-]", "_", schema_name)[:64]
    return name or "answer"


def _api_detail(err: anthropic.APIStatusError) -> str:
    kind = err.type or ""
    msg = err.api_message or err.message
    return f"{kind}: {msg}" if kind else str(msg)


def _retryable_status(err: anthropic.APIStatusError) -> bool:
    status = err.status_code
    if status in _NEVER_RETRY_STATUS:
        return False
    # The API says explicitly when a retry is (not) worth it; the SDK honours this header too.
    hint = err.response.headers.get("x-should-retry")
    if hint == "true":
        return True
    if hint == "false":
        return False
    return status in _RETRYABLE_STATUS or status >= 500


def _status_message(err: anthropic.APIStatusError, model: str) -> str:
    status = err.status_code
    detail = _api_detail(err)
    if status == 401:
        return f"ANTHROPIC_API_KEY was rejected (HTTP 401, {detail}); check the key or unset it to use handoff mode"
    if status == 403:
        return f"the Anthropic API key may not use {model!r} (HTTP 403, {detail}); check the key's workspace"
    if status == 404:
        return f"model {model!r} was not found (HTTP 404, {detail}); check the model id"
    if status == 402:
        return (
            f"the Anthropic account cannot be billed (HTTP 402, {detail}); check the plan and credit balance"
        )
    if status == 413:
        return f"the request is too large for the API (HTTP 413, {detail}); shorten the paper or the prefix"
    return f"the Anthropic API rejected the request (HTTP {status}, {detail})"
