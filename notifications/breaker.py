"""A circuit breaker per gateway, so one provider that is down never holds up the others.

Closed: requests flow; consecutive failures (retryable outcomes: 429, 5xx, timeouts) are
counted and any success resets the count. At ``failure_threshold`` the circuit opens: no
request is sent for ``reset_seconds`` and the dispatcher puts that gateway's invites back
for later without spending an attempt. Then it is half-open: one trial request goes
through; success closes the circuit, failure opens it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

__all__ = ["CircuitBreaker"]

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Args:
    failure_threshold: Consecutive failures that open the circuit.
    reset_seconds: How long it stays open before a trial request.
    clock: Monotonic seconds (tests move it).
    """

    def __init__(
        self,
        failure_threshold: int = 10,
        reset_seconds: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = failure_threshold
        self._reset = reset_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> State:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self._reset:
            return "half_open"
        return "open"

    def retry_in(self) -> float:
        """Seconds until the circuit lets a trial through (0 when it would now)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._reset - (self._clock() - self._opened_at))

    def allow(self) -> bool:
        """May a request go now? In half-open state only one trial at a time."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_in_flight = False

    def record_failure(self) -> None:
        self._trial_in_flight = False
        if self._opened_at is not None:
            self._opened_at = self._clock()  # the trial failed: open again
            return
        self._failures += 1
        if self._failures >= self._threshold:
            self._opened_at = self._clock()
