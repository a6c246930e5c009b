"""What an Anthropic API call costs, in US dollars, from its token usage.

Prices are USD per million tokens (MTok) on the Claude API's standard tier, as
published on https://platform.claude.com/docs/en/about-claude/pricing and the
per-model overview pages under https://platform.claude.com/docs/en/models/.
Cache writes are priced at the 5-minute TTL rate, the only one our sampler asks
for. Batch, fast mode, `inference_geo` surcharges and the 1-hour cache are not
modelled.

A model whose price we could not confirm is left out on purpose: `price_for`
returns None and every cost is None ("unknown"), never a guess and never a
crash. Left out for that reason (SDK 2.14 model list):

- claude-fable-5-2, claude-mythos-5-2: only third-party resellers quote a
  price; no Anthropic page for them was found.
- claude-mythos-preview: no published per-token price found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ModelPrice:
    """USD per million tokens. `long_prompt` replaces every rate when a request's prompt is longer than
    `long_prompt_threshold` tokens (Haiku 5.5 bills the whole request at the higher band then)."""

    input: float
    output: float
    cache_write: float
    cache_read: float
    long_prompt_threshold: int | None = None
    long_prompt: ModelPrice | None = None

    def band(self, prompt_tokens: int) -> ModelPrice:
        """The rates that apply to a request whose prompt (input + cache reads + cache writes) has this size."""
        if self.long_prompt is not None and self.long_prompt_threshold is not None:
            if prompt_tokens > self.long_prompt_threshold:
                return self.long_prompt
        return self


class _UsageLike(Protocol):
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int


def _standard(input: float, output: float, *, cache_read: float | None = None) -> ModelPrice:
    """Anthropic's usual ratios: a 5-minute cache write costs 1.25x input, a cache hit 0.1x input.

    Some newer models have a cheaper cache hit, so it can be given explicitly."""
    return ModelPrice(
        input=input,
        output=output,
        cache_write=round(input * 1.25, 6),
        cache_read=round(input * 0.1, 6) if cache_read is None else cache_read,
    )


# Keyed by the undated alias; dated ids and "[1m]" variants are mapped onto these by `canonical_model`.
PRICES: dict[str, ModelPrice] = {
    # Pricing page, "Model pricing" table: $10 / $12.50 (5m write) / $0.25 (hit) / $50.
    "claude-fable-5-1": _standard(10.0, 50.0, cache_read=0.25),
    "claude-mythos-5-1": _standard(10.0, 50.0, cache_read=0.25),
    # Pricing page: $10 / $12.50 / $1 / $50.
    "claude-fable-5": _standard(10.0, 50.0, cache_read=1.0),
    "claude-mythos-5": _standard(10.0, 50.0, cache_read=1.0),
    # models/opus-5-5/overview: $4 in, $20 out, $5 5m write, $0.20 cache read.
    "claude-opus-5-5": _standard(4.0, 20.0, cache_read=0.20),
    # Pricing page and models/opus-5/overview: $5 / $6.25 / $0.50 / $25; Opus 4.5-4.8 share the card.
    "claude-opus-5": _standard(5.0, 25.0),
    "claude-opus-4-8": _standard(5.0, 25.0),
    "claude-opus-4-7": _standard(5.0, 25.0),
    "claude-opus-4-6": _standard(5.0, 25.0),
    "claude-opus-4-5": _standard(5.0, 25.0),
    # models/sonnet-5-5/migration-guide: "the same prices as Claude Sonnet 5, except for prompt cache
    # reads, which cost $0.10 USD per million tokens" (cut from $0.20 on 2026-10-07).
    "claude-sonnet-5-5": _standard(2.0, 10.0, cache_read=0.10),
    # models/sonnet-5/overview: $2 / $2.50 / $0.20 / $10 (the announced rise to $3/$15 did not happen).
    "claude-sonnet-5": _standard(2.0, 10.0),
    # $3 / $15 with the standard cache ratios ($3.75 / $0.30), as the pricing page lists them (its rows
    # for these were cut from the copy we could read; confirmed by several trackers quoting it).
    "claude-sonnet-4-6": _standard(3.0, 15.0),
    "claude-sonnet-4-5": _standard(3.0, 15.0),
    # $1 / $5 with the standard ratios ($1.25 / $0.10); same sourcing as the Sonnet 4.x rows.
    "claude-haiku-4-5": _standard(1.0, 5.0),
    # models/haiku-5-5/overview: priced by prompt length; up to 100,000 tokens $0.10 in / $0.50 out /
    # $0.125 5m write / $0.01 hit, above it $0.50 / $2.50 / $0.625 / $0.05 on every token of the request.
    "claude-haiku-5-5": ModelPrice(
        input=0.10,
        output=0.50,
        cache_write=0.125,
        cache_read=0.01,
        long_prompt_threshold=100_000,
        long_prompt=ModelPrice(input=0.50, output=2.50, cache_write=0.625, cache_read=0.05),
    ),
}

_DATED = re.compile(r"-\d{8}$")


def canonical_model(model: str) -> str:
    """The alias a model id is priced under: "claude-haiku-4-5-20251001" -> "claude-haiku-4-5".

    The 1M-context variants ("claude-sonnet-5-5[1m]") bill at the same rates, so the suffix is dropped."""
    name = model.strip().lower()
    name = name.removesuffix("[1m]")
    return _DATED.sub("", name)


# Prices given by the user (`--price`) for models we do not list, or to replace a listed one.
_GIVEN: dict[str, ModelPrice] = {}


def set_price(model: str, input: float, output: float) -> ModelPrice:
    """Price `model` at `input` / `output` USD per million tokens for this process (cache writes at
    1.25x input, cache reads at 0.1x, Anthropic's usual ratios), so a cost cap can be enforced."""
    if input < 0 or output < 0:
        raise ValueError("a price cannot be negative")
    price = _standard(input, output)
    _GIVEN[canonical_model(model)] = price
    return price


def parse_price(text: str) -> tuple[float, float]:
    """'3/15' (USD per million input / output tokens) as two numbers; ValueError names the problem."""
    parts = text.replace(",", "/").replace(":", "/").split("/")
    if len(parts) != 2:
        raise ValueError(f"price {text!r} should be INPUT/OUTPUT in USD per million tokens, e.g. 3/15")
    try:
        values = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"price {text!r} should be two numbers, INPUT/OUTPUT, e.g. 3/15") from None
    if values[0] < 0 or values[1] < 0:
        raise ValueError(f"price {text!r} cannot be negative")
    return values


def price_for(model: str) -> ModelPrice | None:
    """The price of `model` (one the user gave first, else the published one), or None when unknown."""
    name = canonical_model(model)
    return _GIVEN.get(name) or PRICES.get(name)


def cost_usd(model: str, usage: _UsageLike) -> float | None:
    """What a call with this usage cost; None for a model without a confirmed price.

    Input, cache writes and cache reads are separate, non-overlapping counts in the API's usage block,
    so each is billed once at its own rate."""
    price = price_for(model)
    if price is None:
        return None
    prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    rate = price.band(prompt)
    total = (
        usage.input_tokens * rate.input
        + usage.output_tokens * rate.output
        + usage.cache_write_tokens * rate.cache_write
        + usage.cache_read_tokens * rate.cache_read
    ) / 1_000_000
    return round(total, 10)  # drop float noise such as 0.30000000000000004 from the call log


def estimate_cost(model: str, input_tokens: int, output_tokens: int) -> float | None:
    """A budget check before a call: every input token priced as uncached (an upper bound on caching)."""
    price = price_for(model)
    if price is None:
        return None
    rate = price.band(input_tokens)
    return round((input_tokens * rate.input + output_tokens * rate.output) / 1_000_000, 10)
