"""Store-manager API: stores, geofences, campaigns, audit, ETags, problem details."""

from __future__ import annotations

from typing import Any

import asyncpg
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import TokenFactory
from tests.factories import LONDON, campaign_body, circle_fence, square_fence, store_body

Client = AsyncTestClient[Litestar]


async def test_put_store_creates_then_is_idempotent(
    client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    admin = auth("admin")
    created = await client.put("/v1/stores/s1", json=store_body(), headers=admin)
    assert created.status_code == 201, created.text
    assert created.headers["etag"] == '"1"'
    assert created.headers["location"] == "/v1/stores/s1"
    store = created.json()
    assert store["timezone"] == "Europe/London"  # derived from the coordinates
    assert store["state"] in {"open", "closed"}
    assert store["open_now"] is (store["state"] == "open")
    assert store["next_change"] is not None
    assert store["opening_hours"] == "Mo-Sa 09:00-19:00; Su 11:00-17:00; PH off"
    structured = store["opening_hours_structured"]
    assert structured["monday"] == [{"open": "09:00", "close": "19:00"}]
    assert structured["public_holidays_closed"] is True

    again = await client.put("/v1/stores/s1", json=store_body(), headers=admin)
    assert again.status_code == 200
    assert again.json()["version"] == 1
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE resource_id = 's1'") == 1

    changed = await client.put("/v1/stores/s1", json=store_body(name="Regent St"), headers=admin)
    assert changed.status_code == 200
    assert changed.headers["etag"] == '"2"'
    entry = await db.fetchrow(
        "SELECT actor_sub, action, before, after FROM audit_log WHERE resource_id = 's1' "
        "ORDER BY id DESC LIMIT 1"
    )
    assert entry["action"] == "update"
    assert entry["actor_sub"] == "test-admin"
    assert entry["before"]["name"] == "Boutique Regent Street"
    assert entry["after"]["name"] == "Regent St"


async def test_structured_hours_are_accepted_and_shown_as_expression(
    client: Client, auth: TokenFactory
) -> None:
    weekly = {
        "monday": [{"open": "08:00", "close": "12:00"}, {"open": "13:00", "close": "18:00"}],
        "saturday": [{"open": "22:00", "close": "02:00"}],
    }
    response = await client.put(
        "/v1/stores/s1", json=store_body(opening_hours=weekly), headers=auth("admin")
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert "08:00-12:00,13:00-18:00" in body["opening_hours"]
    assert body["opening_hours_structured"]["monday"] == weekly["monday"]


async def test_if_match_guards_put_and_delete(client: Client, auth: TokenFactory) -> None:
    admin = auth("admin")
    await client.put("/v1/stores/s1", json=store_body(), headers=admin)
    await client.put("/v1/stores/s1", json=store_body(name="v2"), headers=admin)

    stale = await client.put(
        "/v1/stores/s1", json=store_body(name="v3"), headers={**admin, "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert stale.json()["type"] == "urn:kairos:problem:precondition-failed"
    assert (await client.get("/v1/stores/s1", headers=admin)).json()["name"] == "v2"

    assert (
        await client.delete("/v1/stores/s1", headers={**admin, "If-Match": '"1"'})
    ).status_code == 412
    fresh = await client.put(
        "/v1/stores/s1", json=store_body(name="v3"), headers={**admin, "If-Match": '"2"'}
    )
    assert fresh.status_code == 200
    assert (
        await client.delete("/v1/stores/s1", headers={**admin, "If-Match": '"3"'})
    ).status_code == 204
    assert (await client.get("/v1/stores/s1", headers=admin)).status_code == 404


async def test_validation_errors_name_the_field(client: Client, auth: TokenFactory) -> None:
    admin = auth("admin")
    cases = [
        (store_body(opening_hours="Mo-Fx 09:00-18:00"), "opening_hours"),
        (store_body(timezone="Mars/Olympus"), "timezone"),
        (store_body(lat=123), "lat"),
        (store_body(country="gb"), "country"),
        (store_body(openinghours="x"), "openinghours"),
    ]
    for body, field in cases:
        response = await client.put("/v1/stores/s1", json=body, headers=admin)
        assert response.status_code == 422, (field, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        fields = [e["field"] for e in response.json()["errors"]]
        assert any(f == field or f.startswith(field) for f in fields), (field, fields)

    bad_id = await client.put("/v1/stores/bad%20id", json=store_body(), headers=admin)
    assert bad_id.status_code in (400, 422)
    assert (await client.get("/v1/stores", headers=admin)).json()["items"] == []


async def test_geofence_crud_and_geometry_errors(client: Client, auth: TokenFactory) -> None:
    admin = auth("admin")
    await client.put("/v1/stores/s1", json=store_body(), headers=admin)
    circle = await client.put("/v1/stores/s1/geofences/g1", json=circle_fence(), headers=admin)
    assert circle.status_code == 201, circle.text
    assert abs(circle.json()["area_m2"] - 3.14159 * 80**2) / (3.14159 * 80**2) < 0.01
    polygon = await client.put("/v1/stores/s1/geofences/g2", json=square_fence(), headers=admin)
    assert polygon.status_code == 201, polygon.text

    listed = await client.get("/v1/stores/s1/geofences", headers=admin)
    assert [g["id"] for g in listed.json()["items"]] == ["g1", "g2"]

    bowtie = square_fence()
    ring = bowtie["geometry"]["coordinates"][0]
    ring[1], ring[2] = ring[2], ring[1]
    response = await client.put("/v1/stores/s1/geofences/g3", json=bowtie, headers=admin)
    assert response.status_code == 422
    fields = [e["field"] for e in response.json()["errors"]]
    assert all(f.startswith("geometry") for f in fields), fields
    assert "self-intersect" in response.text.lower() or "intersect" in response.text.lower()

    both = {**circle_fence(), **square_fence()}
    assert (
        await client.put("/v1/stores/s1/geofences/g3", json=both, headers=admin)
    ).status_code == 422
    too_big = {"circle": {**LONDON, "radius_m": 20_000}}
    response = await client.put("/v1/stores/s1/geofences/g3", json=too_big, headers=admin)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "circle.radius_m"

    # Geofence ids are brand-wide: reusing one under another store is a conflict.
    await client.put("/v1/stores/s2", json=store_body(), headers=admin)
    clash = await client.put("/v1/stores/s2/geofences/g1", json=circle_fence(), headers=admin)
    assert clash.status_code == 409

    assert (await client.delete("/v1/stores/s1/geofences/g2", headers=admin)).status_code == 204
    assert (await client.get("/v1/stores/s1/geofences/g2", headers=admin)).status_code == 404


async def test_pagination_walks_every_store_once(client: Client, auth: TokenFactory) -> None:
    admin = auth("admin")
    for i in range(7):
        await client.put(f"/v1/stores/s{i}", json=store_body(name=f"S{i}"), headers=admin)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/stores", params=params, headers=admin)).json()
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"s{i}" for i in range(7)]
    bad = await client.get("/v1/stores", params={"cursor": "garbage!"}, headers=admin)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "cursor"


async def test_campaign_validation(client: Client, auth: TokenFactory) -> None:
    admin = auth("admin")
    await client.put("/v1/stores/s1", json=store_body(), headers=admin)
    ok = await client.put("/v1/campaigns/c1", json=campaign_body(["s1"]), headers=admin)
    assert ok.status_code == 201, ok.text
    assert ok.json()["store_ids"] == ["s1"]
    assert ok.json()["active_now"] is True

    bad_placeholder = campaign_body(["s1"])
    bad_placeholder["templates"]["fr"]["body"] = "Bonjour {nickname}"
    response = await client.put("/v1/campaigns/c2", json=bad_placeholder, headers=admin)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "templates.fr.body"

    response = await client.put(
        "/v1/campaigns/c2", json=campaign_body(["s1"], default_locale="de"), headers=admin
    )
    assert response.json()["errors"][0]["field"] == "default_locale"
    unknown_moment = campaign_body(
        ["s1"], eligibility={"moments": ["first_visit_ever", "birthday"]}
    )
    response = await client.put("/v1/campaigns/c2", json=unknown_moment, headers=admin)
    assert response.json()["errors"][0]["field"] == "eligibility.moments[1]"
    response = await client.put("/v1/campaigns/c2", json=campaign_body(["nope"]), headers=admin)
    assert response.json()["errors"][0]["field"] == "store_ids[0]"
    response = await client.put(
        "/v1/campaigns/c2",
        json=campaign_body(
            ["s1"], active_from="2026-01-02T00:00:00Z", active_until="2026-01-01T00:00:00Z"
        ),
        headers=admin,
    )
    assert response.json()["errors"][0]["field"] == "active_until"
    naive = await client.put(
        "/v1/campaigns/c2",
        json=campaign_body(["s1"], active_from="2026-01-02T00:00:00"),
        headers=admin,
    )
    assert naive.status_code == 422
    assert naive.json()["errors"][0]["field"] == "active_from"


async def test_deleting_a_campaigns_only_store_does_not_widen_it(
    client: Client, auth: TokenFactory
) -> None:
    admin = auth("admin")
    await client.put("/v1/stores/s1", json=store_body(), headers=admin)
    await client.put("/v1/campaigns/c1", json=campaign_body(["s1"]), headers=admin)
    await client.put("/v1/stores/s1/geofences/g1", json=circle_fence(), headers=admin)
    await client.delete("/v1/stores/s1", headers=admin)
    campaign = (await client.get("/v1/campaigns/c1", headers=admin)).json()
    assert campaign["store_ids"] == []
    assert campaign["all_stores"] is False
    # What the delete cascaded to is in the audit log too.
    entries = (await client.get("/v1/audit", params={"limit": 3}, headers=admin)).json()["items"]
    assert {(e["resource_type"], e["resource_id"], e["action"]) for e in entries} == {
        ("store", "s1", "delete"),
        ("geofence", "g1", "delete"),
        ("campaign", "c1", "update"),
    }


async def test_audit_lists_changes_newest_first(client: Client, auth: TokenFactory) -> None:
    admin = auth("admin")
    await client.put("/v1/stores/s1", json=store_body(), headers=admin)
    await client.put("/v1/stores/s1/geofences/g1", json=circle_fence(), headers=admin)
    await client.put("/v1/stores/s1", json=store_body(name="renamed"), headers=admin)
    entries = (await client.get("/v1/audit", headers=admin)).json()["items"]
    assert [(e["resource_type"], e["action"]) for e in entries] == [
        ("store", "update"),
        ("geofence", "create"),
        ("store", "create"),
    ]
    assert entries[0]["before"]["name"] == "Boutique Regent Street"
    assert entries[0]["after"]["name"] == "renamed"


async def test_other_roles_cannot_use_manager_routes(client: Client, auth: TokenFactory) -> None:
    for role in ("customer", "integration"):
        headers = auth(role)
        assert (await client.get("/v1/stores", headers=headers)).status_code == 403
        assert (
            await client.put("/v1/stores/s1", json=store_body(), headers=headers)
        ).status_code == 403
        assert (await client.get("/v1/audit", headers=headers)).status_code == 403
    assert (await client.get("/v1/stores")).status_code == 401


async def test_a_stored_expression_that_no_longer_compiles_reads_as_unknown(
    client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    admin = auth("admin")
    await client.put("/v1/stores/s1", json=store_body(), headers=admin)
    # As if a library upgrade had started rejecting what was accepted when written.
    await db.execute("UPDATE stores SET opening_hours = 'Mo-Fx 09:00-18:00' WHERE id = 's1'")
    response = await client.get("/v1/stores/s1", headers=admin)
    assert response.status_code == 200
    assert (response.json()["state"], response.json()["open_now"]) == ("unknown", False)
