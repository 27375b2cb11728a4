"""Data-subject requests: export everything, erase everything identifying, keep the accounts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import TokenFactory

Client = AsyncTestClient[Litestar]

SUBJECT = "cust-7f3a9e"
BYSTANDER = "cust-bystander"
TOKEN = "apns-SUBJECT-token-9c1d2e3f4a5b6c7d8e9f"
MASKED = "apns…8e9f"
SUMMARY = "three screws missing from the garden table"
EVENT_KEY = "evt-subject-0001"


def iso(value: dt.datetime) -> str:
    return value.isoformat()


NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


async def seed(client: Client, auth: TokenFactory, db: asyncpg.Connection, who: str) -> None:
    """A customer with a bit of everything, written the way production writes it."""
    integration, me = auth("integration"), auth("customer", sub=who)
    profile = {"locale": "de-CH", "segments": ["high_value"], "flags": {"vip": True}}
    assert (await client.put(f"/v1/customers/{who}", json=profile, headers=integration)).is_success
    consent = await client.patch("/v1/me/consents", json={"marketing": True}, headers=me)
    assert consent.is_success
    token = TOKEN if who == SUBJECT else f"fcm-{who}-token-000000000000"
    device = await client.post(
        "/v1/me/devices", json={"platform": "apns", "token": token}, headers=me
    )
    assert device.status_code == 201
    purchase = {
        "order_id": f"o-{who[-4:]}",
        "customer_id": who,
        "channel": "store",
        "store_id": "s1",
        "occurred_at": iso(NOW - dt.timedelta(days=3)),
        "currency": "CHF",
        "total": "42.00",
        "items": [{"sku": "TBL-1", "category": "garden", "quantity": 1, "unit_price": "42"}],
    }
    assert (await client.post("/v1/purchases", json=purchase, headers=integration)).is_success
    delivery = {"order_id": f"o-{who[-4:]}", "promised_at": iso(NOW - dt.timedelta(days=1))}
    assert (await client.post("/v1/deliveries", json=delivery, headers=integration)).is_success
    case = {
        "customer_id": who,
        "kind": "complaint",
        "opened_at": iso(NOW - dt.timedelta(hours=5)),
        "summary": SUMMARY if who == SUBJECT else "late",
    }
    response = await client.put(
        f"/v1/support-cases/case-{who[-4:]}", json=case, headers=integration
    )
    assert response.status_code == 201
    # What the event pipeline writes (owned by other modules): inserted directly.
    event_id = await db.fetchval(
        """INSERT INTO events (customer_id, event_id, type, occurred_at, lat, lng, store_id,
                               geofence_id, status, result)
           VALUES ($1, $2, 'enter', $3, 47.3701, 8.5402, 's1', 'g1', 'accepted', $4)
           RETURNING id""",
        who,
        EVENT_KEY if who == SUBJECT else f"evt-{who}",
        NOW - dt.timedelta(minutes=5),
        {"customer": who},
    )
    await db.execute(
        """INSERT INTO presence (customer_id, geofence_id, state, entered_at, last_seen_at)
           VALUES ($1, 'g1', 'inside', $2, $2)""",
        who,
        NOW - dt.timedelta(minutes=5),
    )
    decision_id = await db.fetchval(
        """INSERT INTO decisions (customer_id, event_id, store_id, decided_at, outcome, reasons,
                                  explanation, policy_version)
           VALUES ($1, $2, 's1', $3, 'send', $4, $5, 'test') RETURNING id""",
        who,
        event_id,
        NOW - dt.timedelta(minutes=5),
        [{"code": "moment", "data": {"customer_id": who}}],
        f"thank-you for {who}",
    )
    await db.execute(
        """INSERT INTO invites (decision_id, customer_id, device_id, store_id, kind, locale,
                                title, body, payload, send_by)
           VALUES ($1, $2, $3, 's1', 'moment', 'de', 'Danke', $4, $5, now() + interval '1h')""",
        decision_id,
        who,
        device.json()["id"],
        f"Danke, {who}",
        {"to": who},
    )


@pytest.fixture
async def world(client: Client, auth: TokenFactory, db: asyncpg.Connection) -> None:
    await db.execute(
        """INSERT INTO stores (id, name, lat, lng, timezone)
           VALUES ('s1', 'Bahnhofstrasse', 47.37, 8.54, 'Europe/Zurich')"""
    )
    await db.execute(
        """INSERT INTO geofences (id, store_id, center_lat, center_lng, radius_m)
           VALUES ('g1', 's1', 47.37, 8.54, 50)"""
    )
    await seed(client, auth, db, SUBJECT)
    await seed(client, auth, db, BYSTANDER)


async def find_everywhere(db: asyncpg.Connection, needle: str) -> list[str]:
    """``table.column`` of every text-like value in the database containing ``needle``."""
    columns = await db.fetch(
        """SELECT c.table_name, c.column_name
             FROM information_schema.columns c
             JOIN information_schema.tables t
               ON t.table_schema = c.table_schema AND t.table_name = c.table_name
            WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
              AND (c.data_type IN ('text', 'character varying', 'jsonb', 'json', 'ARRAY')
                   OR c.domain_name IS NOT NULL)"""
    )
    hits = []
    for row in columns:
        table, column = row["table_name"], row["column_name"]
        query = f'SELECT count(*) FROM "{table}" WHERE strpos("{column}"::text, $1) > 0'  # noqa: S608
        if await db.fetchval(query, needle):
            hits.append(f"{table}.{column}")
    return hits


async def test_export_returns_everything_with_tokens_masked(
    world: None, client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    response = await client.get(f"/v1/customers/{SUBJECT}/export", headers=auth("admin"))
    assert response.status_code == 200, response.text
    export: dict[str, Any] = response.json()
    assert export["customer"]["id"] == SUBJECT
    assert export["customer"]["consents"]["marketing"] is True
    assert [d["token_masked"] for d in export["devices"]] == [MASKED]
    assert TOKEN not in response.text
    assert [p["order_id"] for p in export["purchases"]] == [f"o-{SUBJECT[-4:]}"]
    assert [d["order_id"] for d in export["deliveries"]] == [f"o-{SUBJECT[-4:]}"]
    assert [c["summary"] for c in export["support_cases"]] == [SUMMARY]
    assert [e["event_id"] for e in export["events"]] == [EVENT_KEY]
    assert [p["geofence_id"] for p in export["presence"]] == ["g1"]
    # The store purchase was a trigger too (its decision), then the visit's decision.
    assert len(export["decisions"]) == 2
    assert len(export["invites"]) == 1
    audited = {(a["resource_type"], a["action"]) for a in export["audit"]}
    assert {
        ("customer", "create"),
        ("customer", "update"),
        ("device", "create"),
        ("purchase", "create"),
        ("delivery", "create"),
        ("support_case", "create"),
    } <= audited
    assert BYSTANDER not in response.text
    logged = await db.fetch(
        "SELECT actor_sub FROM audit_log WHERE action = 'export' AND resource_id = $1", SUBJECT
    )
    assert [r["actor_sub"] for r in logged] == ["test-admin"]


async def test_erasure_leaves_nothing_identifying(
    world: None, client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    await client.get(f"/v1/customers/{SUBJECT}/export", headers=auth("admin"))
    assert await find_everywhere(db, SUBJECT)  # the search does find them before

    response = await client.delete(f"/v1/customers/{SUBJECT}", headers=auth("admin"))
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["removed"] == {
        "invites": 1,
        "decisions": 2,
        "presence": 1,
        "events": 1,
        "devices": 1,
        "support_cases": 1,
        "customers": 1,
    }
    assert report["purchases_delinked"] == 1
    assert report["deliveries_delinked"] == 1
    assert report["audit_entries_deidentified"] >= 7

    for needle in (SUBJECT, TOKEN, MASKED, SUMMARY, EVENT_KEY, "cust-7f3a"):
        assert await find_everywhere(db, needle) == [], needle

    # The accounts keep the order, without its customer.
    kept = await db.fetchrow("SELECT * FROM purchases WHERE order_id = $1", f"o-{SUBJECT[-4:]}")
    assert kept is not None
    assert kept["customer_id"] is None
    assert str(kept["total"]) == "42.00"

    # The audit trail keeps its shape: what happened when, by which staff actor.
    erased = await db.fetch(
        "SELECT * FROM audit_log WHERE resource_id = $1 ORDER BY id", report["reference"]
    )
    assert erased[-1]["action"] == "erase"
    assert erased[-1]["actor_sub"] == "test-admin"
    assert erased[-1]["after"]["purchases_delinked"] == 1
    assert all(r["before"] is None and r["after"] is None for r in erased[:-1])
    own_changes = await db.fetch(
        "SELECT * FROM audit_log WHERE actor_role = 'customer' AND actor_sub = $1",
        report["reference"],
    )
    assert own_changes  # the consent and device changes the customer made, de-identified

    # The bystander is untouched.
    assert await db.fetchval("SELECT count(*) FROM events WHERE customer_id = $1", BYSTANDER) == 1
    bystander = await client.get(f"/v1/customers/{BYSTANDER}/export", headers=auth("admin"))
    assert bystander.status_code == 200
    assert len(bystander.json()["audit"]) == 6

    again = await client.delete(f"/v1/customers/{SUBJECT}", headers=auth("admin"))
    assert again.status_code == 404
    gone = await client.get(f"/v1/customers/{SUBJECT}/export", headers=auth("admin"))
    assert gone.status_code == 404


async def test_replayed_purchase_after_erasure_does_not_bring_the_customer_back(
    world: None, client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    export = await client.get(f"/v1/customers/{SUBJECT}/export", headers=auth("admin"))
    original = export.json()["purchases"][0]
    assert (await client.delete(f"/v1/customers/{SUBJECT}", headers=auth("admin"))).is_success
    replay = {
        key: original[key]
        for key in ("order_id", "channel", "store_id", "occurred_at", "currency", "total")
    }
    replay |= {"customer_id": SUBJECT, "items": original["items"]}
    response = await client.post("/v1/purchases", json=replay, headers=auth("integration"))
    assert response.status_code == 200
    assert response.json()["customer_id"] is None
    assert await db.fetchval("SELECT count(*) FROM customers WHERE id = $1", SUBJECT) == 0


async def test_erasure_sticks_whatever_is_replayed_or_sent_later(
    world: None, client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    """An erased customer never comes back: replayed and new facts are kept de-linked, and
    profile or device writes for the id answer 410."""
    integration = auth("integration")
    assert (await client.delete(f"/v1/customers/{SUBJECT}", headers=auth("admin"))).is_success
    delivery = {
        "order_id": f"o-{SUBJECT[-4:]}",
        "customer_id": SUBJECT,
        "promised_at": iso(NOW - dt.timedelta(days=1)),
    }
    case = {
        "customer_id": SUBJECT,
        "kind": "complaint",
        "opened_at": iso(NOW - dt.timedelta(hours=5)),
        "summary": SUMMARY,
    }
    new_order = {
        "order_id": "o-after-erasure",
        "customer_id": SUBJECT,
        "channel": "online",
        "occurred_at": iso(NOW - dt.timedelta(hours=1)),
        "currency": "CHF",
        "total": "9.90",
    }
    for _ in range(2):  # the first answer, then its replay: both leave no trace of the id
        replayed = await client.post("/v1/deliveries", json=delivery, headers=integration)
        assert replayed.status_code == 200, replayed.text
        assert replayed.json()["customer_id"] is None
        put_case = await client.put(
            f"/v1/support-cases/case-{SUBJECT[-4:]}", json=case, headers=integration
        )
        assert put_case.status_code in (200, 201), put_case.text
        assert put_case.json()["customer_id"] is None
        assert put_case.json()["summary"] is None
        order = await client.post("/v1/purchases", json=new_order, headers=integration)
        assert order.status_code in (200, 201), order.text
        assert order.json()["customer_id"] is None

    profile = await client.put(
        f"/v1/customers/{SUBJECT}", json={"locale": "en"}, headers=integration
    )
    assert profile.status_code == 410
    assert profile.json()["type"] == "urn:kairos:problem:customer-erased"
    me = auth("customer", sub=SUBJECT)
    device = await client.post(
        "/v1/me/devices", json={"platform": "fcm", "token": "x" * 40}, headers=me
    )
    assert device.status_code == 410
    consent = await client.patch("/v1/me/consents", json={"marketing": True}, headers=me)
    assert consent.status_code == 410

    assert await db.fetchval("SELECT count(*) FROM customers WHERE id = $1", SUBJECT) == 0
    for needle in (SUBJECT, SUMMARY):
        assert await find_everywhere(db, needle) == [], needle
    # The tombstone holds a digest, never the id.
    assert await db.fetchval("SELECT count(*) FROM erased_customers") == 1


async def test_only_admins(world: None, client: Client, auth: TokenFactory) -> None:
    for role in ("integration", "manager", "customer"):
        headers = auth(role, sub=SUBJECT, stores=["s1"])
        assert (
            await client.get(f"/v1/customers/{SUBJECT}/export", headers=headers)
        ).status_code == 403
        assert (await client.delete(f"/v1/customers/{SUBJECT}", headers=headers)).status_code == 403
