"""Events per device per minute: an in-process token bucket per (customer, device).

Each bucket holds up to ``per_minute`` tokens and refills at ``per_minute / 60`` per second;
every event costs one. A request is let through when each of its devices' buckets holds
enough for it (or is full, for a batch larger than the bucket), and then pays in full; a
bucket may go into debt, so the rate over time never exceeds the limit. Otherwise nothing is
taken and the caller answers 429 with the seconds to wait.

Buckets live in this process: with several API processes behind a balancer, a device gets
up to the limit in each (the limit is a guard against runaway apps, not billing). The
limiter measures real elapsed time (``time.monotonic``), not the application clock, so a
simulation clock running fast does not loosen it.

Keys are (customer, device): an app cannot spend another customer's allowance by naming its
device id.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

__all__ = ["DeviceRateLimiter"]

Key = tuple[str, str]


class DeviceRateLimiter:
    """Token buckets per (customer, device).

    Args:
        per_minute: Events per device per minute; 0 disables the limit.
        clock: Seconds from a monotonic clock (tests pass a fake).
        max_keys: Buckets kept before idle (full) ones are dropped.
    """

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[Key, tuple[float, float]] = {}  # key -> (tokens, as of)

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def _level(self, key: Key, now: float) -> float:
        held = self._buckets.get(key)
        if held is None:
            return self.capacity
        tokens, since = held
        return min(self.capacity, tokens + (now - since) * self.rate)

    def take(self, costs: Mapping[Key, int]) -> float | None:
        """Spend ``costs`` (events per key), all or nothing.

        Returns:
            None when allowed; else the seconds until the request would be (at least 1).
        """
        if not self.enabled:
            return None
        now = self._clock()
        levels = {key: self._level(key, now) for key in costs}
        wait = 0.0
        for key, cost in costs.items():
            needed = min(float(cost), self.capacity)
            if levels[key] < needed:
                wait = max(wait, (needed - levels[key]) / self.rate)
        if wait > 0:
            return float(max(1, math.ceil(wait)))
        for key, cost in costs.items():
            self._buckets[key] = (levels[key] - cost, now)
        if len(self._buckets) > self._max_keys:
            self._forget_idle(now)
        return None

    def _forget_idle(self, now: float) -> None:
        """Drop buckets that have refilled: forgetting them changes nothing."""
        full = [
            key
            for key, (tokens, since) in self._buckets.items()
            if tokens + (now - since) * self.rate >= self.capacity
        ]
        for key in full:
            del self._buckets[key]
