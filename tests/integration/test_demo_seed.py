"""The demo seed: the whole chain through the services, idempotent; reset removes demo only."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from app.db import create_pool
from app.demo.city import STORES, campaigns
from app.demo.people import demo_people
from app.demo.reset import reset_demo
from app.demo.seed import is_empty, seed_demo
from app.demo.stories import STORIES
from app.settings import Settings
from tests.factories import circle_fence, store_body


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(settings)
    try:
        yield pool
    finally:
        await pool.close()


async def _counts(db: asyncpg.Connection) -> dict[str, int]:
    tables = ("stores", "geofences", "campaigns", "customers", "devices", "purchases",
              "support_cases", "deliveries", "audit_log")  # fmt: skip
    return {t: await db.fetchval(f"SELECT count(*) FROM {t}") for t in tables}  # noqa: S608


async def test_seed_writes_the_chain_once_and_reset_removes_only_demo_rows(
    pool: asyncpg.Pool, db: asyncpg.Connection, client, auth
) -> None:
    # A store of the brand's own, which the demo must never touch.
    own = await client.put("/v1/stores/brand-1", json=store_body(), headers=auth("admin"))
    assert own.status_code == 201
    fence = await client.put(
        "/v1/stores/brand-1/geofences/brand-1-door", json=circle_fence(), headers=auth("admin")
    )
    assert fence.status_code == 201
    assert not await is_empty(db)

    first = await seed_demo(pool)
    people = demo_people()
    assert len(people) == 500
    assert first.stores == len(STORES) >= 25
    assert first.geofences == len(STORES)
    assert first.campaigns == len(campaigns())
    assert first.customers == first.devices == 500
    assert first.purchases > 2000
    after_first = await _counts(db)

    again = await seed_demo(pool)
    assert again.created == 0
    assert await _counts(db) == after_first  # not even an audit entry

    # The mix the issue asks for: polygons and circles, every kind, two locales, the hours.
    kinds = {r["kind"] for r in await db.fetch("SELECT kind FROM campaigns")}
    assert kinds == {"moment", "offer", "service"}
    shapes = await db.fetch(
        "SELECT count(*) FILTER (WHERE geometry IS NOT NULL AND radius_m IS NULL) AS polygons,"
        " count(*) FILTER (WHERE radius_m IS NOT NULL) AS circles"
        " FROM geofences WHERE id LIKE 'demo-%'"
    )
    assert shapes[0]["polygons"] >= 3
    assert shapes[0]["circles"] >= 15
    hours = {r["opening_hours"] for r in await db.fetch("SELECT opening_hours FROM stores")}
    assert "24/7" in hours
    assert "Fr-Sa 22:00-02:00" in hours
    assert any(h.endswith("PH off") for h in hours)
    boutique = await client.get("/v1/stores/demo-capsule-regent", headers=auth("admin"))
    assert boutique.json()["opening_hours"].startswith("Mo-Sa 09:00")
    blend = await client.get("/v1/campaigns/demo-offer-blend", headers=auth("admin"))
    machine = await client.get("/v1/campaigns/demo-offer-machine", headers=auth("admin"))
    assert (blend.json()["margin"], blend.json()["acceptance_probability"]) == (10, 0.8)
    assert (machine.json()["margin"], machine.json()["acceptance_probability"]) == (20, 0.5)
    assert set(blend.json()["templates"]) == {"en-GB", "fr"}
    # Every story customer is there with their history.
    for story in STORIES:
        orders = await db.fetchval(
            "SELECT count(*) FROM purchases WHERE customer_id = $1", story.person.id
        )
        assert orders == len(story.person.orders), story.key
    complaint = await db.fetchrow("SELECT * FROM support_cases WHERE id = 'demo-case-priya-screws'")
    assert complaint["closed_at"] is None
    assert "screws" in complaint["summary"]

    removed = await reset_demo(db)
    assert removed["customers"] == 500
    assert removed["stores"] == len(STORES)
    left = await _counts(db)
    assert (left["stores"], left["geofences"], left["campaigns"], left["customers"]) == (1, 1, 0, 0)
    assert left["purchases"] == left["devices"] == left["support_cases"] == 0
    assert (await client.get("/v1/stores/brand-1", headers=auth("admin"))).status_code == 200

    # And the demo comes back after a reset.
    back = await seed_demo(pool)
    assert back.customers == 500
