"""The purity guard itself: it must catch what it claims to catch, or tests that use it
prove nothing."""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from time import monotonic
from typing import Any

import pytest

from tests.purity import ImpureCall, forbid_clock_and_randomness

READS: list[tuple[str, Callable[[], Any]]] = [
    ("datetime.now", lambda: dt.datetime.now(dt.UTC)),
    ("from-imported datetime.now", lambda: datetime.now()),
    ("datetime.utcnow", lambda: dt.datetime.utcnow()),
    ("date.today", lambda: dt.date.today()),
    ("time.time", lambda: time.time()),
    ("time.monotonic", lambda: time.monotonic()),
    ("from-imported monotonic", lambda: monotonic()),
    ("time.perf_counter_ns", lambda: time.perf_counter_ns()),
    ("random.random", lambda: random.random()),
    ("random.randint", lambda: random.randint(1, 6)),
    ("uuid4", lambda: uuid.uuid4()),
]


@pytest.mark.parametrize("read", [r[1] for r in READS], ids=[r[0] for r in READS])
def test_every_clock_or_randomness_read_raises(read: Callable[[], Any]) -> None:
    with pytest.raises(ImpureCall), forbid_clock_and_randomness():
        read()


def test_a_swallowed_read_still_fails_when_the_block_ends() -> None:
    def sneaky() -> float:
        try:
            return time.time()
        except ImpureCall:
            return 0.0

    with pytest.raises(ImpureCall, match=r"time\.time"), forbid_clock_and_randomness():
        assert sneaky() == 0.0


def test_pure_code_passes_and_the_hook_is_removed() -> None:
    at = dt.datetime(2025, 3, 14, 12, tzinfo=dt.UTC)
    with forbid_clock_and_randomness() as violations:
        shifted = at.astimezone(dt.timezone(dt.timedelta(hours=1))) + dt.timedelta(minutes=5)
        seeded = random.Random(7).random()  # a seeded generator of one's own is fine
    assert violations == []
    assert shifted.hour == 13
    assert 0 <= seeded < 1
    assert time.time() > 0  # outside the block the clock reads normally
