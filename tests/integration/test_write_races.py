"""Identical writes racing each other: exactly one creates, the others see it, nothing doubles.

The requests go to a real server (uvicorn on loopback), each on its own pooled connection,
and every test checks that they were in flight at the same time.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from tests.conftest import LiveServer, TokenFactory
from tests.factories import campaign_body, circle_fence, iso, now, store_body

COPIES = 5  # the test pool has 5 connections


async def _race(
    live: LiveServer, method: str, path: str, body: Any, headers: dict[str, str]
) -> list:
    live.most_in_flight = 0
    responses = list(
        await asyncio.gather(
            *(live.client.request(method, path, json=body, headers=headers) for _ in range(COPIES))
        )
    )
    assert live.most_in_flight >= 2, "the requests did not overlap"
    return responses


async def _audit_entries(db: asyncpg.Connection, resource_type: str, resource_id: str) -> list:
    return [
        r["action"]
        for r in await db.fetch(
            "SELECT action FROM audit_log WHERE resource_type = $1 AND resource_id = $2",
            resource_type,
            resource_id,
        )
    ]


@pytest.mark.parametrize("resource", ["store", "geofence", "campaign"])
async def test_concurrent_first_puts_create_once(
    live: LiveServer, auth: TokenFactory, db: asyncpg.Connection, resource: str
) -> None:
    admin = auth("admin")
    if resource != "store":
        assert (await live.client.put("/v1/stores/s1", json=store_body(), headers=admin)).is_success
    path, body, table, key = {
        "store": ("/v1/stores/s2", store_body(name="Race"), "stores", "s2"),
        "geofence": ("/v1/stores/s1/geofences/g1", circle_fence(), "geofences", "g1"),
        "campaign": ("/v1/campaigns/c1", campaign_body(["s1"]), "campaigns", "c1"),
    }[resource]
    responses = await _race(live, "PUT", path, body, admin)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * (COPIES - 1) + [201], [r.text for r in responses]
    assert {r.json()["version"] for r in responses} == {1}
    assert len({r.headers["etag"] for r in responses}) == 1
    bodies = [r.json() for r in responses]
    assert all(b == bodies[0] for b in bodies), "every answer shows the same resource"
    assert await db.fetchval(f"SELECT version FROM {table} WHERE id = $1", key) == 1  # noqa: S608
    assert await _audit_entries(db, resource, key) == ["create"]


async def test_concurrent_first_puts_under_if_match_are_412(
    live: LiveServer, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    headers = {**auth("admin"), "If-Match": '"1"'}
    responses = await _race(live, "PUT", "/v1/stores/s9", store_body(), headers)
    assert {r.status_code for r in responses} == {412}
    assert await db.fetchval("SELECT count(*) FROM stores") == 0


async def test_concurrent_different_first_puts_each_apply_once(
    live: LiveServer, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    admin = auth("admin")
    live.most_in_flight = 0
    responses = await asyncio.gather(
        *(
            live.client.put("/v1/stores/s3", json=store_body(name=f"Name {i}"), headers=admin)
            for i in range(COPIES)
        )
    )
    assert live.most_in_flight >= 2
    assert sorted(r.status_code for r in responses) == [200] * (COPIES - 1) + [201]
    assert sorted(r.json()["version"] for r in responses) == list(range(1, COPIES + 1))
    assert sorted(await _audit_entries(db, "store", "s3")) == ["create"] + ["update"] * (COPIES - 1)


async def test_concurrent_identical_support_cases_and_deliveries_have_one_effect(
    live: LiveServer, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    integration = auth("integration")
    case = {"customer_id": "c1", "kind": "complaint", "opened_at": iso(now())}
    cases = await _race(live, "PUT", "/v1/support-cases/k1", case, integration)
    assert sorted(r.status_code for r in cases) == [200] * (COPIES - 1) + [201]
    assert {r.json()["version"] for r in cases} == {1}
    assert await _audit_entries(db, "support_case", "k1") == ["create"]

    delivery = {"order_id": "o1", "customer_id": "c2", "promised_at": iso(now())}
    deliveries = await _race(live, "POST", "/v1/deliveries", delivery, integration)
    assert sorted(r.status_code for r in deliveries) == [200] * (COPIES - 1) + [201]
    assert await db.fetchval("SELECT count(*) FROM deliveries") == 1
    assert await _audit_entries(db, "delivery", "o1") == ["create"]
    # The customers heard of through these facts were created once each.
    assert await db.fetchval("SELECT count(*) FROM customers") == 2
    assert sorted(await _audit_entries(db, "customer", "c1")) == ["create"]
