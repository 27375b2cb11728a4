"""Dwell from the worker's sweep: a customer who stayed inside without reporting gets a
dwell decision, once, and the sweep never blocks on (or deadlocks with) a batch being
ingested for the same customer."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.db import create_pool
from app.events.services import decide_swept_dwell
from app.settings import Settings
from notifications.scheduler import PeriodicJobs
from tests.conftest import TokenFactory
from tests.factories import event_body, event_world

Client = AsyncTestClient[Litestar]

BEFORE_OPENING = dt.datetime(2025, 3, 14, 8, 55, tzinfo=dt.UTC)  # opens 09:00 (London)
AFTER_OPENING = dt.datetime(2025, 3, 14, 9, 1, tzinfo=dt.UTC)


@pytest.fixture
async def jobs(settings: Settings) -> AsyncIterator[PeriodicJobs]:
    pool = await create_pool(settings)
    try:
        yield PeriodicJobs(
            pool,
            clock=lambda: AFTER_OPENING,
            worker_id="w1",
            wake=lambda: None,
            dwell_handler=decide_swept_dwell,
        )
    finally:
        await pool.close()


@pytest.fixture
async def entered_early(client: Client, auth: TokenFactory, app: Litestar) -> None:
    """c1 walked into s1 five minutes before it opened (suppressed: store closed)."""
    await event_world(client, auth, app, dwell_seconds=120)
    app.state.clock = lambda: BEFORE_OPENING
    response = await client.post(
        "/v1/events",
        json={"events": [event_body(at=BEFORE_OPENING)]},
        headers=auth("customer", sub="c1"),
    )
    [decision] = response.json()["results"][0]["decisions"]
    assert decision["reason_codes"][0] == "store_closed"


async def test_a_swept_dwell_is_decided_once(
    entered_early: None, jobs: PeriodicJobs, db: asyncpg.Connection
) -> None:
    assert await jobs.sweep_dwell(db, AFTER_OPENING) == 1
    dwell = await db.fetchrow("SELECT * FROM events WHERE type = 'dwell'")
    assert dwell["status"] == "swept"
    assert dwell["occurred_at"] == BEFORE_OPENING + dt.timedelta(seconds=120)
    decision = await db.fetchrow("SELECT * FROM decisions WHERE event_id = $1", dwell["id"])
    assert decision["outcome"] == "send"
    assert decision["inputs"]["event"]["kind"] == "dwell"
    assert await db.fetchval("SELECT count(*) FROM invites") == 1
    presence = await db.fetchrow("SELECT state, invited_at FROM presence")
    assert (presence["state"], presence["invited_at"]) == ("dwelling", AFTER_OPENING)
    assert await jobs.sweep_dwell(db, AFTER_OPENING + dt.timedelta(minutes=5)) == 0
    assert await db.fetchval("SELECT count(*) FROM decisions") == 2


async def test_the_sweep_skips_a_customer_whose_batch_is_being_ingested(
    entered_early: None, jobs: PeriodicJobs, db: asyncpg.Connection, db_url: str
) -> None:
    other = await asyncpg.connect(db_url)
    try:
        async with other.transaction():
            # What ingestion holds while it works on c1's batch.
            await other.execute("SELECT id FROM customers WHERE id = 'c1' FOR NO KEY UPDATE")
            assert await jobs.sweep_dwell(db, AFTER_OPENING) == 0
        assert await jobs.sweep_dwell(db, AFTER_OPENING) == 1
    finally:
        await other.close()
