"""A cost budget shared by concurrent calls: a call reserves its worst case before it starts.

The same `Budget` caps every model source and evaluation alike. Two rules keep it honest:

- A cap is a cap: `max_usd=0` allows no spending at all (it does not mean "unlimited"; no budget
  object at all means that).
- A call whose price is unknown cannot be checked against a cap, so it is refused under one
  (`UnknownPrice`) instead of being let through as if it were free; give the model a price
  (`--price IN/OUT`) or drop the cap.
"""

from __future__ import annotations

import threading

from papercoder_mcp.errors import BudgetExceeded


class UnknownPrice(BudgetExceeded):
    """A cost cap is set but the model's price is not known, so the cap could not be enforced."""


class Budget:
    """Stops cleanly *before* a call that could take the spending past `max_usd`.

    In-flight calls hold a reservation (their worst case: the largest output they may be billed for,
    re-asks at a larger max_tokens included) until their real cost is known, so concurrent calls
    cannot together overshoot the cap.
    """

    def __init__(self, max_usd: float, spent_usd: float = 0.0) -> None:
        if max_usd < 0:
            raise ValueError("a cost cap cannot be negative")
        self.max_usd = max_usd
        self.spent_usd = spent_usd
        self.reserved_usd = 0.0
        self._lock = threading.Lock()

    def reserve(self, estimate_usd: float | None, what: str, model: str = "") -> float:
        """Hold `estimate_usd` for a call about to start; `None` means its price is unknown."""
        if estimate_usd is None:
            raise UnknownPrice(
                f"{what}: the price of model {model!r} is unknown, so the ${self.max_usd:.2f} cost cap cannot "
                "be enforced; give its price (--price INPUT/OUTPUT in USD per million tokens) or run without "
                "a cap"
            )
        with self._lock:
            if self.spent_usd + self.reserved_usd + estimate_usd > self.max_usd:
                raise BudgetExceeded(
                    f"{what} could cost up to ${estimate_usd:.4f}, taking the spending past its budget "
                    f"(${self.spent_usd:.4f} spent, ${self.reserved_usd:.4f} reserved by calls in flight, "
                    f"of ${self.max_usd:.2f}); raise --max-cost and resume"
                )
            self.reserved_usd += estimate_usd
            return estimate_usd

    def settle(self, reservation: float, actual_usd: float | None) -> None:
        with self._lock:
            self.reserved_usd = max(0.0, self.reserved_usd - reservation)
            self.spent_usd += actual_usd if actual_usd is not None else reservation


def budget_for(max_usd: float | None, spent_usd: float = 0.0) -> Budget | None:
    """A budget when a cap is given (0 included), none when the spending is not capped."""
    return None if max_usd is None else Budget(max_usd, spent_usd)
