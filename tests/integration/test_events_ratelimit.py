"""Events per device per minute: token buckets (pure) and the 429 through HTTP."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.events.services import DeviceRateLimiter
from app.main import create_app
from app.settings import Settings
from tests.conftest import TEST_SECRET, TokenFactory
from tests.factories import event_body

Client = AsyncTestClient[Litestar]

NOON = dt.datetime(2025, 3, 14, 12, 30, tzinfo=dt.UTC)


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_holds_a_minute_and_refills_steadily() -> None:
    time = FakeTime()
    limiter = DeviceRateLimiter(120, clock=time)
    key = ("c1", "d1")
    assert limiter.take({key: 100}) is None
    assert limiter.take({key: 20}) is None
    assert limiter.take({key: 1}) == 1.0  # empty: 2 tokens a second come back
    time.now += 5
    assert limiter.take({key: 10}) is None
    assert limiter.take({key: 1}) == 1.0


def test_devices_and_customers_have_their_own_buckets() -> None:
    limiter = DeviceRateLimiter(10, clock=FakeTime())
    assert limiter.take({("c1", "d1"): 10}) is None
    assert limiter.take({("c1", "d2"): 10}) is None
    assert limiter.take({("c2", "d1"): 10}) is None
    assert limiter.take({("c1", "d1"): 1}) is not None


def test_all_or_nothing_and_the_wait_is_for_the_emptiest() -> None:
    time = FakeTime()
    limiter = DeviceRateLimiter(60, clock=time)  # one token a second
    assert limiter.take({("c1", "a"): 60}) is None
    wait = limiter.take({("c1", "a"): 30, ("c1", "b"): 1})
    assert wait == 30.0
    assert limiter.take({("c1", "b"): 60}) is None  # b was not charged


def test_a_batch_larger_than_the_bucket_needs_a_full_bucket_and_leaves_a_debt() -> None:
    time = FakeTime()
    limiter = DeviceRateLimiter(60, clock=time)
    assert limiter.take({("c1", "a"): 100}) is None
    assert limiter.take({("c1", "a"): 1}) == 41.0  # 40 tokens of debt, then one
    time.now += 100
    assert limiter.take({("c1", "a"): 100}) is None


def test_zero_turns_the_limit_off_and_idle_buckets_are_forgotten() -> None:
    assert DeviceRateLimiter(0).take({("c1", "a"): 10_000}) is None
    time = FakeTime()
    limiter = DeviceRateLimiter(60, clock=time, max_keys=10)
    for n in range(11):
        limiter.take({("c1", f"d{n}"): 1})
    time.now += 61
    limiter.take({("c1", "fresh"): 1})
    assert len(limiter._buckets) <= 2


@pytest.fixture
async def limited(db_url: str, tmp_path: Path) -> AsyncIterator[Client]:
    settings = Settings.from_env(
        {
            "KAIROS_DATABASE_URL": db_url,
            "KAIROS_DATA_DIR": str(tmp_path / "data"),
            "KAIROS_JWT_SECRET": TEST_SECRET,
            "KAIROS_MIGRATE_ON_START": "false",
            "KAIROS_INGEST_RATE_LIMIT": "5",
        }
    )
    app = create_app(settings)
    app.state.clock = lambda: NOON
    async with AsyncTestClient(app=app) as client:
        yield client


async def test_over_the_limit_is_a_429_with_retry_after_and_nothing_stored(
    limited: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    headers = auth("customer", sub="c1")
    batch = [event_body(at=NOON, north_m=3000 + n) for n in range(5)]
    assert (
        await limited.post("/v1/events", json={"events": batch}, headers=headers)
    ).status_code == 200
    refused = await limited.post(
        "/v1/events", json={"events": [event_body(at=NOON, north_m=3000)]}, headers=headers
    )
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"] == "urn:kairos:problem:rate-limited"
    assert int(refused.headers["retry-after"]) >= 1
    assert await db.fetchval("SELECT count(*) FROM events") == 5
    # Another device of the same customer has its own allowance.
    other = await limited.post(
        "/v1/events",
        json={"events": [event_body(at=NOON, north_m=3000, device_id="tablet")]},
        headers=headers,
    )
    assert other.status_code == 200
