"""When to try a failed send again: exponential backoff with full jitter, capped by send_by.

The n-th retry waits a uniformly random time in ``[0, min(cap, base * 2**(n-1))]`` ("full
jitter": retries of many invites spread out instead of arriving together), or the
provider's ``Retry-After`` when that is longer. A retry that would fall at or after the
invite's ``send_by`` is not scheduled: the invite expires instead, because a late invite is
worse than none.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = ["RetryDecision", "RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """What to do after a retryable failure.

    Attributes:
        action: ``retry`` (at ``at``), ``expire`` (the retry would be too late) or ``fail``
            (attempts used up: dead-letter).
        at: When to try again (``retry`` only).
    """

    action: str
    at: datetime | None = None


@dataclass(slots=True)
class RetryPolicy:
    """Backoff parameters.

    Args:
        base: Seconds: the ceiling of the first backoff.
        cap: Seconds: the largest backoff ceiling.
        max_attempts: Attempts (sends) before an invite is dead-lettered.
        rng: Random source (tests seed it).
    """

    base: float = 1.0
    cap: float = 300.0
    max_attempts: int = 5
    rng: random.Random = field(default_factory=random.Random)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.cap, self.base * 2.0 ** min(max(attempt, 1) - 1, 60))
        return self.rng.uniform(0.0, ceiling)

    def decide(
        self,
        *,
        attempt: int,
        now: datetime,
        send_by: datetime,
        retry_after: float | None = None,
    ) -> RetryDecision:
        """The next step after failed attempt ``attempt``."""
        if attempt >= self.max_attempts:
            return RetryDecision("fail")
        delay = self.backoff(attempt)
        if retry_after is not None:
            delay = max(delay, retry_after)
        at = now + timedelta(seconds=delay)
        if at >= send_by:
            return RetryDecision("expire")
        return RetryDecision("retry", at)
