"""A store purchase is a trigger: its relationship moments are answered with a thank-you.

End to end through HTTP: the till posts the order, the policy decides in the same
transaction, and the decision (and, for a send, the invite) is there to read.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import TokenFactory
from tests.factories import iso, order, store_body

Client = AsyncTestClient[Litestar]

NOON = dt.datetime(2026, 6, 10, 11, 0, tzinfo=dt.UTC)  # 12:00 in London: no quiet hours


async def _world(client: Client, auth: TokenFactory) -> None:
    client.app.state.clock = lambda: NOON  # the server's one clock, fixed for the test
    admin = auth("admin")
    store = store_body(opening_hours="24/7")
    assert (await client.put("/v1/stores/s1", json=store, headers=admin)).is_success
    thanks = {
        "name": "Thank you for coming back",
        "kind": "moment",
        "store_ids": ["s1"],
        "templates": {
            "en": {"title": "Thank you", "body": "Good to see you again at {store_name}"}
        },
        "default_locale": "en",
        "eligibility": {"moments": ["first_repeat_order"]},
    }
    assert (await client.put("/v1/campaigns/thanks", json=thanks, headers=admin)).is_success
    me = auth("customer", sub="c1")
    consents = {"location": False, "marketing": True}
    assert (await client.patch("/v1/me/consents", json=consents, headers=me)).is_success
    device = {"platform": "webhook", "token": "https://relay.example/push/c1"}
    assert (await client.post("/v1/me/devices", json=device, headers=me)).is_success


async def _decisions(db: asyncpg.Connection) -> list[Any]:
    return list(
        await db.fetch(
            "SELECT outcome, campaign_id, moment, reason_codes FROM decisions "
            "WHERE customer_id = 'c1' ORDER BY decided_at, created_at"
        )
    )


async def test_the_first_repeat_order_gets_a_thank_you_not_an_offer(
    client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    await _world(client, auth)
    integration = auth("integration")
    first = order(order_id="o1", occurred_at=iso(NOON - dt.timedelta(days=20)))
    assert (await client.post("/v1/purchases", json=first, headers=integration)).is_success
    # The first order is old news when it arrives: a stale trigger, nothing sent.
    [stale] = await _decisions(db)
    assert stale["outcome"] == "suppress"
    assert stale["reason_codes"][0] == "stale_event"

    second = order(order_id="o2", occurred_at=iso(NOON - dt.timedelta(minutes=1)))
    assert (await client.post("/v1/purchases", json=second, headers=integration)).is_success
    [thank_you] = [d for d in await _decisions(db) if d["outcome"] != "suppress"]
    assert thank_you["outcome"] == "send", thank_you
    assert thank_you["campaign_id"] == "thanks"
    assert thank_you["moment"] == "first_repeat_order"
    invite = await db.fetchrow("SELECT kind, title FROM invites WHERE customer_id = 'c1'")
    assert invite is not None
    assert invite["kind"] == "moment"
    assert invite["title"] == "Thank you"

    # The replay of the same order is idempotent: no second decision.
    again = await client.post("/v1/purchases", json=second, headers=integration)
    assert again.status_code == 200
    assert len(await _decisions(db)) == 2


async def test_an_online_order_is_not_a_store_trigger(
    client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    await _world(client, auth)
    online = order(
        order_id="o9",
        channel="online",
        store_id=None,
        occurred_at=iso(NOON - dt.timedelta(minutes=1)),
    )
    assert (await client.post("/v1/purchases", json=online, headers=auth("integration"))).is_success
    assert await _decisions(db) == []
