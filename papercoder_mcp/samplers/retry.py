"""Retry policy shared by samplers: backoff with full jitter, `retry-after` parsing, and the error that
carries the failed attempts when a sampler gives up."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping

from papercoder_mcp.errors import SamplerError
from papercoder_mcp.samplers.base import FailedAttempt


class SamplerFailed(SamplerError):
    """A sampler gave up; `failed_attempts` lists every attempt (with usage and cost when a response came
    back) so the caller can still record what was spent."""

    def __init__(
        self,
        message: str,
        failed_attempts: list[FailedAttempt] | None = None,
        *,
        status_code: int | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.failed_attempts = list(failed_attempts or [])
        self.status_code = status_code
        self.retryable = retryable  # True when we stopped only because retries ran out

    @property
    def cost_usd(self) -> float | None:
        """What the failed attempts cost together; None when any of them has an unknown price."""
        costs = [a.cost_usd for a in self.failed_attempts]
        if any(c is None for c in costs):
            return None
        return sum(c for c in costs if c is not None)


def backoff_delay(retry: int, *, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number `retry` (1-based): "full jitter", uniform in
    [0, min(cap, base * 2**(retry-1))], so many clients that failed together do not retry together."""
    ceiling = min(cap, base * 2.0 ** max(retry - 1, 0))
    return rand() * ceiling


def retry_after_seconds(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """The wait a server asked for: `retry-after-ms` (Anthropic's precise form) first, then
    `retry-after` as seconds or an HTTP date. None when absent or unparsable."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(float(ms) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        return None
    when = email.utils.mktime_tz(parsed)
    return max(when - (time.time() if now is None else now), 0.0)
