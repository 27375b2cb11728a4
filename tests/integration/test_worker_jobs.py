"""The periodic jobs: dwell sweep, invite expiry, location retention, once per period."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from app.db import create_pool
from app.settings import Settings
from notifications.scheduler import PeriodicJobs
from tests.outbox_builders import make_customer, make_geofence, make_invite, make_store, worker_env

NOW = datetime(2030, 6, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
async def jobs(db_url: str, tmp_path: Path) -> AsyncIterator[PeriodicJobs]:
    settings = Settings.from_env(worker_env(db_url, str(tmp_path), {}))
    pool = await create_pool(settings)
    try:
        yield PeriodicJobs(pool, clock=lambda: NOW, worker_id="w1", wake=lambda: None)
    finally:
        await pool.close()


async def test_dwell_sweep_marks_customers_past_dwell_once(
    db: asyncpg.Connection, jobs: PeriodicJobs
) -> None:
    await make_store(db)
    await make_geofence(db, "g1", "s1", dwell_seconds=300)
    for customer, entered in (
        ("c1", NOW - timedelta(minutes=6)),
        ("c2", NOW - timedelta(minutes=2)),
    ):
        await make_customer(db, customer)
        await db.execute(
            """INSERT INTO presence (customer_id, geofence_id, state, entered_at, last_seen_at)
               VALUES ($1, 'g1', 'inside', $2, $2)""",
            customer,
            entered,
        )
    assert await jobs.run_shared("dwell_sweep") is True
    states = dict(await db.fetch("SELECT customer_id, state FROM presence ORDER BY 1"))
    assert states == {"c1": "dwelling", "c2": "inside"}
    events = await db.fetch("SELECT customer_id, type, occurred_at FROM events")
    assert [(e["customer_id"], e["type"]) for e in events] == [("c1", "dwell")]
    assert events[0]["occurred_at"] == NOW - timedelta(minutes=1)
    # the same period again: another worker (or this one) skips it
    assert await jobs.run_shared("dwell_sweep") is False


async def test_expiry_expires_pending_invites_past_send_by(
    db: asyncpg.Connection, jobs: PeriodicJobs
) -> None:
    await make_store(db)
    await make_customer(db)
    late = await make_invite(
        db, decided_at=NOW - timedelta(hours=1), send_by=NOW - timedelta(minutes=1)
    )
    fresh = await make_invite(db, decided_at=NOW, send_by=NOW + timedelta(minutes=10))
    assert await jobs.run_shared("invite_expiry") is True
    rows = dict(await db.fetch("SELECT id, status FROM invites"))
    assert rows == {late: "expired", fresh: "pending"}
    assert await db.fetchval("SELECT cancel_reason FROM invites WHERE id = $1", late) == (
        "send_by_passed"
    )


async def test_retention_purges_old_fixes_and_scrubs_old_locations(
    db: asyncpg.Connection, jobs: PeriodicJobs
) -> None:
    await make_customer(db)
    old, recent = NOW - timedelta(days=31), NOW - timedelta(days=29)
    for event_id, kind, at in (
        ("old-fix", "fix", old),
        ("old-checkin", "checkin", old),
        ("new-fix", "fix", recent),
    ):
        await db.execute(
            """INSERT INTO events (customer_id, event_id, type, occurred_at, lat, lng, status)
               VALUES ('c1', $1, $2, $3, 51.5, -0.1, 'accepted')""",
            event_id,
            kind,
            at,
        )
    await make_customer(db, "c2")
    for customer, fixed in (("c1", old), ("c2", recent)):
        await db.execute(
            """INSERT INTO customer_tracking (customer_id, lat, lng, fixed_at, presence_at)
               VALUES ($1, 51.5, -0.1, $2, $2)""",
            customer,
            fixed,
        )
    assert await jobs.run_shared("location_retention") is True
    rows = {r["event_id"]: r["lat"] for r in await db.fetch("SELECT event_id, lat FROM events")}
    assert rows == {"old-checkin": None, "new-fix": 51.5}
    tracking = {
        r["customer_id"]: (r["lat"], r["lng"], r["fixed_at"], r["presence_at"])
        for r in await db.fetch("SELECT * FROM customer_tracking")
    }
    assert tracking == {"c1": (None, None, None, old), "c2": (51.5, -0.1, recent, recent)}
