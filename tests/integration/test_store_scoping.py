"""Invariant 7: a manager of store A reaches nothing of store B, by any route (404, not 403)."""

from __future__ import annotations

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import TokenFactory
from tests.factories import campaign_body, circle_fence, store_body

Client = AsyncTestClient[Litestar]


@pytest.fixture
async def two_stores(client: Client, auth: TokenFactory) -> None:
    admin = auth("admin")
    for store in ("A", "B"):
        assert (
            await client.put(f"/v1/stores/{store}", json=store_body(name=store), headers=admin)
        ).status_code == 201
        response = await client.put(
            f"/v1/stores/{store}/geofences/g{store}", json=circle_fence(), headers=admin
        )
        assert response.status_code == 201
    for cid, stores in (("cA", ["A"]), ("cB", ["B"]), ("cAB", ["A", "B"])):
        response = await client.put(
            f"/v1/campaigns/{cid}", json=campaign_body(stores), headers=admin
        )
        assert response.status_code == 201, response.text


async def _snapshot(db: asyncpg.Connection) -> list[tuple[str, int]]:
    rows = await db.fetch(
        "SELECT 'store:' || id AS k, version FROM stores UNION ALL "
        "SELECT 'geofence:' || id, version FROM geofences UNION ALL "
        "SELECT 'campaign:' || id, version FROM campaigns UNION ALL "
        "SELECT 'scope:' || campaign_id || '/' || store_id, 0 FROM campaign_stores ORDER BY 1"
    )
    return [(r["k"], r["version"]) for r in rows]


@pytest.mark.usefixtures("two_stores")
async def test_manager_of_a_cannot_reach_b(
    client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    manager = auth("manager", sub="alice", stores=["A"])
    before = await _snapshot(db)

    # Lists show only A's things.
    assert [s["id"] for s in (await client.get("/v1/stores", headers=manager)).json()["items"]] == [
        "A"
    ]
    campaigns = (await client.get("/v1/campaigns", headers=manager)).json()["items"]
    assert [c["id"] for c in campaigns] == ["cA"]
    for_b = await client.get("/v1/campaigns", params={"store_id": "B"}, headers=manager)
    assert for_b.json()["items"] == []

    not_found = [
        ("GET", "/v1/stores/B", None),
        ("PUT", "/v1/stores/B", store_body(name="hijacked")),
        ("DELETE", "/v1/stores/B", None),
        ("PUT", "/v1/stores/C", store_body(name="new store outside my claim")),
        ("GET", "/v1/stores/B/geofences", None),
        ("GET", "/v1/stores/B/geofences/gB", None),
        ("GET", "/v1/stores/A/geofences/gB", None),
        ("PUT", "/v1/stores/B/geofences/gB", circle_fence(300)),
        ("PUT", "/v1/stores/B/geofences/gNew", circle_fence()),
        ("DELETE", "/v1/stores/B/geofences/gB", None),
        ("DELETE", "/v1/stores/A/geofences/gB", None),
        ("GET", "/v1/campaigns/cB", None),
        ("GET", "/v1/campaigns/cAB", None),
        ("PUT", "/v1/campaigns/cB", campaign_body(["A"])),
        ("PUT", "/v1/campaigns/cAB", campaign_body(["A"])),
        ("DELETE", "/v1/campaigns/cB", None),
        ("DELETE", "/v1/campaigns/cAB", None),
        ("GET", "/v1/audit?store_id=B", None),
    ]
    for method, url, body in not_found:
        response = await client.request(method, url, json=body, headers=manager)
        assert response.status_code == 404, (method, url, response.status_code, response.text)

    # A store that exists elsewhere answers exactly like one that does not exist at all.
    real = (await client.get("/v1/stores/B", headers=manager)).json()
    ghost_store = (await client.get("/v1/stores/Z", headers=manager)).json()
    assert real["detail"].replace("'B'", "'Z'") == ghost_store["detail"]
    assert {k: v for k, v in real.items() if k not in ("detail", "instance")} == {
        k: v for k, v in ghost_store.items() if k not in ("detail", "instance")
    }

    # Naming B in a campaign is refused with the same words as a store that does not exist.
    widen = await client.put("/v1/campaigns/cA", json=campaign_body(["A", "B"]), headers=manager)
    assert widen.status_code == 422
    assert widen.json()["errors"][0] == {"field": "store_ids[1]", "message": "no store 'B'"}
    ghost = await client.put("/v1/campaigns/cX", json=campaign_body(["A", "Z"]), headers=manager)
    assert ghost.json()["errors"][0] == {"field": "store_ids[1]", "message": "no store 'Z'"}
    everywhere = await client.put(
        "/v1/campaigns/cX", json=campaign_body([], all_stores=True), headers=manager
    )
    assert everywhere.status_code == 422

    assert await _snapshot(db) == before

    # The audit log shows A's history only.
    entries = (await client.get("/v1/audit", headers=manager)).json()["items"]
    assert entries
    assert all(set(e["store_ids"]) <= {"A"} for e in entries)
    assert {e["resource_id"] for e in entries} == {"A", "gA", "cA"}


@pytest.mark.usefixtures("two_stores")
async def test_manager_of_a_can_manage_a(client: Client, auth: TokenFactory) -> None:
    manager = auth("manager", sub="alice", stores=["A"])
    assert (
        await client.put("/v1/stores/A", json=store_body(name="A2"), headers=manager)
    ).status_code == 200
    assert (
        await client.put("/v1/stores/A/geofences/gA2", json=circle_fence(), headers=manager)
    ).status_code == 201
    assert (
        await client.put("/v1/campaigns/cA", json=campaign_body(["A"], name="x"), headers=manager)
    ).status_code == 200
    assert (await client.delete("/v1/campaigns/cA", headers=manager)).status_code == 204


@pytest.mark.usefixtures("two_stores")
async def test_manager_of_both_sees_the_shared_campaign(client: Client, auth: TokenFactory) -> None:
    manager = auth("manager", sub="bob", stores=["A", "B"])
    ids = [c["id"] for c in (await client.get("/v1/campaigns", headers=manager)).json()["items"]]
    assert ids == ["cA", "cAB", "cB"]
    response = await client.put(
        "/v1/campaigns/cAB", json=campaign_body(["A", "B"], name="shared"), headers=manager
    )
    assert response.status_code == 200
