"""A guard for pure functions: inside it, reading the clock or drawing randomness fails.

    with forbid_clock_and_randomness():
        decide(inputs, now)

Comparing two calls cannot catch a clock read (both calls read a clock that barely moved),
so the guard watches the calls themselves: a profile hook sees every call of a C function
in this thread and raises :class:`ImpureCall` on ``datetime.now`` / ``utcnow`` / ``today``,
``date.today``, ``time.time`` / ``monotonic`` / ``perf_counter`` (and their ``_ns``
forms), ``os.urandom`` (``uuid4`` and ``secrets`` use it) and the ``random`` module's
shared generator (a seeded ``random.Random(seed)`` of one's own is fine). Every violation
is also recorded and raised again when the block ends, so code that swallows the first
exception still fails the test.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = ["ImpureCall", "forbid_clock_and_randomness"]

_CLOCK_FUNCTIONS = frozenset(
    {
        time.time,
        time.time_ns,
        time.monotonic,
        time.monotonic_ns,
        time.perf_counter,
        time.perf_counter_ns,
        time.process_time,
        os.urandom,
    }
)
_CLOCK_METHODS = {"now", "utcnow", "today"}
_RANDOM_METHODS = {"random", "getrandbits", "randbytes"}


class ImpureCall(AssertionError):
    """A pure function read the clock or drew randomness."""


def _forbidden(function: Any) -> str | None:
    if function in _CLOCK_FUNCTIONS:
        return f"{function.__module__}.{function.__name__}"
    name = getattr(function, "__name__", "")
    owner = getattr(function, "__self__", None)
    if name in _CLOCK_METHODS and isinstance(owner, type) and issubclass(owner, dt.date):
        return f"{owner.__name__}.{name}"
    # The module's shared generator (random.random(), randint(), ...) is seeded from the OS;
    # a seeded generator of one's own is deterministic and allowed.
    shared = owner is getattr(random, "_inst", None) or isinstance(owner, random.SystemRandom)
    if name in _RANDOM_METHODS and shared:
        return f"random.{name}"
    return None


@contextmanager
def forbid_clock_and_randomness() -> Iterator[list[str]]:
    """Fail when the code inside reads the clock or draws randomness (this thread).

    Yields:
        The violations seen so far (for tests of the guard itself).

    Raises:
        ImpureCall: At the offending call, and again when the block ends.
    """
    violations: list[str] = []

    def hook(frame: FrameType, event: str, arg: Any) -> None:
        if event != "c_call":
            return
        what = _forbidden(arg)
        if what is not None:
            violations.append(what)
            raise ImpureCall(f"{what}() called inside a pure function")

    # Garbage collection runs other code's callbacks (hypothesis times them) in this thread.
    collecting = gc.isenabled()
    gc.disable()
    previous = sys.getprofile()
    sys.setprofile(hook)
    try:
        yield violations
    finally:
        sys.setprofile(previous)
        if collecting:
            gc.enable()
    if violations:
        raise ImpureCall(
            "clock or randomness read inside a pure function: " + ", ".join(violations)
        )
