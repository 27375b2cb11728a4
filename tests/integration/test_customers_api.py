"""Customer context over HTTP: profiles, facts, the customer app, validation and audit."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import TokenFactory
from tests.factories import iso, now, order

Client = AsyncTestClient[Litestar]
PROBLEM = "application/problem+json"
TOKEN = "fcm-token-AAAA-0123456789-secret-ZZZZ"


@pytest.fixture
async def store(db: asyncpg.Connection) -> str:
    await db.execute(
        """INSERT INTO stores (id, name, lat, lng, timezone)
           VALUES ('s1', 'Bahnhofstrasse', 47.37, 8.54, 'Europe/Zurich')"""
    )
    return "s1"


def fields(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    return [e["field"] for e in response.json()["errors"]]


async def audit_rows(db: asyncpg.Connection, resource_type: str) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT * FROM audit_log WHERE resource_type = $1 ORDER BY id", resource_type
    )


# Profiles -------------------------------------------------------------------------------
async def test_put_customer_is_idempotent_and_audited(
    client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    profile = {
        "locale": "fr-CH",
        "consents": {"location": True, "marketing": True},
        "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Europe/Zurich"},
        "segments": ["high_value", "life_stage:new_parent"],
        "flags": {"vip": True},
    }
    first = await client.put("/v1/customers/c1", json=profile, headers=auth("integration"))
    assert first.status_code == 201, first.text
    assert first.headers["etag"] == '"1"'
    body = first.json()
    assert body["consents"] == {"location": True, "marketing": True}
    assert body["consents_updated_at"] is not None
    again = await client.put("/v1/customers/c1", json=profile, headers=auth("integration"))
    assert again.status_code == 200
    assert again.json() == body  # same version, same timestamps: nothing written
    changed = await client.put(
        "/v1/customers/c1", json={**profile, "segments": []}, headers=auth("admin")
    )
    assert changed.status_code == 200
    assert changed.json()["version"] == 2
    assert changed.json()["consents_updated_at"] == body["consents_updated_at"]
    rows = await audit_rows(db, "customer")
    assert [r["action"] for r in rows] == ["create", "update"]
    assert rows[1]["before"]["segments"] == ["high_value", "life_stage:new_parent"]
    assert rows[1]["after"]["segments"] == []

    stale = await client.put(
        "/v1/customers/c1", json=profile, headers={**auth("integration"), "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    read = await client.get("/v1/customers/c1", headers=auth("integration"))
    assert read.status_code == 200
    assert read.headers["etag"] == '"2"'


async def test_crm_sync_does_not_reset_what_the_customer_chose(
    client: Client, auth: TokenFactory
) -> None:
    me = auth("customer", sub="c1")
    await client.patch("/v1/me/consents", json={"marketing": True, "location": True}, headers=me)
    await client.put("/v1/me/quiet-hours", json={"start": "22:00", "end": "07:00"}, headers=me)
    synced = await client.put(
        "/v1/customers/c1", json={"segments": ["high_value"]}, headers=auth("integration")
    )
    assert synced.status_code == 200
    assert synced.json()["consents"] == {"location": True, "marketing": True}
    assert synced.json()["quiet_hours"] == {"start": "22:00", "end": "07:00", "timezone": None}
    cleared = await client.put(
        "/v1/customers/c1", json={"quiet_hours": None}, headers=auth("integration")
    )
    assert cleared.json()["quiet_hours"] is None
    assert cleared.json()["segments"] == []  # PUT: omitted segments take their default


async def test_customer_profile_validation(client: Client, auth: TokenFactory) -> None:
    bad_zone = {"quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Mars/Olympus"}}
    response = await client.put("/v1/customers/c1", json=bad_zone, headers=auth("integration"))
    assert fields(response) == ["quiet_hours.timezone"]
    response = await client.put(
        "/v1/customers/c1", json={"locale": "French!"}, headers=auth("integration")
    )
    assert fields(response) == ["locale"]
    response = await client.put(
        "/v1/customers/c1",
        json={"quiet_hours": {"start": "25:00", "end": "07:00"}},
        headers=auth("integration"),
    )
    assert fields(response) == ["quiet_hours.start"]
    response = await client.put("/v1/customers/bad%20id", json={}, headers=auth("integration"))
    assert fields(response)[0] == "path.customer_id"


async def test_roles(client: Client, auth: TokenFactory) -> None:
    assert (await client.get("/v1/customers/c1", headers=auth("integration"))).status_code == 404
    for role in ("customer", "manager"):
        headers = auth(role, stores=["s1"])
        assert (await client.put("/v1/customers/c1", json={}, headers=headers)).status_code == 403
        assert (
            await client.post("/v1/purchases", json=order(), headers=headers)
        ).status_code == 403
    assert (await client.get("/v1/me", headers=auth("integration"))).status_code == 403
    export = await client.get("/v1/customers/c1/export", headers=auth("integration"))
    assert export.status_code == 403
    erase = await client.delete("/v1/customers/c1", headers=auth("integration"))
    assert erase.status_code == 403


# Purchases ------------------------------------------------------------------------------
async def test_purchase_is_idempotent_by_order_id(
    client: Client, auth: TokenFactory, db: asyncpg.Connection, store: str
) -> None:
    first = await client.post("/v1/purchases", json=order(), headers=auth("integration"))
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["total"] == "12.50"
    assert body["categories"] == ["coffee"]

    # The same order, spelled differently (number vs string, another offset): a replay.
    occurred = dt.datetime.fromisoformat(body["occurred_at"])
    respelled = order(
        total=12.5, occurred_at=iso(occurred.astimezone(dt.timezone(dt.timedelta(hours=2))))
    )
    replay = await client.post("/v1/purchases", json=respelled, headers=auth("integration"))
    assert replay.status_code == 200
    assert replay.json() == body

    conflict = await client.post(
        "/v1/purchases", json=order(total="13.00"), headers=auth("integration")
    )
    assert conflict.status_code == 409
    assert conflict.json()["type"] == "urn:kairos:problem:idempotency-conflict"

    assert await db.fetchval("SELECT count(*) FROM purchases") == 1
    assert len(await audit_rows(db, "purchase")) == 1


async def test_simultaneous_duplicates_count_once(
    client: Client, auth: TokenFactory, db: asyncpg.Connection, store: str
) -> None:
    responses = await asyncio.gather(
        *(
            client.post(
                "/v1/purchases", json=order(customer_id="c-new"), headers=auth("integration")
            )
            for _ in range(5)
        )
    )
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 201]
    assert len({r.text for r in responses}) == 1
    assert await db.fetchval("SELECT count(*) FROM purchases") == 1
    assert await db.fetchval("SELECT count(*) FROM customers") == 1
    assert len(await audit_rows(db, "purchase")) == 1
    assert len(await audit_rows(db, "customer")) == 1


async def test_purchase_for_unknown_customer_creates_them_without_consents(
    client: Client, auth: TokenFactory, db: asyncpg.Connection, store: str
) -> None:
    response = await client.post(
        "/v1/purchases", json=order(customer_id="pos-42"), headers=auth("integration")
    )
    assert response.status_code == 201
    customer = await db.fetchrow("SELECT * FROM customers WHERE id = 'pos-42'")
    assert customer is not None
    assert not customer["consent_location"]
    assert not customer["consent_marketing"]
    assert customer["consents_updated_at"] is None
    created = await audit_rows(db, "customer")
    assert [(r["action"], r["resource_id"], r["actor_role"]) for r in created] == [
        ("create", "pos-42", "integration")
    ]


async def test_online_purchase_has_no_store(
    client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    response = await client.post(
        "/v1/purchases",
        json=order(channel="online", store_id=None, items=[]),
        headers=auth("integration"),
    )
    assert response.status_code == 201, response.text
    assert response.json()["store_id"] is None


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"total": "-1.00"}, ["total"]),
        ({"total": "NaN"}, ["total"]),
        ({"total": "1.001"}, ["total"]),
        ({"total": "abc"}, ["total"]),
        ({"currency": "EUX"}, ["currency"]),
        ({"currency": "HRK"}, ["currency"]),  # withdrawn in 2023
        ({"currency": "eur"}, ["currency"]),
        ({"occurred_at": "2025-01-01T10:00:00"}, ["occurred_at"]),  # naive
        ({"occurred_at": "tomorrow"}, ["occurred_at"]),
        ({"store_id": "nowhere"}, ["store_id"]),
        ({"store_id": None}, ["store_id"]),
        ({"channel": "online"}, ["store_id"]),
        ({"channel": "carrier-pigeon"}, ["channel"]),
        ({"order_id": "no spaces"}, ["order_id"]),
        (
            {"items": [{"sku": "x", "category": "c", "quantity": 1, "unit_price": "-2"}]},
            ["items[0].unit_price"],
        ),
        (
            {"items": [{"sku": "x", "category": "c", "quantity": 0, "unit_price": "2"}]},
            ["items[0].quantity"],
        ),
        (
            {"items": [{"sku": "x", "category": "c", "quantity": "lots", "unit_price": 2}]},
            ["items[0].quantity"],
        ),
        # A missing field is named without its parent path (app/problems.py, not ours).
        ({"items": [{"sku": "x", "quantity": 1, "unit_price": 2}]}, ["category"]),
        ({"total": "-1", "currency": "XYZ"}, ["currency", "total"]),
    ],
)
async def test_purchase_validation_names_the_field(
    client: Client,
    auth: TokenFactory,
    db: asyncpg.Connection,
    store: str,
    changes: dict[str, Any],
    expected: list[str],
) -> None:
    response = await client.post(
        "/v1/purchases", json=order(**changes), headers=auth("integration")
    )
    named = sorted(fields(response))
    assert len(named) == len(expected), named
    # endswith: a missing member may be named with or without its parent path.
    assert all(got.endswith(want) for got, want in zip(named, sorted(expected), strict=True))
    assert await db.fetchval("SELECT count(*) FROM purchases") == 0
    assert await db.fetchval("SELECT count(*) FROM customers") == 0


async def test_instants_more_than_five_minutes_ahead_are_refused(
    client: Client, auth: TokenFactory, store: str
) -> None:
    soon = iso(now() + dt.timedelta(minutes=4))
    later = iso(now() + dt.timedelta(minutes=10))
    ok = await client.post(
        "/v1/purchases", json=order(occurred_at=soon), headers=auth("integration")
    )
    assert ok.status_code == 201
    response = await client.post(
        "/v1/purchases", json=order(order_id="o-2", occurred_at=later), headers=auth("integration")
    )
    assert fields(response) == ["occurred_at"]
    assert "future" in response.json()["errors"][0]["message"]


async def test_malformed_json_is_400(client: Client, auth: TokenFactory) -> None:
    response = await client.post(
        "/v1/purchases",
        content=b'{"order_id": ',
        headers={**auth("integration"), "content-type": "application/json"},
    )
    assert response.status_code == 400


# Support cases --------------------------------------------------------------------------
async def test_support_case_lifecycle(
    client: Client, auth: TokenFactory, db: asyncpg.Connection, store: str
) -> None:
    opened = now() - dt.timedelta(days=2)
    case = {
        "customer_id": "c1",
        "kind": "complaint",
        "store_id": "s1",
        "opened_at": iso(opened),
        "summary": "three screws missing from the garden table",
    }
    created = await client.put("/v1/support-cases/case-1", json=case, headers=auth("integration"))
    assert created.status_code == 201, created.text
    assert created.json()["open"] is True
    assert created.headers["etag"] == '"1"'
    same = await client.put("/v1/support-cases/case-1", json=case, headers=auth("integration"))
    assert same.status_code == 200
    assert same.json()["version"] == 1
    closed = await client.put(
        "/v1/support-cases/case-1",
        json={**case, "closed_at": iso(now())},
        headers={**auth("integration"), "If-Match": '"1"'},
    )
    assert closed.status_code == 200
    assert closed.json()["open"] is False
    assert closed.json()["version"] == 2
    assert [r["action"] for r in await audit_rows(db, "support_case")] == ["create", "update"]

    early = {**case, "closed_at": iso(opened - dt.timedelta(hours=1))}
    response = await client.put("/v1/support-cases/case-1", json=early, headers=auth("admin"))
    assert fields(response) == ["closed_at"]
    response = await client.put(
        "/v1/support-cases/case-2", json={**case, "kind": "praise"}, headers=auth("integration")
    )
    assert fields(response) == ["kind"]
    response = await client.put(
        "/v1/support-cases/case-2", json={**case, "store_id": "nowhere"}, headers=auth("admin")
    )
    assert fields(response) == ["store_id"]
    assert await db.fetchval("SELECT count(*) FROM support_cases") == 1


# Deliveries -----------------------------------------------------------------------------
async def test_delivery_takes_the_customer_from_the_order_and_knows_delays(
    client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    await client.post(
        "/v1/purchases",
        json=order(channel="online", store_id=None, customer_id="c9"),
        headers=auth("integration"),
    )
    promised = now() - dt.timedelta(hours=5)
    delivery = {"order_id": "o-1", "promised_at": iso(promised)}
    created = await client.post("/v1/deliveries", json=delivery, headers=auth("integration"))
    assert created.status_code == 201, created.text
    assert created.json()["customer_id"] == "c9"
    assert created.json()["delayed"] is True  # promise passed, nothing delivered
    same = await client.post("/v1/deliveries", json=delivery, headers=auth("integration"))
    assert same.status_code == 200
    delivered = await client.post(
        "/v1/deliveries",
        json={**delivery, "delivered_at": iso(promised - dt.timedelta(hours=1))},
        headers=auth("integration"),
    )
    assert delivered.status_code == 200
    assert delivered.json()["delayed"] is False
    assert [r["action"] for r in await audit_rows(db, "delivery")] == ["create", "update"]

    unknown = await client.post(
        "/v1/deliveries",
        json={"order_id": "o-unknown", "promised_at": iso(promised)},
        headers=auth("integration"),
    )
    assert fields(unknown) == ["customer_id"]
    future = await client.post(
        "/v1/deliveries",
        json={**delivery, "delivered_at": iso(now() + dt.timedelta(hours=1))},
        headers=auth("integration"),
    )
    assert fields(future) == ["delivered_at"]


# The customer app -----------------------------------------------------------------------
async def test_me_profile_consents_and_quiet_hours(
    client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    me = auth("customer", sub="c1")
    fresh = await client.get("/v1/me", headers=me)
    assert fresh.status_code == 200
    assert fresh.json()["registered"] is False
    assert fresh.json()["consents"] == {"location": False, "marketing": False}
    assert await db.fetchval("SELECT count(*) FROM customers") == 0  # reading creates nothing

    given = await client.patch("/v1/me/consents", json={"marketing": True}, headers=me)
    assert given.status_code == 200, given.text
    assert given.json()["consents"] == {"location": False, "marketing": True}
    assert given.json()["registered"] is True
    quiet = await client.put(
        "/v1/me/quiet-hours",
        json={"start": "21:30", "end": "08:00", "timezone": "Europe/Zurich"},
        headers=me,
    )
    assert quiet.json()["quiet_hours"]["start"] == "21:30"
    bad = await client.put(
        "/v1/me/quiet-hours", json={"start": "21:30", "end": "08:00", "timezone": "X/Y"}, headers=me
    )
    assert fields(bad) == ["timezone"]
    cleared = await client.delete("/v1/me/quiet-hours", headers=me)
    assert cleared.status_code == 200
    assert cleared.json()["quiet_hours"] is None
    withdrawn = await client.patch("/v1/me/consents", json={"marketing": False}, headers=me)
    assert withdrawn.json()["consents"]["marketing"] is False

    rows = await audit_rows(db, "customer")
    assert [(r["action"], r["actor_role"], r["actor_sub"]) for r in rows] == [
        ("create", "customer", "c1"),
        ("update", "customer", "c1"),
        ("update", "customer", "c1"),
        ("update", "customer", "c1"),
    ]


async def test_devices_register_refresh_move_delete_and_never_leak_the_token(
    client: Client, auth: TokenFactory, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    alice, bob = auth("customer", sub="alice"), auth("customer", sub="bob")
    device = {"platform": "fcm", "token": TOKEN, "app_version": "1.0"}
    created = await client.post("/v1/me/devices", json=device, headers=alice)
    assert created.status_code == 201, created.text
    assert created.json()["token_masked"] == "fcm-…ZZZZ"
    device_id = created.json()["id"]

    refreshed = await client.post("/v1/me/devices", json=device, headers=alice)
    assert refreshed.status_code == 200
    assert refreshed.json()["id"] == device_id
    upgraded = await client.post(
        "/v1/me/devices", json={**device, "app_version": "1.1"}, headers=alice
    )
    assert upgraded.json()["app_version"] == "1.1"

    # The same token from Bob's account: the install changed hands, the device moves.
    moved = await client.post("/v1/me/devices", json=device, headers=bob)
    assert moved.status_code == 200
    assert moved.json()["id"] == device_id
    assert (await client.get("/v1/me/devices", headers=alice)).json() == {"items": []}
    listed = (await client.get("/v1/me/devices", headers=bob)).json()["items"]
    assert [d["id"] for d in listed] == [device_id]

    # Alice cannot delete what is now Bob's: 404, not 403.
    assert (await client.delete(f"/v1/me/devices/{device_id}", headers=alice)).status_code == 404
    # A malformed id matches no route (the path pattern is a uuid).
    assert (await client.delete("/v1/me/devices/not-a-uuid", headers=bob)).status_code == 404
    assert (await client.delete(f"/v1/me/devices/{device_id}", headers=bob)).status_code == 204
    assert await db.fetchval("SELECT count(*) FROM devices") == 0

    rows = await audit_rows(db, "device")
    assert [r["action"] for r in rows] == ["create", "update", "update", "delete"]
    assert rows[2]["before"]["customer_id"] == "alice"
    assert rows[2]["after"]["customer_id"] == "bob"
    dump = await db.fetchval("SELECT string_agg(to_jsonb(a)::text, ' ') FROM audit_log a")
    assert TOKEN not in dump
    assert TOKEN not in caplog.text
    assert TOKEN not in created.text + moved.text + str(listed)


async def test_device_validation(client: Client, auth: TokenFactory) -> None:
    me = auth("customer", sub="alice")
    response = await client.post(
        "/v1/me/devices", json={"platform": "pager", "token": TOKEN}, headers=me
    )
    assert fields(response) == ["platform"]
    response = await client.post(
        "/v1/me/devices", json={"platform": "fcm", "token": ""}, headers=me
    )
    assert fields(response) == ["token"]
    too_long = {"platform": "apns", "token": TOKEN, "app_version": "v" * 65}
    assert fields(await client.post("/v1/me/devices", json=too_long, headers=me)) == ["app_version"]


async def test_short_tokens_reveal_nothing(client: Client, auth: TokenFactory) -> None:
    response = await client.post(
        "/v1/me/devices",
        json={"platform": "webhook", "token": "short-secret"},
        headers=auth("customer", sub="alice"),
    )
    assert response.json()["token_masked"] == "…"
