from __future__ import annotations

import pytest

from papercoder_mcp.samplers.base import Usage
from papercoder_mcp.samplers.pricing import PRICES, canonical_model, cost_usd, estimate_cost, price_for


class TestLookup:
    @pytest.mark.parametrize(
        ("model", "alias"),
        [
            ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
            ("claude-opus-4-5-20251101", "claude-opus-4-5"),
            ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
            ("claude-sonnet-5-5[1m]", "claude-sonnet-5-5"),
            ("  Claude-Sonnet-5-5 ", "claude-sonnet-5-5"),
            ("claude-opus-4-8", "claude-opus-4-8"),
        ],
    )
    def test_dated_and_variant_ids_map_to_their_alias(self, model: str, alias: str) -> None:
        assert canonical_model(model) == alias
        assert price_for(model) is PRICES[alias]

    @pytest.mark.parametrize("model", ["claude-fable-5-2", "claude-mythos-preview", "gpt-4o", "", "claude-9"])
    def test_unknown_models_have_no_price(self, model: str) -> None:
        assert price_for(model) is None
        assert cost_usd(model, Usage(input_tokens=10, output_tokens=10)) is None
        assert estimate_cost(model, 10, 10) is None

    def test_default_model_is_priced(self) -> None:
        from papercoder_mcp.samplers.anthropic import DEFAULT_MODEL

        assert price_for(DEFAULT_MODEL) is not None

    def test_every_sdk_model_is_priced_or_deliberately_left_out(self) -> None:
        from typing import get_args

        from anthropic.types.model_param import ModelParam

        literal = get_args(ModelParam)[0]
        unpriced = {m for m in get_args(literal) if price_for(m) is None}
        # Each of these is named in pricing.py's docstring as unconfirmed.
        assert unpriced <= {"claude-fable-5-2", "claude-mythos-5-2", "claude-mythos-preview"}


class TestCost:
    def test_each_token_kind_is_billed_at_its_own_rate(self) -> None:
        usage = Usage(
            input_tokens=1_000_000,
            output_tokens=1_000_000,
            cache_read_tokens=1_000_000,
            cache_write_tokens=1_000_000,
        )
        # Opus 4.8: $5 in, $25 out, $6.25 5-minute write (1.25x), $0.50 read (0.1x).
        assert cost_usd("claude-opus-4-8", usage) == pytest.approx(5 + 25 + 6.25 + 0.50)

    def test_standard_cache_ratios(self) -> None:
        price = PRICES["claude-sonnet-4-6"]
        assert price.cache_write == pytest.approx(price.input * 1.25)
        assert price.cache_read == pytest.approx(price.input * 0.1)

    def test_models_with_cheaper_cache_hits(self) -> None:
        assert PRICES["claude-sonnet-5-5"].cache_read == pytest.approx(0.10)
        assert PRICES["claude-opus-5-5"].cache_read == pytest.approx(0.20)
        assert PRICES["claude-fable-5-1"].cache_read == pytest.approx(0.25)

    def test_cache_reads_are_cheaper_than_writes_and_uncached_input(self) -> None:
        read = cost_usd("claude-sonnet-5-5", Usage(cache_read_tokens=100_000))
        write = cost_usd("claude-sonnet-5-5", Usage(cache_write_tokens=100_000))
        fresh = cost_usd("claude-sonnet-5-5", Usage(input_tokens=100_000))
        assert read is not None and write is not None and fresh is not None
        assert read < fresh < write

    def test_haiku_5_5_long_prompts_bill_every_token_at_the_higher_band(self) -> None:
        short = Usage(input_tokens=60_000, cache_read_tokens=40_000, output_tokens=1_000)  # exactly 100k
        long = Usage(input_tokens=60_000, cache_read_tokens=40_001, output_tokens=1_000)
        assert cost_usd("claude-haiku-5-5", short) == pytest.approx(
            (60_000 * 0.10 + 40_000 * 0.01 + 1_000 * 0.50) / 1e6
        )
        assert cost_usd("claude-haiku-5-5", long) == pytest.approx(
            (60_000 * 0.50 + 40_001 * 0.05 + 1_000 * 2.50) / 1e6
        )

    def test_zero_usage_costs_nothing(self) -> None:
        assert cost_usd("claude-sonnet-5-5", Usage()) == 0.0


class TestEstimate:
    def test_estimate_prices_all_input_as_uncached(self) -> None:
        assert estimate_cost("claude-sonnet-5-5", 1_000_000, 100_000) == pytest.approx(2.0 + 1.0)

    def test_estimate_is_an_upper_bound_of_a_cached_call(self) -> None:
        cached = cost_usd(
            "claude-sonnet-5-5", Usage(input_tokens=1_000, cache_read_tokens=99_000, output_tokens=500)
        )
        estimate = estimate_cost("claude-sonnet-5-5", 100_000, 500)
        assert cached is not None and estimate is not None and cached < estimate
