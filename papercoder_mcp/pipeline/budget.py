"""A run's cost budget, shared by concurrent calls: a call reserves its estimate before it starts."""

from __future__ import annotations

import threading

from papercoder_mcp.errors import BudgetExceeded


class Budget:
    """Stops cleanly *before* a call that would take the run over `max_usd`.

    In-flight calls hold a reservation (their estimate) until their real cost is
    known, so concurrent calls cannot together overshoot by more than one estimate error.
    """

    def __init__(self, max_usd: float | None, spent_usd: float = 0.0) -> None:
        self.max_usd = max_usd
        self.spent_usd = spent_usd
        self.reserved_usd = 0.0
        self._lock = threading.Lock()

    def reserve(self, estimate_usd: float, what: str) -> float:
        with self._lock:
            if self.max_usd is not None and self.spent_usd + self.reserved_usd + estimate_usd > self.max_usd:
                raise BudgetExceeded(
                    f"{what} would cost about ${estimate_usd:.4f}, taking the run past its budget "
                    f"(${self.spent_usd:.4f} spent of ${self.max_usd:.2f}); raise --max-cost and resume"
                )
            self.reserved_usd += estimate_usd
            return estimate_usd

    def settle(self, reservation: float, actual_usd: float | None) -> None:
        with self._lock:
            self.reserved_usd = max(0.0, self.reserved_usd - reservation)
            self.spent_usd += actual_usd if actual_usd is not None else reservation
