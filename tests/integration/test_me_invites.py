"""The customer app reads its own invites and reports opened / dismissed."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import TokenFactory
from tests.factories import event_body, event_world

Client = AsyncTestClient[Litestar]

NOON = dt.datetime(2025, 3, 14, 12, 30, tzinfo=dt.UTC)


@pytest.fixture
async def invited(client: Client, auth: TokenFactory, app: Litestar) -> str:
    """c1 walked into s1 at noon and was invited; returns the invite id."""
    await event_world(client, auth, app)
    app.state.clock = lambda: NOON
    response = await client.post(
        "/v1/events", json={"events": [event_body(at=NOON)]}, headers=auth("customer", sub="c1")
    )
    invite_id: str = response.json()["results"][0]["decisions"][0]["invite_id"]
    return invite_id


async def mark(db: asyncpg.Connection, invite_id: str, status: str, attempts: int = 1) -> None:
    await db.execute(
        "UPDATE invites SET status = $2, attempts = $3, sent_at = now() WHERE id = $1",
        uuid.UUID(invite_id),
        status,
        attempts,
    )


async def receipt(client: Client, auth: TokenFactory, invite_id: str, **body: Any) -> Any:
    return await client.post(
        f"/v1/me/invites/{invite_id}/receipts", json=body, headers=auth("customer", sub="c1")
    )


async def test_the_app_lists_its_invites_with_their_status(
    invited: str, client: Client, auth: TokenFactory
) -> None:
    response = await client.get("/v1/me/invites", headers=auth("customer", sub="c1"))
    assert response.status_code == 200, response.text
    [item] = response.json()["items"]
    assert item["id"] == invited
    assert item["status"] == "pending"
    assert item["store_id"] == "s1"
    assert item["title"] == "Try our new blend"
    assert response.json()["next_cursor"] is None


async def test_another_customer_sees_none_of_them(
    invited: str, client: Client, auth: TokenFactory
) -> None:
    response = await client.get("/v1/me/invites", headers=auth("customer", sub="c2"))
    assert response.json()["items"] == []
    other = await client.post(
        f"/v1/me/invites/{invited}/receipts",
        json={"status": "opened"},
        headers=auth("customer", sub="c2"),
    )
    assert other.status_code == 404


async def test_pages_newest_first_and_filters_by_status(
    invited: str, client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    decision = await db.fetchval(
        "SELECT decision_id FROM invites WHERE id = $1", uuid.UUID(invited)
    )
    for n in range(1, 5):  # four older invites, cloned from the first
        await db.execute(
            """INSERT INTO decisions (customer_id, decided_at, outcome, explanation,
                                      policy_version)
               SELECT customer_id, decided_at - $2 * interval '1 hour', outcome, explanation,
                      policy_version FROM decisions WHERE id = $1""",
            decision,
            n,
        )
        await db.execute(
            """INSERT INTO invites (decision_id, customer_id, store_id, kind, locale, title, body,
                                    status, not_before, send_by, created_at)
               SELECT (SELECT id FROM decisions ORDER BY decided_at LIMIT 1), customer_id,
                      store_id, kind, locale, title, body, $3, not_before, send_by,
                      created_at - $2 * interval '1 hour'
                 FROM invites WHERE id = $1""",
            uuid.UUID(invited),
            n,
            "expired" if n % 2 else "sent",
        )
    headers = auth("customer", sub="c1")
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/me/invites", params=params, headers=headers)).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5
    assert [i["created_at"] for i in seen] == sorted((i["created_at"] for i in seen), reverse=True)
    assert seen[0]["id"] == invited
    expired = await client.get("/v1/me/invites", params={"status": "expired"}, headers=headers)
    assert {i["status"] for i in expired.json()["items"]} == {"expired"}
    assert len(expired.json()["items"]) == 2
    bad = await client.get("/v1/me/invites", params={"cursor": "garbage!"}, headers=headers)
    assert bad.status_code == 422


async def test_opened_is_recorded_once(
    invited: str, client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    await mark(db, invited, "delivered")
    first = await receipt(client, auth, invited, status="opened")
    assert first.status_code == 200, first.text
    assert first.json() == {"invite_id": invited, "status": "opened", "applied": True}
    again = await receipt(client, auth, invited, status="opened")
    assert again.status_code == 200
    assert again.json()["applied"] is False
    row = await db.fetchrow(
        "SELECT status, opened_at FROM invites WHERE id = $1", uuid.UUID(invited)
    )
    assert row["status"] == "opened"
    assert row["opened_at"] == NOON
    sources = await db.fetch("SELECT source, applied FROM invite_receipts ORDER BY id")
    assert [(r["source"], r["applied"]) for r in sources] == [("app", True), ("app", False)]


async def test_a_dismissal_after_opening_is_a_conflict_kept_on_record(
    invited: str, client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    await mark(db, invited, "sent")
    assert (await receipt(client, auth, invited, status="opened")).status_code == 200
    refused = await receipt(client, auth, invited, status="dismissed")
    assert refused.status_code == 409
    assert refused.json()["type"] == "urn:kairos:problem:illegal-transition"
    applied = await db.fetch("SELECT status, applied FROM invite_receipts ORDER BY id")
    assert [(r["status"], r["applied"]) for r in applied] == [
        ("opened", True),
        ("dismissed", False),
    ]


async def test_an_invite_never_sent_cannot_be_opened(
    invited: str, client: Client, auth: TokenFactory
) -> None:
    refused = await receipt(client, auth, invited, status="opened")
    assert refused.status_code == 409


async def test_receipts_are_validated(invited: str, client: Client, auth: TokenFactory) -> None:
    for body in ({"status": "delivered"}, {"status": "opened", "occurred_at": "yesterday"}, {}):
        response = await receipt(client, auth, invited, **body)
        assert response.status_code == 422, body
    unknown = await receipt(client, auth, str(uuid.uuid4()), status="opened")
    assert unknown.status_code == 404
    not_an_id = await client.post(
        "/v1/me/invites/nope/receipts",
        json={"status": "opened"},
        headers=auth("customer", sub="c1"),
    )
    assert not_an_id.status_code in (400, 404, 422)
    assert (await client.get("/v1/me/invites", headers=auth("admin"))).status_code == 403
