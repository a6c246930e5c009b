"""The Anthropic sampler, through the real SDK, against the fake Messages API in fake_anthropic.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from papercoder_mcp.errors import SamplerError
from papercoder_mcp.samplers.anthropic import DEFAULT_MODEL, AnthropicSampler
from papercoder_mcp.samplers.base import Sampler, SampleRequest, Turn, Usage
from papercoder_mcp.samplers.pricing import cost_usd, price_for
from papercoder_mcp.samplers.retry import SamplerFailed, backoff_delay, retry_after_seconds

from fake_anthropic import FakeAnthropic, Fault, Reply, routed_responder, scripted_responder

pytestmark = pytest.mark.anyio

PLAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"steps": {"type": "array", "items": {"type": "string"}}, "title": {"type": "string"}},
    "required": ["steps", "title"],
}


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@asynccontextmanager
async def sampler_for(
    fake: FakeAnthropic, **kwargs: Any
) -> AsyncIterator[tuple[AnthropicSampler, list[float]]]:
    """A sampler on the fake whose sleeps are recorded instead of waited."""
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    kwargs.setdefault("backoff_base", 0.01)
    async with AnthropicSampler(api_key="test-key", base_url=fake.base_url, sleep=sleep, **kwargs) as sampler:
        yield sampler, sleeps


def request(**overrides: Any) -> SampleRequest:
    fields: dict[str, Any] = {
        "stage": "make_plan",
        "system": "You plan code for papers.",
        "prefix": ["PAPER: attention is all you need " * 20, "PLAN: a transformer " * 10],
        "prompt": "Write the plan.",
    }
    fields.update(overrides)
    return SampleRequest(**fields)


class TestPlainText:
    async def test_answer_text_usage_and_cost(self, fake: FakeAnthropic) -> None:
        fake.responder = lambda body: "the plan"
        async with sampler_for(fake) as (sampler, sleeps):
            done = await sampler.sample(request())
        assert isinstance(sampler, Sampler)
        assert done.text == "the plan"
        assert done.structured is None
        assert (done.sampler, done.model, done.stop_reason, done.attempt) == (
            "anthropic",
            DEFAULT_MODEL,
            "end_turn",
            1,
        )
        assert done.failed_attempts == [] and sleeps == []
        assert done.usage.output_tokens == 2  # len("the plan") / 4
        assert done.usage.input_tokens > 0
        assert done.cost_usd == pytest.approx(cost_usd(DEFAULT_MODEL, done.usage))
        assert done.latency_s > 0

    async def test_sdk_retries_are_off_and_the_key_is_sent(self, fake: FakeAnthropic) -> None:
        async with sampler_for(fake) as (sampler, _):
            await sampler.sample(request())
        headers = fake.headers[0]
        assert "test-key" in (headers.get("x-api-key", "") + headers.get("authorization", ""))
        assert headers.get("x-stainless-retry-count") == "0"


class TestRequestShape:
    async def test_system_prefix_prompt_and_followups(self, fake: FakeAnthropic) -> None:
        req = request(
            followups=[
                Turn(role="assistant", text="{bad json"),
                Turn(role="user", text="That was not JSON; again."),
            ],
            effort="high",
            max_tokens=1000,
            temperature=0.2,
        )
        async with sampler_for(fake) as (sampler, _):
            await sampler.sample(req)
        body = fake.requests[0]
        assert body["model"] == DEFAULT_MODEL
        assert body["max_tokens"] == 1000
        assert body["system"] == [{"type": "text", "text": "You plan code for papers."}]
        first = body["messages"][0]
        assert first["role"] == "user"
        assert [b["text"] for b in first["content"]] == [*req.prefix, req.prompt]
        # The last two prefix blocks are cache breakpoints (the shared prefix, and the part before it
        # that the previous stage cached); the per-call prompt is not.
        eph = {"type": "ephemeral"}
        assert [b.get("cache_control") for b in first["content"]] == [eph, eph, None]
        assert [(m["role"], m["content"][0]["text"]) for m in body["messages"][1:]] == [
            ("assistant", "{bad json"),
            ("user", "That was not JSON; again."),
        ]
        assert body["output_config"] == {"effort": "high"}
        assert "temperature" not in body  # current models reject sampling parameters
        assert "tools" not in body

    async def test_no_prefix_means_no_breakpoint_and_no_output_config(self, fake: FakeAnthropic) -> None:
        async with sampler_for(fake) as (sampler, _):
            await sampler.sample(request(prefix=[], system=""))
        body = fake.requests[0]
        assert body["messages"][0]["content"] == [{"type": "text", "text": "Write the plan."}]
        assert "system" not in body and "output_config" not in body

    async def test_max_tokens_is_capped_by_the_ceiling(self, fake: FakeAnthropic) -> None:
        async with sampler_for(fake, max_tokens_ceiling=4000) as (sampler, _):
            await sampler.sample(request(max_tokens=100_000))
        assert fake.requests[0]["max_tokens"] == 4000


class TestStructured:
    async def test_output_config_format(self, fake: FakeAnthropic) -> None:
        fake.responder = lambda body: {"steps": ["read", "code"], "title": "T"}
        async with sampler_for(fake) as (sampler, _):
            done = await sampler.sample(request(output_schema=PLAN_SCHEMA, effort="low"))
        assert done.structured == {"steps": ["read", "code"], "title": "T"}
        assert done.text.startswith("{")
        config = fake.requests[0]["output_config"]
        assert config["effort"] == "low"
        assert config["format"]["type"] == "json_schema"
        # transform_schema made it strict, as the API's structured outputs require.
        assert config["format"]["schema"]["additionalProperties"] is False
        assert "tools" not in fake.requests[0]

    async def test_unparsable_json_is_left_to_the_stage(self, fake: FakeAnthropic) -> None:
        fake.responder = lambda body: "not json"
        async with sampler_for(fake) as (sampler, _):
            done = await sampler.sample(request(output_schema=PLAN_SCHEMA))
        assert (done.text, done.structured) == ("not json", None)

    async def test_tool_fallback_forces_the_tool_where_the_model_allows_it(self, fake: FakeAnthropic) -> None:
        fake.responder = lambda body: {"steps": ["a"], "title": "T"}
        async with sampler_for(fake, model="claude-haiku-4-5", structured_mode="tool") as (sampler, _):
            done = await sampler.sample(request(output_schema=PLAN_SCHEMA, schema_name="plan"))
        body = fake.requests[0]
        assert body["tools"][0]["name"] == "plan"
        assert body["tools"][0]["input_schema"] == PLAN_SCHEMA
        assert body["tool_choice"] == {"type": "tool", "name": "plan"}
        assert "output_config" not in body
        assert done.structured == {"steps": ["a"], "title": "T"}
        assert done.stop_reason == "tool_use"

    async def test_tool_fallback_uses_auto_on_models_that_reject_forcing(self, fake: FakeAnthropic) -> None:
        fake.responder = lambda body: {"steps": [], "title": "T"}
        async with sampler_for(fake, structured_mode="tool") as (sampler, _):  # claude-sonnet-5-5
            done = await sampler.sample(request(output_schema=PLAN_SCHEMA))
        assert fake.requests[0]["tool_choice"] == {"type": "auto"}
        assert done.structured == {"steps": [], "title": "T"}

    async def test_a_400_on_forced_tool_choice_switches_to_auto(self, fake: FakeAnthropic) -> None:
        fake.responder = lambda body: {"steps": [], "title": "T"}
        fake.faults.append(
            Fault.error(
                400, "invalid_request_error", "tool_choice forcing tool use is not supported for this model"
            )
        )
        async with sampler_for(fake, model="claude-new-model", structured_mode="tool") as (sampler, sleeps):
            done = await sampler.sample(request(output_schema=PLAN_SCHEMA))
            assert [b["tool_choice"]["type"] for b in fake.requests] == ["tool", "auto"]
            assert done.structured == {"steps": [], "title": "T"}
            assert len(done.failed_attempts) == 1 and "tool_choice" in done.failed_attempts[0].error
            assert sleeps == []
            await sampler.sample(request(output_schema=PLAN_SCHEMA))  # remembered for later calls
        assert fake.requests[-1]["tool_choice"] == {"type": "auto"}

    async def test_non_object_schemas_are_wrapped_for_tools(self, fake: FakeAnthropic) -> None:
        fake.responder = lambda body: ["a.py", "b.py"]
        schema = {"type": "array", "items": {"type": "string"}}
        async with sampler_for(fake, model="claude-haiku-4-5", structured_mode="tool") as (sampler, _):
            done = await sampler.sample(request(output_schema=schema))
        assert fake.requests[0]["tools"][0]["input_schema"]["properties"]["value"] == schema
        assert done.structured == ["a.py", "b.py"]

    async def test_routed_responder_answers_each_stage(self, fake: FakeAnthropic) -> None:
        fake.responder = routed_responder(
            {"plan": {"steps": ["x"], "title": "P"}, r"file \S+\.py": "print(1)"}
        )
        async with sampler_for(fake) as (sampler, _):
            plan = await sampler.sample(request(output_schema=PLAN_SCHEMA))
            code = await sampler.sample(request(stage="generate_file", prompt="Write file model.py now."))
        assert plan.structured == {"steps": ["x"], "title": "P"}
        assert code.text == "print(1)"


class TestRetries:
    @pytest.mark.parametrize(
        ("fault", "error"),
        [
            (Fault.rate_limit(retry_after=None), "HTTP 429"),
            (Fault.overloaded(), "HTTP 529: overloaded_error"),
            (Fault.server_error(500), "HTTP 500"),
            (Fault.server_error(503), "HTTP 503"),
            (Fault.drop(), "connection failed"),
        ],
        ids=["429", "529", "500", "503", "dropped"],
    )
    async def test_each_transient_fault_recovers(self, fake: FakeAnthropic, fault: Fault, error: str) -> None:
        fake.responder = lambda body: "fine"
        fake.faults.append(fault)
        async with sampler_for(fake, backoff_base=0.5) as (sampler, sleeps):
            done = await sampler.sample(request())
        assert done.text == "fine" and done.attempt == 2
        assert len(fake.requests) == 2
        [failed] = done.failed_attempts
        assert failed.attempt == 1 and error in failed.error
        assert failed.usage == Usage() and failed.cost_usd == 0.0  # no answer, nothing billed
        assert len(sleeps) == 1 and 0 <= sleeps[0] <= 0.5

    async def test_timeout_is_retried(self, fake: FakeAnthropic) -> None:
        fake.faults.append(Fault.slow(2.0))
        async with sampler_for(fake, timeout=0.3) as (sampler, _):
            done = await sampler.sample(request())
        assert done.attempt == 2
        assert "timed out" in done.failed_attempts[0].error
        assert done.failed_attempts[0].latency_s >= 0.25

    @pytest.mark.parametrize(
        ("fault", "expected"),
        [
            (Fault.rate_limit(retry_after=7), 7.0),
            (Fault.rate_limit(retry_after=30, retry_after_ms=250), 0.25),  # the precise header wins
            (Fault.rate_limit(retry_after=1000), 60.0),  # capped at backoff_cap
        ],
        ids=["seconds", "milliseconds", "capped"],
    )
    async def test_retry_after_is_honoured(self, fake: FakeAnthropic, fault: Fault, expected: float) -> None:
        fake.faults.append(fault)
        async with sampler_for(fake, backoff_cap=60.0) as (sampler, sleeps):
            await sampler.sample(request())
        assert sleeps == [pytest.approx(expected)]

    async def test_backoff_grows_and_stays_under_its_bound(self, fake: FakeAnthropic) -> None:
        fake.faults.extend([Fault.overloaded()] * 4)
        async with sampler_for(fake, backoff_base=1.0, backoff_cap=3.0) as (sampler, sleeps):
            done = await sampler.sample(request())
        assert done.attempt == 5 and len(done.failed_attempts) == 4
        assert [a.attempt for a in done.failed_attempts] == [1, 2, 3, 4]
        for i, slept in enumerate(sleeps):
            assert 0 <= slept <= min(3.0, 2**i)

    async def test_retries_exhausted(self, fake: FakeAnthropic) -> None:
        fake.faults.extend([Fault.overloaded()] * 5)
        async with sampler_for(fake, max_retries=2) as (sampler, sleeps):
            with pytest.raises(SamplerError, match="kept failing") as caught:
                await sampler.sample(request())
        err = caught.value
        assert isinstance(err, SamplerFailed)
        assert len(err.failed_attempts) == 3 and len(fake.requests) == 3 and len(sleeps) == 2
        assert err.retryable and err.status_code == 529
        assert err.cost_usd == 0.0

    async def test_401_fails_at_once(self, fake: FakeAnthropic) -> None:
        fake.faults.append(Fault.unauthorized())
        async with sampler_for(fake) as (sampler, sleeps):
            with pytest.raises(SamplerError, match="ANTHROPIC_API_KEY was rejected") as caught:
                await sampler.sample(request())
        assert len(fake.requests) == 1 and sleeps == []
        assert isinstance(caught.value, SamplerFailed) and len(caught.value.failed_attempts) == 1
        assert caught.value.status_code == 401

    @pytest.mark.parametrize(
        ("status", "kind", "message"),
        [
            (400, "invalid_request_error", "the Anthropic API rejected the request"),
            (403, "permission_error", "may not use"),
            (404, "not_found_error", "was not found"),
        ],
    )
    async def test_client_errors_are_not_retried(
        self, fake: FakeAnthropic, status: int, kind: str, message: str
    ) -> None:
        # x-should-retry cannot talk the sampler into retrying a request that is wrong.
        fake.faults.append(Fault.error(status, kind, "nope", headers={"x-should-retry": "true"}))
        async with sampler_for(fake) as (sampler, sleeps):
            with pytest.raises(SamplerError, match=message):
                await sampler.sample(request())
        assert len(fake.requests) == 1 and sleeps == []

    async def test_should_retry_false_stops_a_5xx_retry(self, fake: FakeAnthropic) -> None:
        fake.faults.append(Fault.error(500, "api_error", "broken", headers={"x-should-retry": "false"}))
        async with sampler_for(fake) as (sampler, _):
            with pytest.raises(SamplerError, match="HTTP 500"):
                await sampler.sample(request())
        assert len(fake.requests) == 1

    async def test_custom_garbage_body_is_retried_as_a_5xx(self, fake: FakeAnthropic) -> None:
        fake.faults.append(Fault.custom(502, "<html>bad gateway</html>"))
        async with sampler_for(fake) as (sampler, _):
            done = await sampler.sample(request())
        assert done.attempt == 2 and "HTTP 502" in done.failed_attempts[0].error

    @pytest.fixture
    def no_credentials(self, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
        # HOME is already a temporary directory (conftest), so no profile on disk is found either.
        for name in (
            "ANTHROPIC_API_KEY",
            "ANTHROPIC_AUTH_TOKEN",
            "ANTHROPIC_PROFILE",
            "ANTHROPIC_CONFIG_DIR",
            "ANTHROPIC_IDENTITY_TOKEN",
            "ANTHROPIC_IDENTITY_TOKEN_FILE",
            "ANTHROPIC_FEDERATION_RULE_ID",
        ):
            monkeypatch.delenv(name, raising=False)
        return monkeypatch

    async def test_missing_credentials_are_named(
        self, fake: FakeAnthropic, no_credentials: pytest.MonkeyPatch
    ) -> None:
        async with AnthropicSampler(base_url=fake.base_url) as sampler:
            with pytest.raises(SamplerError, match="no Anthropic credentials"):
                await sampler.sample(request())
        assert fake.requests == []

    def test_a_broken_profile_is_a_sampler_error(
        self, fake: FakeAnthropic, no_credentials: pytest.MonkeyPatch
    ) -> None:
        no_credentials.setenv("ANTHROPIC_PROFILE", "no-such-profile")
        with pytest.raises(SamplerError, match="credentials could not be loaded"):
            AnthropicSampler(base_url=fake.base_url)


class TestTruncation:
    async def test_cut_answers_are_asked_again_with_a_doubled_budget(self, fake: FakeAnthropic) -> None:
        long_text = "x" * 400  # 100 tokens
        fake.responder = lambda body: long_text
        async with sampler_for(fake) as (sampler, sleeps):
            done = await sampler.sample(request(max_tokens=40))
        assert [b["max_tokens"] for b in fake.requests] == [40, 80, 160]
        assert done.text == long_text and done.stop_reason == "end_turn" and done.attempt == 3
        assert [a.stop_reason for a in done.failed_attempts] == ["max_tokens", "max_tokens"]
        # The cut attempts were billed, so their usage and cost reach the caller.
        assert [a.usage.output_tokens for a in done.failed_attempts] == [40, 80]
        assert all(a.cost_usd and a.cost_usd > 0 for a in done.failed_attempts)
        assert sleeps == []

    async def test_a_truncation_fault_is_retried(self, fake: FakeAnthropic) -> None:
        fake.responder = lambda body: "a complete answer"
        fake.faults.append(Fault.truncate())
        async with sampler_for(fake) as (sampler, _):
            done = await sampler.sample(request(max_tokens=500))
        assert [b["max_tokens"] for b in fake.requests] == [500, 1000]
        assert done.text == "a complete answer"

    async def test_never_returned_truncated_past_the_ceiling(self, fake: FakeAnthropic) -> None:
        fake.responder = lambda body: "y" * 4000
        async with sampler_for(fake, max_tokens_ceiling=300) as (sampler, _):
            with pytest.raises(SamplerError, match="still cut at max_tokens=300") as caught:
                await sampler.sample(request(max_tokens=100))
        assert [b["max_tokens"] for b in fake.requests] == [100, 200, 300]
        attempts = caught.value.failed_attempts  # type: ignore[attr-defined]
        assert len(attempts) == 3 and all(a.stop_reason == "max_tokens" for a in attempts)
        assert caught.value.cost_usd > 0  # type: ignore[attr-defined]

    async def test_cut_tool_call_is_retried(self, fake: FakeAnthropic) -> None:
        fake.responder = lambda body: {"steps": ["s" * 200], "title": "T"}
        async with sampler_for(fake, model="claude-haiku-4-5", structured_mode="tool") as (sampler, _):
            done = await sampler.sample(request(output_schema=PLAN_SCHEMA, max_tokens=20))
        assert done.structured == {"steps": ["s" * 200], "title": "T"}
        assert done.failed_attempts and done.failed_attempts[0].stop_reason == "max_tokens"

    async def test_refusal_is_not_retried(self, fake: FakeAnthropic) -> None:
        fake.responder = lambda body: Reply(text="I can't help with that.", stop_reason="refusal")
        async with sampler_for(fake) as (sampler, _):
            with pytest.raises(SamplerError, match="declined"):
                await sampler.sample(request())
        assert len(fake.requests) == 1


class TestCaching:
    async def test_shared_prefix_is_written_once_then_read(self, fake: FakeAnthropic) -> None:
        async with sampler_for(fake) as (sampler, _):
            first = await sampler.sample(request(prompt="Analyze model.py"))
            second = await sampler.sample(request(prompt="Analyze train.py"))
        assert first.usage.cache_write_tokens > 0 and first.usage.cache_read_tokens == 0
        assert second.usage.cache_read_tokens == first.usage.cache_write_tokens
        assert second.usage.cache_write_tokens == 0
        # The cached part is the system prompt plus both prefix blocks, not the per-call prompt.
        req = request()
        assert first.usage.cache_write_tokens == sum(-(-len(t) // 4) for t in [req.system, *req.prefix])
        assert second.cost_usd is not None and first.cost_usd is not None and second.cost_usd < first.cost_usd

    async def test_cache_tokens_are_priced_separately(self, fake: FakeAnthropic) -> None:
        async with sampler_for(fake) as (sampler, _):
            await sampler.sample(request())
            done = await sampler.sample(request())
        price = price_for(DEFAULT_MODEL)
        assert price is not None
        u = done.usage
        expected = (
            u.input_tokens * price.input
            + u.output_tokens * price.output
            + u.cache_read_tokens * price.cache_read
            + u.cache_write_tokens * price.cache_write
        ) / 1e6
        assert done.cost_usd == pytest.approx(expected)

    async def test_a_changed_prefix_is_written_again(self, fake: FakeAnthropic) -> None:
        async with sampler_for(fake) as (sampler, _):
            await sampler.sample(request())
            done = await sampler.sample(request(prefix=["PAPER: another paper", "PLAN: other"]))
        assert done.usage.cache_read_tokens == 0 and done.usage.cache_write_tokens > 0

    async def test_caches_are_per_model(self, fake: FakeAnthropic) -> None:
        async with (
            sampler_for(fake) as (sonnet, _),
            sampler_for(fake, model="claude-haiku-4-5") as (haiku, _),
        ):
            await sonnet.sample(request())
            done = await haiku.sample(request())
        assert done.usage.cache_read_tokens == 0


class TestCost:
    async def test_unknown_model_costs_none(self, fake: FakeAnthropic) -> None:
        fake.responder = scripted_responder("x" * 40, "ok")
        async with sampler_for(fake, model="claude-unreleased-9") as (sampler, _):
            done = await sampler.sample(request(max_tokens=5))
        assert done.cost_usd is None
        assert done.failed_attempts[0].cost_usd is None
        assert done.usage.output_tokens > 0

    async def test_dated_model_echo_is_priced_as_its_alias(self, fake: FakeAnthropic) -> None:
        fake.responder = lambda body: Reply(text="hi", model="claude-haiku-4-5-20251001")
        async with sampler_for(fake, model="claude-haiku-4-5") as (sampler, _):
            done = await sampler.sample(request())
        assert done.model == "claude-haiku-4-5-20251001"
        assert done.cost_usd == pytest.approx(cost_usd("claude-haiku-4-5", done.usage))


class TestRetryHelpers:
    def test_full_jitter_bounds(self) -> None:
        assert backoff_delay(1, base=1.0, cap=60.0, rand=lambda: 1.0) == 1.0
        assert backoff_delay(4, base=1.0, cap=60.0, rand=lambda: 1.0) == 8.0
        assert backoff_delay(10, base=1.0, cap=60.0, rand=lambda: 1.0) == 60.0
        assert backoff_delay(3, base=1.0, cap=60.0, rand=lambda: 0.0) == 0.0

    def test_retry_after_forms(self) -> None:
        assert retry_after_seconds({"retry-after": "3"}) == 3.0
        assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
        assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480.0) == 10.0
        assert retry_after_seconds({"retry-after": "soon"}) is None
        assert retry_after_seconds({}) is None


class TestStreaming:
    async def test_a_long_max_tokens_is_streamed_and_read_to_the_end(self, fake: FakeAnthropic) -> None:
        long_text = "def f():\n    return 1\n" * 200
        fake.responder = lambda body: long_text
        async with sampler_for(fake) as (sampler, _):
            done = await sampler.sample(request(max_tokens=32_000))
            short = await sampler.sample(request(max_tokens=8_000))
        assert fake.requests[0].get("stream") is True and not fake.requests[1].get("stream")
        assert fake.streamed == 1
        assert done.text == long_text == short.text
        assert done.usage.output_tokens == short.usage.output_tokens > 0
        assert done.cost_usd == pytest.approx(cost_usd(DEFAULT_MODEL, done.usage)) and done.cost_usd > 0

    async def test_structured_answers_stream_through_both_shapes(self, fake: FakeAnthropic) -> None:
        fake.responder = lambda body: {"steps": ["a", "b"], "title": "t"}
        for mode in ("output_config", "tool"):
            async with sampler_for(fake, structured_mode=mode) as (sampler, _):
                done = await sampler.sample(request(max_tokens=40_000, output_schema=PLAN_SCHEMA))
            assert done.structured == {"steps": ["a", "b"], "title": "t"}, mode
        assert fake.streamed == 2 and "tools" in fake.requests[-1]

    async def test_a_stream_cut_half_way_is_retried(self, fake: FakeAnthropic) -> None:
        fake.responder = lambda body: "x" * 4000
        fake.fail_next(Fault.cut_stream())
        async with sampler_for(fake) as (sampler, sleeps):
            done = await sampler.sample(request(max_tokens=30_000))
        assert done.text == "x" * 4000 and done.attempt == 2
        assert len(sleeps) == 1 and "connection" in done.failed_attempts[0].error

    async def test_the_budget_reserves_every_regrowth_of_max_tokens(self, fake: FakeAnthropic) -> None:
        async with sampler_for(fake, max_tokens_ceiling=64_000) as (sampler, _):
            assert sampler.billable_outputs(request(max_tokens=16_000)) == [16_000, 32_000, 64_000]
            assert sampler.billable_outputs(request(max_tokens=100_000)) == [64_000]


class TestRetryTimeIsBounded:
    async def test_a_call_gives_up_when_retrying_would_pass_the_time_limit(self, fake: FakeAnthropic) -> None:
        fake.fail_next(*[Fault.rate_limit(retry_after=40) for _ in range(5)])
        async with sampler_for(fake, max_retries=10, max_retry_time=100) as (sampler, sleeps):
            with pytest.raises(SamplerFailed) as err:
                await sampler.sample(request())
        # 40 s asked each time: two waits fit in 100 s, the third would not.
        assert sleeps == [40, 40]
        assert "gave up after" in str(err.value) and "limit for one call being 100s" in str(err.value)
        assert err.value.retryable and len(err.value.failed_attempts) == len(sleeps) + 1
