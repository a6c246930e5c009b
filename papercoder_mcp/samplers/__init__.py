"""Samplers: where the model comes from (Anthropic API, MCP client sampling, agent handoff, fakes)."""

from __future__ import annotations

from papercoder_mcp.samplers.base import Completion, FailedAttempt, Sampler, SampleRequest, Turn, Usage

__all__ = ["Completion", "FailedAttempt", "SampleRequest", "Sampler", "Turn", "Usage"]
