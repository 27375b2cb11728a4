"""Caps hold under concurrency, and every event is stored once: many requests for one
customer at the same time against a real server (uvicorn on 127.0.0.1, a pool of several
connections), so the requests truly overlap in the database."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from typing import Any

import asyncpg
import pytest

from tests.conftest import LiveServer, TokenFactory
from tests.factories import event_body, event_world

NOON = dt.datetime(2025, 3, 14, 12, 30, tzinfo=dt.UTC)
STORES = ("s1", "s2", "s3", "s4", "s5")
SPACING = 200.0  # metres between stores: each its own geofence, all within 1 km (no jump)


class InFlight:
    """Counts the ingestion calls running at the same time (proof the test overlaps)."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0


@pytest.fixture
def in_flight(monkeypatch: pytest.MonkeyPatch) -> InFlight:
    import app.events.controllers as controllers

    seen = InFlight()
    original = controllers.ingest_events

    async def counted(*args: Any, **kwargs: Any) -> Any:
        seen.now += 1
        seen.most = max(seen.most, seen.now)
        try:
            return await original(*args, **kwargs)
        finally:
            seen.now -= 1

    monkeypatch.setattr(controllers, "ingest_events", counted)
    return seen


async def _post(live: LiveServer, headers: dict[str, str], events: list[dict[str, Any]]) -> Any:
    response = await live.client.post("/v1/events", json={"events": events}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["results"]


async def test_fifty_concurrent_triggers_respect_the_caps(
    live: LiveServer, auth: TokenFactory, db: asyncpg.Connection, in_flight: InFlight
) -> None:
    await event_world(live.client, auth, live.app, stores=STORES, spacing_m=SPACING)
    live.app.state.clock = lambda: NOON
    headers = auth("customer", sub="c1")
    events = [
        event_body(
            "checkin",
            at=NOON - dt.timedelta(seconds=50 - i),
            east_m=SPACING * (i % len(STORES)),
            store_id=STORES[i % len(STORES)],
            device_id=f"dev-{i % 3}",
        )
        for i in range(50)
    ]

    answers = await asyncio.gather(*(_post(live, headers, [e]) for e in events))

    assert in_flight.most > 1  # the requests did overlap
    results = [a[0] for a in answers]
    assert all(r["status"] == "accepted" for r in results)
    outcomes = Counter(d["outcome"] for r in results for d in r["decisions"])
    # The policy's frequency cap: 2 invites in any 24 hours, however the requests interleave.
    assert outcomes["send"] == 2, outcomes
    assert sum(outcomes.values()) == 50
    assert await db.fetchval("SELECT count(*) FROM invites") == 2
    assert await db.fetchval("SELECT count(*) FROM decisions") == 50
    stored = await db.fetch("SELECT event_id FROM events WHERE type = 'checkin'")
    assert sorted(r["event_id"] for r in stored) == sorted(e["event_id"] for e in events)
    reasons = Counter(d["reason_codes"][0] for r in results for d in r["decisions"])
    assert set(reasons) <= {"selected", "frequency_cap", "store_cooldown", "already_inside"}


async def test_identical_requests_at_once_store_the_event_once(
    live: LiveServer, auth: TokenFactory, db: asyncpg.Connection, in_flight: InFlight
) -> None:
    await event_world(live.client, auth, live.app)
    live.app.state.clock = lambda: NOON
    headers = auth("customer", sub="c1")
    event = event_body(at=NOON)

    answers = await asyncio.gather(*(_post(live, headers, [event]) for _ in range(12)))

    assert in_flight.most > 1
    statuses = sorted(a[0]["status"] for a in answers)
    assert statuses == ["accepted"] + ["duplicate"] * 11
    assert len({a[0]["decisions"][0]["decision_id"] for a in answers}) == 1
    assert await db.fetchval("SELECT count(*) FROM events WHERE type = 'fix'") == 1
    assert await db.fetchval("SELECT count(*) FROM decisions") == 1
    assert await db.fetchval("SELECT count(*) FROM invites") == 1


async def test_concurrent_batches_with_overlapping_events_store_each_once(
    live: LiveServer, auth: TokenFactory, db: asyncpg.Connection, in_flight: InFlight
) -> None:
    await event_world(live.client, auth, live.app)
    live.app.state.clock = lambda: NOON
    headers = auth("customer", sub="c1")
    pool = [event_body(at=NOON - dt.timedelta(seconds=60 - i), north_m=2000) for i in range(30)]
    batches = [pool[i : i + 10] for i in range(0, 21, 5)]  # each event in up to two batches

    answers = await asyncio.gather(*(_post(live, headers, b) for b in batches))

    assert in_flight.most > 1
    accepted = Counter(
        r["event_id"] for results in answers for r in results if r["status"] == "accepted"
    )
    assert set(accepted.values()) == {1}
    assert sorted(accepted) == sorted(e["event_id"] for e in pool)
    assert await db.fetchval("SELECT count(*) FROM events") == 30
